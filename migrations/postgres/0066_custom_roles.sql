-- Custom roles (API.md §11): defined on one account, usable there and in its descendants.
-- Members, invitations and API keys hold any role by id, so the four-value checks go; the
-- use cases check that a role exists where it is granted.
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

alter table memberships drop constraint memberships_role_check;
alter table invitations drop constraint invitations_role_check;
alter table api_keys drop constraint api_keys_role_check;

-- A role's permissions are part of every cached standing (src/store/cache.rs).
create trigger roles_changed after update or delete on roles
    for each statement execute function notify_access_changed();
