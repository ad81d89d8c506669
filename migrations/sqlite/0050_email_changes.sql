-- A signed-in user's request to move to a new email address (API.md §8, `POST /v1/me/email`):
-- the address changes only when the link mailed to the new address is followed. Only the
-- link's SHA-256 is stored; `consumed_at` makes it single use. The user's deletion takes
-- its requests with it.
create table email_changes (
    token_hash text primary key,
    user_id text not null references users (id) on delete cascade,
    new_email text not null,
    created_at bigint not null,
    expires_at bigint not null,
    consumed_at bigint
);
create index email_changes_user_id_idx on email_changes (user_id);
