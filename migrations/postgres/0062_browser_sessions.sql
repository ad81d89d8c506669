-- The browsers a user is signed in on (API.md §10 "Sessions"), one row per login on the
-- hosted pages. The tower-sessions record (`sessions`) holds what the browser's cookie
-- unlocks; this row is what the user sees and ends. A row ends when its record is deleted
-- (sign-out, a new login in the same browser, a new password) or when the user ends it.
create table browser_sessions (
    id text primary key,
    user_id text not null references users (id) on delete cascade,
    created_at bigint not null,
    last_seen_at bigint not null,
    ip text,
    user_agent text,  -- at most 512 characters
    amr text not null,  -- RFC 8176 method references, space-separated
    ended_at bigint
);
create index browser_sessions_user_id_idx on browser_sessions (user_id, created_at);

-- Which browser session a tower-sessions record belongs to (copied from its data on save):
-- ending a session deletes its record by this column, and a record whose session has
-- ended loads as no session.
alter table sessions add column browser_session_id text;
create index sessions_browser_session_id_idx on sessions (browser_session_id);

-- The browser session a code was issued in, carried to its grant: ending the session
-- revokes the refresh-token families that came through it.
alter table authorization_codes add column session_id text;
alter table grants add column session_id text;
create index grants_session_id_idx on grants (session_id);
