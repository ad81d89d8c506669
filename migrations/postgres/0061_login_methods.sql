-- How the user signed in (RFC 8176 `amr`, space-separated): carried from the session to the
-- authorization code, and from the code to its grant, so that every token of the family
-- (refreshed ones too) says it. Rows from before say nothing.
alter table authorization_codes add column amr text;
alter table grants add column amr text;
