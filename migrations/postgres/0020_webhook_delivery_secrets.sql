-- A delivery keeps the sealed signing secrets its webhook had when the event was queued:
-- `account.deleted` is delivered after the delete has cascaded to the `webhooks` row.
-- While the webhook exists, deliveries sign with its current secrets instead.
alter table webhook_deliveries add column secret_encrypted text;
alter table webhook_deliveries add column previous_secret_encrypted text;
alter table webhook_deliveries add column previous_secret_expires_at bigint;
