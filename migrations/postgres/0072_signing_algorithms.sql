-- Signing keys of three algorithms (API.md §14): RS256 keys keep their modulus and exponent,
-- ES256 (P-256) keys have the point's x and y, EdDSA (Ed25519) keys x alone, all base64url
-- as published. Existing rows are RS256.
alter table signing_keys drop constraint signing_keys_algorithm_check;
alter table signing_keys add constraint signing_keys_algorithm_check
    check (algorithm in ('RS256', 'ES256', 'EdDSA'));
alter table signing_keys alter column modulus drop not null;
alter table signing_keys alter column exponent drop not null;
alter table signing_keys add column x text;
alter table signing_keys add column y text;
alter table signing_keys add constraint signing_keys_public_key_check check (
    (algorithm = 'RS256' and modulus is not null and exponent is not null)
    or (algorithm = 'ES256' and x is not null and y is not null)
    or (algorithm = 'EdDSA' and x is not null)
);

-- The algorithm of a client's access and ID tokens (API.md §14); null: the server's.
alter table clients add column access_token_signing_alg text
    check (access_token_signing_alg in ('RS256', 'ES256', 'EdDSA'));
alter table clients add column id_token_signed_response_alg text
    check (id_token_signed_response_alg in ('RS256', 'ES256', 'EdDSA'));
