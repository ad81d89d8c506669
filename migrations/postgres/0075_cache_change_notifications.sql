-- Every instance caches more than token requests read (src/store/cache.rs): an account as
-- `/v1` shows it lists its verified domains, and an API key's authentication is kept by its
-- hash. A domain verified or deleted, and a key revoked, rolled or deleted, tell every
-- instance to forget it all, as the triggers of migration 0021 do. A key's use
-- (`last_used_at`) changes nothing cached and fires nothing.
create trigger domains_changed after update or delete on domains
    for each statement execute function notify_access_changed();

create trigger api_keys_changed after update of token_hash, revoked_at, expires_at, role or delete
    on api_keys
    for each statement execute function notify_access_changed();
