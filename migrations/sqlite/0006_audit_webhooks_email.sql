-- What happened, and the durable outboxes that tell the outside world.
create table audit_events (
    id text primary key,  -- ULID: sorting by id is sorting by time
    account_id text,  -- no foreign key: the trail outlives the account it describes
    action text not null,
    actor_type text not null check (actor_type in ('user', 'api_key', 'client', 'system')),
    actor_id text,
    target_type text not null,
    target_id text not null,
    ip text,
    user_agent text,
    details text not null default '{}',
    created_at bigint not null
);
create index audit_events_account_id_idx on audit_events (account_id, id);
create index audit_events_account_action_idx on audit_events (account_id, action, id);

create table webhooks (
    account_id text primary key references accounts (id) on delete cascade,
    url text not null,
    events text,  -- JSON array of audit actions; null means all
    -- HMAC secrets must be usable, so they are sealed under the key-encryption key, not hashed.
    secret_encrypted text not null,
    previous_secret_encrypted text,
    previous_secret_expires_at bigint,
    created_at bigint not null,
    updated_at bigint not null
);

create table webhook_deliveries (
    id text primary key,  -- the stable webhook-id header, the same on every attempt
    account_id text not null,  -- no foreign key: account.deleted is delivered after the delete
    url text not null,
    event_type text not null,
    payload text not null,
    attempts bigint not null default 0,
    next_attempt_at bigint not null,
    delivered_at bigint,
    failed_at bigint,  -- gave up after the retry window
    last_error text,
    created_at bigint not null
);
create index webhook_deliveries_due_idx on webhook_deliveries (next_attempt_at)
    where delivered_at is null and failed_at is null;

create table emails (
    id text primary key,
    recipient text not null,
    subject text not null,
    text_body text not null,
    html_body text,
    attempts bigint not null default 0,
    next_attempt_at bigint not null,
    sent_at bigint,
    failed_at bigint,
    last_error text,
    created_at bigint not null
);
create index emails_due_idx on emails (next_attempt_at) where sent_at is null and failed_at is null;
