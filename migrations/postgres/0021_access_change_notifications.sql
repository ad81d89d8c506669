-- Every instance holds in memory what token requests read (src/store/cache.rs): clients,
-- and whether tokens still stand. A change to a client, an account, a membership, or a
-- revocation tells every instance to forget it all: the notification goes out when the
-- changing transaction commits. Refresh rotation only extends `grants.expires_at` and
-- fires nothing.
create function notify_access_changed() returns trigger language plpgsql as $$
begin
    perform pg_notify('tessera_access_changed', '');
    return null;
end;
$$;

create trigger clients_changed after update or delete on clients
    for each statement execute function notify_access_changed();

create trigger accounts_changed after update or delete on accounts
    for each statement execute function notify_access_changed();

create trigger memberships_changed after insert or update or delete on memberships
    for each statement execute function notify_access_changed();

create trigger tokens_revoked after insert on revoked_tokens
    for each statement execute function notify_access_changed();

create trigger grants_revoked after update of revoked_at on grants
    for each statement execute function notify_access_changed();
