-- Accounts' billing records (API.md §13): subscriptions, invoices and payments an application
-- keeps here. Amounts in minor units, times in unix seconds, `metadata` a JSON object of
-- strings. A record names another of its own account only (checked on write); deleting the
-- named record leaves the naming one without the reference.
create table subscriptions (
    id text primary key,
    account_id text not null references accounts (id) on delete cascade,
    plan text not null,
    status text not null,
    quantity bigint not null,
    current_period_start bigint,
    current_period_end bigint,
    cancel_at bigint,
    external_id text,
    external_customer_id text,
    metadata text not null,
    created_at bigint not null,
    updated_at bigint not null
);
create index subscriptions_account_id_idx on subscriptions (account_id, created_at, id);

create table invoices (
    id text primary key,
    account_id text not null references accounts (id) on delete cascade,
    number text,
    status text not null,
    currency text not null,
    amount_due bigint not null,
    amount_paid bigint not null,
    period_start bigint,
    period_end bigint,
    due_at bigint,
    external_id text,
    external_customer_id text,
    subscription_id text references subscriptions (id) on delete set null,
    metadata text not null,
    created_at bigint not null,
    updated_at bigint not null
);
create index invoices_account_id_idx on invoices (account_id, created_at, id);
create index invoices_subscription_id_idx on invoices (subscription_id);

create table payments (
    id text primary key,
    account_id text not null references accounts (id) on delete cascade,
    amount bigint not null,
    currency text not null,
    status text not null,
    payment_method text,
    invoice_id text references invoices (id) on delete set null,
    external_id text,
    external_customer_id text,
    metadata text not null,
    created_at bigint not null,
    updated_at bigint not null
);
create index payments_account_id_idx on payments (account_id, created_at, id);
create index payments_invoice_id_idx on payments (invoice_id);
