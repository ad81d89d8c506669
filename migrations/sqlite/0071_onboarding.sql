-- An account's onboarding checklist (API.md §13): the steps the application sets (a JSON
-- object of booleans; the built-in steps are computed when read, never stored) and when every
-- step was first true, kept once set.
create table onboarding (
    account_id text primary key references accounts (id) on delete cascade,
    steps text not null default '{}',
    completed_at bigint,
    updated_at bigint not null
);
