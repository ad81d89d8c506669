-- Custom roles (API.md §11): defined on one account, usable there and in its descendants.
-- Members, invitations and API keys hold any role by id, so the four-value checks go; the
-- use cases check that a role exists where it is granted. SQLite cannot drop a check, so the
-- three tables are rebuilt (nothing references them).
create table roles (
    account_id text not null references accounts (id) on delete cascade,
    id text not null,
    name text not null,
    description text,
    -- Permission ids separated by spaces.
    permissions text not null,
    created_at bigint not null,
    updated_at bigint not null,
    primary key (account_id, id)
);
-- Resolving a held role looks it up by id along the holder's lineage.
create index roles_id_idx on roles (id);

create table memberships_new (
    account_id text not null references accounts (id) on delete cascade,
    user_id text not null references users (id) on delete cascade,
    role text not null,
    created_at bigint not null,
    updated_at bigint not null,
    primary key (account_id, user_id)
);
insert into memberships_new select account_id, user_id, role, created_at, updated_at from memberships;
drop table memberships;
alter table memberships_new rename to memberships;
create index memberships_user_id_idx on memberships (user_id);

create table invitations_new (
    id text primary key,
    account_id text not null references accounts (id) on delete cascade,
    email text not null,
    role text not null,
    token_hash text not null unique,
    status text not null default 'pending'
        check (status in ('pending', 'accepted', 'declined', 'revoked')),
    invited_by text references users (id) on delete set null,
    expires_at bigint not null,
    created_at bigint not null,
    updated_at bigint not null
);
insert into invitations_new
    select id, account_id, email, role, token_hash, status, invited_by, expires_at,
           created_at, updated_at
      from invitations;
drop table invitations;
alter table invitations_new rename to invitations;
create index invitations_account_id_idx on invitations (account_id, created_at, id);
create index invitations_email_idx on invitations (lower(email));
create unique index invitations_one_pending_idx
    on invitations (account_id, lower(email)) where status = 'pending';

create table api_keys_new (
    id text primary key,
    account_id text not null references accounts (id) on delete cascade,
    name text not null,
    role text not null,
    token_hash text not null unique,
    created_by text,
    expires_at bigint,
    last_used_at bigint,
    revoked_at bigint,
    created_at bigint not null,
    updated_at bigint not null
);
insert into api_keys_new
    select id, account_id, name, role, token_hash, created_by, expires_at, last_used_at,
           revoked_at, created_at, updated_at
      from api_keys;
drop table api_keys;
alter table api_keys_new rename to api_keys;
create index api_keys_account_id_idx on api_keys (account_id, created_at, id);
