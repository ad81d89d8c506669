-- Refresh grace (API.md §5): only the family's latest spent token may be presented again, and
-- the pair its rotation produced is then revoked, so a family never has two live chains.
-- The token whose rotation issued this one:
alter table refresh_tokens add column parent_hash text;
-- Set when a retry of the parent replaced this token before it was ever used:
alter table refresh_tokens add column revoked_at bigint;
create index refresh_tokens_parent_hash_idx on refresh_tokens (parent_hash);
-- Access tokens of the family issued before this time (unix ms, from the ULID `jti`) no
-- longer stand: how a retry revokes the access token of the pair it replaces.
alter table grants add column access_valid_after_ms bigint not null default 0;

-- Other instances forget the token answers they hold in memory (see 0021).
create trigger grants_access_cut after update of access_valid_after_ms on grants
    for each statement execute function notify_access_changed();
