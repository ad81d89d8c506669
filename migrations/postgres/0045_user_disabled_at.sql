-- An operator can disable a user (`tessera users disable`): from then on the user cannot log
-- in and no access token of theirs stands (store/liveness.rs), until `users enable`.
alter table users add column disabled_at bigint;

-- Other instances forget the token answers they hold in memory (see 0021).
create trigger user_disabled after update of disabled_at on users
    for each statement execute function notify_access_changed();
