-- A first-party client skips the consent page (API.md §4); only the operator CLI or a
-- superadmin sets it, so clients that existed before stay third-party until one does.
alter table clients add column first_party bigint not null default 0 check (first_party in (0, 1));
-- Audiences (besides the client's own id) that token exchange may put in `aud`: JSON array.
alter table clients add column allowed_audiences text not null default '[]';
