-- An account's policy that its account-scoped tokens come only from a login with a second
-- factor (API.md §10 `settings.require_mfa`); it applies to the account's descendants too.
alter table accounts add column require_mfa bigint not null default 0 check (require_mfa in (0, 1));
