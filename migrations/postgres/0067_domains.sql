-- Accounts' email domains (API.md §12): claimed, then verified by a DNS TXT record holding
-- the claim's challenge. Several accounts may claim a name; one at a time verifies it.
create table domains (
    id text primary key,
    account_id text not null references accounts (id) on delete cascade,
    -- Lower case, IDNA form.
    domain text not null,
    challenge text not null,
    verified_at bigint,
    created_at bigint not null,
    updated_at bigint not null
);
create index domains_account_id_idx on domains (account_id, created_at, id);
-- An account claims a name once.
create unique index domains_account_domain_idx on domains (account_id, domain);
-- One account at a time holds a verified name: the race of two verifications ends here.
create unique index domains_verified_idx on domains (domain) where verified_at is not null;

-- `settings.domain_auto_join`: 'off', or the role a user who verifies an email address on
-- one of the account's verified domains joins with.
alter table accounts add column domain_auto_join text not null default 'off';
