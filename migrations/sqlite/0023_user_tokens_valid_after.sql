-- A new password revokes every access token of the user issued before it (API.md §4): a
-- token issued before this time (unix milliseconds, read from its ULID `jti`, since `iat`
-- has whole seconds only) no longer stands.
alter table users add column tokens_valid_after_ms bigint not null default 0;
