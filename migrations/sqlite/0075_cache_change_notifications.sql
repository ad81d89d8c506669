-- PostgreSQL only: its instances hear of a domain's verification or deletion and of an API
-- key's revocation through triggers. SQLite has one process, whose own commits forget its
-- cache.
select 1;
