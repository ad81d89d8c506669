-- OAuth clients, each registered under (and owned by) one account.
create table clients (
    id text primary key,  -- the client_id
    account_id text not null references accounts (id) on delete cascade,
    name text not null,
    secret_hash text,  -- SHA-256 of the server-generated secret; null for public clients
    token_endpoint_auth_method text not null
        check (token_endpoint_auth_method in ('client_secret_basic', 'client_secret_post', 'none')),
    redirect_uris text not null default '[]',  -- JSON arrays of strings
    post_logout_redirect_uris text not null default '[]',
    allowed_origins text not null default '[]',
    grant_types text not null default '[]',
    scopes text not null default '[]',
    access_token_ttl_seconds bigint not null,
    refresh_token_ttl_seconds bigint not null,
    refresh_reuse_grace_seconds bigint not null default 0
        check (refresh_reuse_grace_seconds between 0 and 60),
    -- Registered through /oauth2/register (RFC 7591): users see a consent page.
    self_registered bigint not null default 0 check (self_registered in (0, 1)),
    registration_access_token_hash text,  -- RFC 7592 management token, hashed
    created_at bigint not null,
    updated_at bigint not null
);
create index clients_account_id_idx on clients (account_id, created_at, id);
