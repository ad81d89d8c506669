-- PostgreSQL only: its instances hear of a domain's verification or deletion through a
-- trigger. SQLite has one process, whose own commits forget its cache.
select 1;
