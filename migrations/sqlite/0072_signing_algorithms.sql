-- Signing keys of three algorithms (API.md §14): RS256 keys keep their modulus and exponent,
-- ES256 (P-256) keys have the point's x and y, EdDSA (Ed25519) keys x alone, all base64url
-- as published. SQLite cannot change a check constraint, so the table is rebuilt; existing
-- rows are RS256.
create table signing_keys_new (
    id text primary key,  -- the JWK `kid`: RFC 7638 thumbprint of the public key
    algorithm text not null check (algorithm in ('RS256', 'ES256', 'EdDSA')),
    modulus text,
    exponent text,
    x text,
    y text,
    -- PKCS#8 private key sealed with AES-256-GCM under the key-encryption key; the kid is the AAD.
    private_key_encrypted text not null,
    created_at bigint not null,
    -- null while the key signs; after that it stays published until every token it signed expired.
    retired_at bigint,
    check (
        (algorithm = 'RS256' and modulus is not null and exponent is not null)
        or (algorithm = 'ES256' and x is not null and y is not null)
        or (algorithm = 'EdDSA' and x is not null)
    )
);
insert into signing_keys_new (id, algorithm, modulus, exponent, private_key_encrypted,
    created_at, retired_at)
    select id, algorithm, modulus, exponent, private_key_encrypted, created_at, retired_at
    from signing_keys;
drop table signing_keys;
alter table signing_keys_new rename to signing_keys;
create index signing_keys_created_at_idx on signing_keys (created_at);

-- The algorithm of a client's access and ID tokens (API.md §14); null: the server's.
alter table clients add column access_token_signing_alg text
    check (access_token_signing_alg in ('RS256', 'ES256', 'EdDSA'));
alter table clients add column id_token_signed_response_alg text
    check (id_token_signed_response_alg in ('RS256', 'ES256', 'EdDSA'));
