-- An account as `/v1` shows it lists its verified domains, and every instance caches that
-- view beside what token requests read (src/store/cache.rs): a domain verified or deleted
-- tells every instance to forget it, as a change to the account itself does (migration 0021).
create trigger domains_changed after update or delete on domains
    for each statement execute function notify_access_changed();
