-- Token signing keys, shared by every instance that uses this database.
create table signing_keys (
    id text primary key,  -- the JWK `kid`: RFC 7638 thumbprint of the public key
    algorithm text not null check (algorithm = 'RS256'),
    modulus text not null,  -- base64url, as published in the JWKS
    exponent text not null,
    -- PKCS#8 private key sealed with AES-256-GCM under the key-encryption key; the kid is the AAD.
    private_key_encrypted text not null,
    created_at bigint not null,
    -- null while the key signs; after that it stays published until every token it signed expired.
    retired_at bigint
);
create index signing_keys_created_at_idx on signing_keys (created_at);
