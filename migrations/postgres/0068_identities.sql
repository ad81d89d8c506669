-- Users' identities at other OpenID providers (API.md §12): an upstream user, named by its
-- issuer and subject, signs in as the Tessera user it is linked to.
create table identities (
    id text primary key,
    user_id text not null references users (id) on delete cascade,
    -- The operator provider's id (`[[identity_providers]]`) or the SSO connection's id that
    -- linked it.
    provider text not null,
    issuer text not null,
    subject text not null,
    -- What the provider said last, shown to the user; never used to find the user again.
    email text,
    created_at bigint not null,
    last_used_at bigint
);
-- One upstream user is linked to one Tessera user.
create unique index identities_issuer_subject_idx on identities (issuer, subject);
create index identities_user_id_idx on identities (user_id, created_at, id);
