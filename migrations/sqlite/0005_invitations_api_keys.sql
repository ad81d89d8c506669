-- Invitations, machine credentials and single-use links sent to users.
create table invitations (
    id text primary key,
    account_id text not null references accounts (id) on delete cascade,
    email text not null,
    role text not null check (role in ('owner', 'admin', 'member', 'viewer')),
    token_hash text not null unique,
    status text not null default 'pending'
        check (status in ('pending', 'accepted', 'declined', 'revoked')),
    invited_by text references users (id) on delete set null,
    expires_at bigint not null,
    created_at bigint not null,
    updated_at bigint not null
);
create index invitations_account_id_idx on invitations (account_id, created_at, id);
create index invitations_email_idx on invitations (lower(email));

create table api_keys (
    id text primary key,
    account_id text not null references accounts (id) on delete cascade,
    name text not null,
    role text not null check (role in ('owner', 'admin', 'member', 'viewer')),
    token_hash text not null unique,  -- every authenticated call looks the key up by this
    created_by text,
    expires_at bigint,
    last_used_at bigint,
    revoked_at bigint,
    created_at bigint not null,
    updated_at bigint not null
);
create index api_keys_account_id_idx on api_keys (account_id, created_at, id);

create table user_tokens (
    token_hash text primary key,
    user_id text not null references users (id) on delete cascade,
    purpose text not null check (purpose in ('password_reset', 'email_verification', 'set_password')),
    created_at bigint not null,
    expires_at bigint not null,
    consumed_at bigint
);
create index user_tokens_user_id_idx on user_tokens (user_id);
