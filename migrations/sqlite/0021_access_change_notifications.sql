-- PostgreSQL only: triggers that tell other instances of changes to clients, accounts,
-- memberships and revocations (src/store/cache.rs). One SQLite file has one server
-- process; the instance that makes a change forgets what it held itself.
select 1;
