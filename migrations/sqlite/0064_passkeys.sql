-- Passkeys (API.md §10) are factors too: `credential` is the webauthn-rs passkey (its public
-- key, algorithm and signature counter) as JSON, `credential_id` its WebAuthn credential id
-- (base64url), unique across all users: one authenticator credential belongs to one user.
alter table factors add column credential text;
alter table factors add column credential_id text;
create unique index factors_credential_id_idx on factors (credential_id);

-- A passkey ceremony between its two requests (options, then the browser's answer), so that
-- any instance can finish what another began. `state` holds the challenge; taking a row
-- deletes it, so each challenge is answered at most once. Enrolment rows are keyed by user
-- (one at a time), sign-in rows by a secret kept in the browser's login session.
create table passkey_ceremonies (
    id text primary key,
    user_id text references users (id) on delete cascade,
    purpose text not null,
    state text not null,
    expires_at bigint not null
);
create index passkey_ceremonies_expires_at_idx on passkey_ceremonies (expires_at);
