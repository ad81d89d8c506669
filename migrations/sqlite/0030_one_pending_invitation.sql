-- A second invitation to the same email and account replaces the pending one (API.md §4).
-- Older duplicates left from before this rule are revoked, newest kept; then the database
-- holds at most one pending invitation per account and address (compared case-insensitively).
update invitations set status = 'revoked'
 where status = 'pending'
   and exists (
       select 1 from invitations newer
        where newer.account_id = invitations.account_id
          and lower(newer.email) = lower(invitations.email)
          and newer.status = 'pending'
          and (newer.created_at > invitations.created_at
               or (newer.created_at = invitations.created_at and newer.id > invitations.id)));
create unique index invitations_one_pending_idx
    on invitations (account_id, lower(email)) where status = 'pending';
