-- Browser sessions and brute-force counters, shared by every instance.
create table sessions (
    id text primary key,
    data text not null,
    expires_at bigint not null
);
create index sessions_expires_at_idx on sessions (expires_at);

create table rate_limits (
    key text primary key,  -- e.g. login-email:<sha256>, login-ip:<ip>
    window_started_at bigint not null,
    count bigint not null
);
