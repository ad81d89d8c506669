-- Whether the authorize endpoint asks the user to pick an account for this client (API.md
-- §11): 'none' (default), 'optional', or 'required' (the picker unless `account_id` is given).
alter table clients add column account_selection text not null default 'none'
    check (account_selection in ('none', 'optional', 'required'));
