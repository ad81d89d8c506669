-- Second factors (API.md §10). A TOTP factor keeps its secret sealed under the
-- key-encryption key and the last step it accepted, so that no code works twice. Recovery
-- codes are stored only as hashes; `used_at` makes each single use. A user's deletion takes
-- both with it.
create table factors (
    id text primary key,
    user_id text not null references users (id) on delete cascade,
    type text not null,
    name text not null,
    status text not null,
    secret_sealed text,
    last_step bigint,
    created_at bigint not null,
    last_used_at bigint
);
create index factors_user_id_idx on factors (user_id);

create table recovery_codes (
    user_id text not null references users (id) on delete cascade,
    code_hash text not null,
    created_at bigint not null,
    used_at bigint,
    primary key (user_id, code_hash)
);
