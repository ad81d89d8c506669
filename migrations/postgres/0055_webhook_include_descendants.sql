-- A webhook may also receive the events of every descendant account (API.md §8); webhooks
-- that existed before receive their own account's events only, as they did.
alter table webhooks add column include_descendants bigint not null default 0
    check (include_descendants in (0, 1));
