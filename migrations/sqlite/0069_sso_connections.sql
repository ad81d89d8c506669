-- Accounts' SSO connections (API.md §12): an upstream OpenID Connect provider that signs in
-- the people of some of the account's verified domains. The client secret is sealed under
-- the key-encryption key, bound to the connection's id.
create table sso_connections (
    id text primary key,
    account_id text not null references accounts (id) on delete cascade,
    name text not null,
    -- No trailing `/`: compared byte for byte with the upstream's `iss`.
    issuer text not null,
    client_id text not null,
    client_secret_sealed text not null,
    -- A role id, built-in or custom; checked grantable by whoever set it.
    default_role text not null,
    jit integer not null default 0,
    enforce integer not null default 0,
    created_at bigint not null,
    updated_at bigint not null
);
create index sso_connections_account_id_idx on sso_connections (account_id, created_at, id);

-- The domains a connection signs in (verified by its account when set). A domain belongs to
-- one connection at most: routing an email address to its provider is one index probe.
create table sso_connection_domains (
    connection_id text not null references sso_connections (id) on delete cascade,
    -- Lower case, IDNA form, as in `domains`.
    domain text not null,
    primary key (connection_id, domain)
);
create unique index sso_connection_domains_domain_idx on sso_connection_domains (domain);
