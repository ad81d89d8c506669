-- An operator can disable a user (`tessera users disable`): from then on the user cannot log
-- in and no access token of theirs stands (store/liveness.rs), until `users enable`.
alter table users add column disabled_at bigint;
