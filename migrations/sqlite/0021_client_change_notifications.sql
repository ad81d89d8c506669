-- PostgreSQL only: triggers that notify other instances of client and account changes
-- (src/store/client_cache.rs). One SQLite file has one server process; the instance that
-- makes a change forgets its cached clients itself.
select 1;
