-- What a user granted a client: codes, refresh-token families and consent.
create table grants (
    id text primary key,  -- one refresh-token family; access tokens carry it to be revocable
    client_id text not null references clients (id) on delete cascade,
    user_id text references users (id) on delete cascade,
    account_id text references accounts (id) on delete cascade,  -- bound for the family's life
    scope text not null,
    auth_time bigint,
    created_at bigint not null,
    expires_at bigint not null,
    revoked_at bigint
);
create index grants_client_id_idx on grants (client_id);
create index grants_user_id_idx on grants (user_id);
create index grants_account_id_idx on grants (account_id);

create table authorization_codes (
    code_hash text primary key,  -- SHA-256 of the code
    client_id text not null references clients (id) on delete cascade,
    user_id text not null references users (id) on delete cascade,
    account_id text references accounts (id) on delete cascade,
    redirect_uri text not null,
    scope text not null,
    nonce text,
    code_challenge text,  -- S256 only
    auth_time bigint not null,
    created_at bigint not null,
    expires_at bigint not null,
    -- Set by the single UPDATE that redeems the code; a second redemption finds it set.
    consumed_at bigint,
    grant_id text references grants (id) on delete set null  -- revoked when the code is replayed
);
create index authorization_codes_expires_at_idx on authorization_codes (expires_at);

create table refresh_tokens (
    token_hash text primary key,  -- SHA-256 of the token
    grant_id text not null references grants (id) on delete cascade,
    created_at bigint not null,
    expires_at bigint not null,
    used_at bigint  -- rotated away; presenting it again is reuse
);
create index refresh_tokens_grant_id_idx on refresh_tokens (grant_id);

-- Access tokens revoked one by one (RFC 7009), kept until they would have expired.
create table revoked_tokens (
    jti text primary key,
    expires_at bigint not null
);
create index revoked_tokens_expires_at_idx on revoked_tokens (expires_at);

create table consents (
    user_id text not null references users (id) on delete cascade,
    client_id text not null references clients (id) on delete cascade,
    scope text not null,  -- space-separated, sorted
    created_at bigint not null,
    primary key (user_id, client_id, scope)
);
