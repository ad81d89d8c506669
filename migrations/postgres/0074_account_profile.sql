-- The seeds' account fields (API.md §13): its kind, a description, its web domain, where abuse
-- reports go, and its business profile (a JSON object of optional strings).
alter table accounts add column type text not null default 'standard';
alter table accounts add column description text;
alter table accounts add column domain text;
alter table accounts add column abuse_contact_email text;
alter table accounts add column profile text not null default '{}';
