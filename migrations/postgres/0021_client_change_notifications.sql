-- Every instance holds clients in memory (src/store/client_cache.rs). A change to a client,
-- or to an account (its status is part of each of its clients), tells every instance to
-- forget them: the notification goes out when the changing transaction commits.
create function notify_clients_changed() returns trigger language plpgsql as $$
begin
    perform pg_notify('tessera_clients_changed', '');
    return null;
end;
$$;

create trigger clients_changed after update or delete on clients
    for each statement execute function notify_clients_changed();

create trigger accounts_changed after update or delete on accounts
    for each statement execute function notify_clients_changed();
