-- People, tenants and who belongs to which tenant with which role.
create table users (
    id text primary key,
    email text not null,
    name text,
    password_hash text,  -- argon2id PHC string; null until the user sets a password
    email_verified bigint not null default 0 check (email_verified in (0, 1)),
    superadmin bigint not null default 0 check (superadmin in (0, 1)),
    created_at bigint not null,
    updated_at bigint not null
);
-- Emails are unique case-insensitively; every lookup compares lower(email) and uses this index.
create unique index users_email_key on users (lower(email));
create index users_created_at_idx on users (created_at, id);

create table accounts (
    id text primary key,
    -- Deleting an account deletes its descendants; the API refuses unless ?cascade=true.
    parent_id text references accounts (id) on delete cascade,
    name text not null,
    status text not null default 'active' check (status in ('active', 'suspended')),
    avatar_url text,
    billing_email text,
    labels text not null default '{}',  -- JSON object of string values
    external_id text,
    created_at bigint not null,
    updated_at bigint not null
);
create index accounts_parent_id_idx on accounts (parent_id);
create index accounts_external_id_idx on accounts (external_id);
create index accounts_created_at_idx on accounts (created_at, id);

create table memberships (
    account_id text not null references accounts (id) on delete cascade,
    user_id text not null references users (id) on delete cascade,
    role text not null check (role in ('owner', 'admin', 'member', 'viewer')),
    created_at bigint not null,
    updated_at bigint not null,
    -- One membership per user and account; the token exchange looks it up by this key.
    primary key (account_id, user_id)
);
create index memberships_user_id_idx on memberships (user_id);
