//! An account's SSO connections (API.md §12), for whoever has `account:write`: list, show,
//! create, change by merge patch, delete. A connection routes some of the account's verified
//! domains (each to one connection at most, 409 `domain_in_use`) to an upstream OpenID Connect
//! provider; its `default_role` is a grant made later on the setter's word, so setting it takes
//! `members:write` and a role the setter may grant. The client secret is write-only, sealed
//! under the key-encryption key for the connection's id; [`client_secret`] opens it for the
//! relying party.

use serde::Serialize;
use serde_json::json;

use crate::audit::Action;
use crate::clock::{self, Timestamp};
use crate::config::Issuer;
use crate::ids::{AccountId, SsoConnectionId};
use crate::keys::{KekError, KeyEncryptionKey};
use crate::manage::caller::{self, Caller};
use crate::manage::{Error, locked, roles};
use crate::permission::Permission;
use crate::sso_connection::{self, Broken, Checked, SsoConnection, SsoInput};
use crate::store::{Change, Position, Store, domains, sso_connections};
use crate::webhooks::address;

/// What the checks of a connection need from the deployment.
#[derive(Clone, Copy)]
pub struct Deployment<'a> {
    /// Seals client secrets.
    pub kek: &'a KeyEncryptionKey,
    /// This server's issuer: the callback URL is below it.
    pub issuer: &'a Issuer,
    /// `TESSERA_WEBHOOK_BLOCK_PRIVATE`: when set, issuers are `https://` on public addresses
    /// only; when not (tests, closed networks), `http://` and any address do.
    pub block_private: bool,
}

/// A connection as the API shows it: never its secret.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SsoConnectionView {
    pub id: SsoConnectionId,
    pub account_id: AccountId,
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    /// Always true: the secret is write-only.
    pub client_secret_set: bool,
    pub domains: Vec<String>,
    pub default_role: String,
    pub jit: bool,
    pub enforce: bool,
    /// The callback to register at the provider: `{issuer}/login/sso/{id}/callback`.
    pub redirect_uri: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl SsoConnectionView {
    fn new(issuer: &Issuer, connection: SsoConnection) -> SsoConnectionView {
        SsoConnectionView {
            redirect_uri: redirect_uri(issuer, &connection.id),
            id: connection.id,
            account_id: connection.account_id,
            name: connection.name,
            issuer: connection.issuer,
            client_id: connection.client_id,
            client_secret_set: true,
            domains: connection.domains,
            default_role: connection.default_role.to_string(),
            jit: connection.jit,
            enforce: connection.enforce,
            created_at: connection.created_at,
            updated_at: connection.updated_at,
        }
    }

    /// Its place in a list, newest first.
    pub fn position(&self) -> Position {
        Position {
            created_at: self.created_at.0,
            id: self.id.to_string(),
        }
    }
}

/// Where the provider sends the browser back: `{issuer}/login/sso/{id}/callback`.
pub fn redirect_uri(issuer: &Issuer, id: &SsoConnectionId) -> String {
    issuer.url(&format!("/login/sso/{id}/callback"))
}

/// The connection's client secret in clear, for the relying party's token request. Fails
/// for a sealed value copied from another connection's row.
pub fn client_secret(
    kek: &KeyEncryptionKey,
    connection: &SsoConnection,
) -> Result<String, KekError> {
    let bytes = kek.open(
        &connection.client_secret_sealed,
        &seal_context(&connection.id),
    )?;
    String::from_utf8(bytes).map_err(|_| KekError::Open)
}

fn seal_secret(kek: &KeyEncryptionKey, id: &SsoConnectionId, secret: &str) -> String {
    kek.seal(secret.as_bytes(), &seal_context(id))
}

fn seal_context(id: &SsoConnectionId) -> String {
    format!("sso-client-secret:{id}")
}

/// A connection by the id in a sign-in URL, with its client secret opened (`NotFound` for
/// an unknown id; a secret that does not open is logged and the connection is unusable).
pub async fn for_sign_in(
    store: &Store,
    kek: &KeyEncryptionKey,
    id: &str,
) -> Result<(SsoConnection, String), Error> {
    let id = SsoConnectionId::parse(id).ok_or(Error::NotFound("SSO connection"))?;
    let connection = sso_connections::find_by_id(store.pool(), &id)
        .await?
        .ok_or(Error::NotFound("SSO connection"))?;
    let secret = client_secret(kek, &connection).map_err(|error| {
        tracing::error!(connection = %id, %error, "an SSO connection's secret does not open");
        Error::NotFound("SSO connection")
    })?;
    Ok((connection, secret))
}

/// The connection an email address signs in through: the one listing its domain, if any
/// (with its account).
pub async fn for_email(store: &Store, email: &str) -> Result<Option<SsoConnection>, Error> {
    let Some(domain) = sso_connection::domain_of_email(email) else {
        return Ok(None);
    };
    Ok(sso_connections::find_by_domain(store.pool(), &domain).await?)
}

/// The account's connections, newest first. `after` (parsed from the request) is looked at
/// only once the caller may know the account exists.
pub async fn list<E: From<Error>>(
    store: &Store,
    issuer: &Issuer,
    caller: &Caller,
    account_id: &AccountId,
    after: Result<Position, E>,
    limit: i64,
) -> Result<Vec<SsoConnectionView>, E> {
    caller::authorize(store, caller, account_id, Permission::AccountWrite).await?;
    let rows = sso_connections::list(store.pool(), account_id, &after?, limit)
        .await
        .map_err(Error::from)?;
    Ok(rows
        .into_iter()
        .map(|connection| SsoConnectionView::new(issuer, connection))
        .collect())
}

/// One connection of the account.
pub async fn show(
    store: &Store,
    issuer: &Issuer,
    caller: &Caller,
    account_id: &AccountId,
    id: &str,
) -> Result<SsoConnectionView, Error> {
    caller::authorize(store, caller, account_id, Permission::AccountWrite).await?;
    let id = parse_id(id)?;
    let connection = sso_connections::find(store.pool(), account_id, &id)
        .await?
        .ok_or(Error::NotFound("sso connection"))?;
    Ok(SsoConnectionView::new(issuer, connection))
}

/// Creates a connection (`sso_connection.created`). Needs `account:write`, and `members:write`
/// with every permission of `default_role`; the domains must be verified by the account and
/// on no other connection (409 `domain_in_use`).
pub async fn create(
    store: &Store,
    deployment: Deployment<'_>,
    caller: &Caller,
    account_id: &AccountId,
    input: SsoInput,
) -> Result<SsoConnectionView, Error> {
    let standing = caller::authorize(store, caller, account_id, Permission::AccountWrite).await?;
    may_set_default_role(&standing)?;
    let checked = check(input, deployment)?;
    let Some(secret) = &checked.client_secret else {
        return Err(Error::invalid("client_secret", "is required"));
    };
    // Resolving the host takes time: before the change takes the account's lock.
    check_public(&checked.issuer, deployment.block_private).await?;
    let mut change = locked(store, account_id).await?;
    let standing =
        caller::authorize_in(&mut change, caller, account_id, Permission::AccountWrite).await?;
    may_set_default_role(&standing)?;
    roles::grantable_at(
        &mut change,
        &standing,
        account_id,
        &checked.default_role,
        "default_role",
    )
    .await?;
    check_domains(&mut change, account_id, &checked.domains, None).await?;
    let now = clock::now();
    let id = SsoConnectionId::generate();
    let connection = SsoConnection {
        client_secret_sealed: seal_secret(deployment.kek, &id, secret),
        id,
        account_id: account_id.clone(),
        name: checked.name,
        issuer: checked.issuer,
        client_id: checked.client_id,
        domains: checked.domains,
        default_role: checked.default_role,
        jit: checked.jit,
        enforce: checked.enforce,
        created_at: Timestamp(now),
        updated_at: Timestamp(now),
    };
    sso_connections::insert(&mut change, &connection).await?;
    let details = json!({
        "name": connection.name,
        "issuer": connection.issuer,
        "client_id": connection.client_id,
        "domains": connection.domains,
        "default_role": connection.default_role,
        "jit": connection.jit,
        "enforce": connection.enforce,
    });
    record(
        change,
        caller,
        Action::SsoConnectionCreated,
        &connection,
        details,
        now,
    )
    .await?;
    Ok(SsoConnectionView::new(deployment.issuer, connection))
}

/// Changes a connection by JSON Merge Patch (`sso_connection.updated`, naming the changed
/// fields, never a value of the secret). `patch` merges the request into the settings it is
/// given. Changing `default_role` or `jit` takes what creating does; changed domains are
/// checked as at creation. Unchanged, it writes and records nothing.
pub async fn update(
    store: &Store,
    deployment: Deployment<'_>,
    caller: &Caller,
    account_id: &AccountId,
    id: &str,
    patch: impl Fn(&SsoInput) -> Result<SsoInput, Error>,
) -> Result<SsoConnectionView, Error> {
    caller::authorize(store, caller, account_id, Permission::AccountWrite).await?;
    let id = parse_id(id)?;
    let current = sso_connections::find(store.pool(), account_id, &id)
        .await?
        .ok_or(Error::NotFound("sso connection"))?;
    let checked = check(patch(&SsoInput::of(&current))?, deployment)?;
    // A new issuer's host is resolved before the change takes the account's lock.
    if checked.issuer != current.issuer {
        check_public(&checked.issuer, deployment.block_private).await?;
    }
    let mut change = locked(store, account_id).await?;
    let standing =
        caller::authorize_in(&mut change, caller, account_id, Permission::AccountWrite).await?;
    let current = sso_connections::find(&mut *change, account_id, &id)
        .await?
        .ok_or(Error::NotFound("sso connection"))?;
    let updated = check(patch(&SsoInput::of(&current))?, deployment)?;
    if updated.issuer != current.issuer && updated.issuer != checked.issuer {
        return Err(Error::conflict(
            "the connection changed while this request was checked; try again",
        ));
    }
    let changed = updated.changed_fields(&current);
    if changed.is_empty() {
        return Ok(SsoConnectionView::new(deployment.issuer, current));
    }
    if changed.contains(&"default_role") || changed.contains(&"jit") {
        may_set_default_role(&standing)?;
        roles::grantable_at(
            &mut change,
            &standing,
            account_id,
            &updated.default_role,
            "default_role",
        )
        .await?;
    }
    if changed.contains(&"domains") {
        check_domains(&mut change, account_id, &updated.domains, Some(&id)).await?;
    }
    let now = clock::now();
    let connection = SsoConnection {
        client_secret_sealed: match &updated.client_secret {
            Some(secret) => seal_secret(deployment.kek, &id, secret),
            None => current.client_secret_sealed,
        },
        id,
        account_id: account_id.clone(),
        name: updated.name,
        issuer: updated.issuer,
        client_id: updated.client_id,
        domains: updated.domains,
        default_role: updated.default_role,
        jit: updated.jit,
        enforce: updated.enforce,
        created_at: current.created_at,
        updated_at: Timestamp(now),
    };
    sso_connections::update(&mut change, &connection).await?;
    let details = json!({"name": connection.name, "fields": changed});
    record(
        change,
        caller,
        Action::SsoConnectionUpdated,
        &connection,
        details,
        now,
    )
    .await?;
    Ok(SsoConnectionView::new(deployment.issuer, connection))
}

/// Deletes a connection (`sso_connection.deleted`); its domains are free again, and their
/// people sign in with passwords again.
pub async fn delete(
    store: &Store,
    caller: &Caller,
    account_id: &AccountId,
    id: &str,
) -> Result<(), Error> {
    let mut change = locked(store, account_id).await?;
    caller::authorize_in(&mut change, caller, account_id, Permission::AccountWrite).await?;
    let id = parse_id(id)?;
    let connection = sso_connections::find(&mut *change, account_id, &id)
        .await?
        .ok_or(Error::NotFound("sso connection"))?;
    sso_connections::delete(&mut *change, account_id, &id).await?;
    let details = json!({"name": connection.name, "domains": connection.domains});
    record(
        change,
        caller,
        Action::SsoConnectionDeleted,
        &connection,
        details,
        clock::now(),
    )
    .await
}

/// 409 `domain_in_use` when an SSO connection lists `domain`: for the deletion of a verified
/// domain, which would leave the connection routing a name the account no longer holds.
pub(crate) async fn refuse_if_listed(change: &mut Change<'_>, domain: &str) -> Result<(), Error> {
    match sso_connections::listing(&mut **change, domain).await? {
        Some((id, name)) => Err(in_use(domain, &id, &name)),
        None => Ok(()),
    }
}

fn in_use(domain: &str, id: &str, name: &str) -> Error {
    Error::Conflict {
        code: "domain_in_use",
        message: format!(
            "{domain} is routed by the SSO connection {id} ({name:?}); change or delete that first"
        ),
    }
}

/// The request's settings checked; an `http://` issuer only where private addresses are not
/// blocked.
fn check(input: SsoInput, deployment: Deployment<'_>) -> Result<Checked, Error> {
    input
        .check(!deployment.block_private)
        .map_err(|Broken { field, message }| Error::InvalidAt { field, message })
}

/// With `block_private`, the issuer's host must resolve to public addresses only: the relying
/// party will fetch its discovery document, keys and tokens (SSRF otherwise).
async fn check_public(issuer: &str, block_private: bool) -> Result<(), Error> {
    if block_private {
        address::check_url(issuer, true)
            .await
            .map_err(|error| Error::invalid("issuer", error.to_string()))?;
    }
    Ok(())
}

/// Whoever sets the role people join with later grants it: like `domain_auto_join`, that
/// takes `members:write`.
fn may_set_default_role(standing: &crate::access::Standing) -> Result<(), Error> {
    if standing.may(Permission::MembersWrite) {
        Ok(())
    } else {
        Err(Error::forbidden(
            "setting default_role or jit needs the members:write permission",
        ))
    }
}

/// Each domain verified by the account (400 on `domains`) and listed by no connection other
/// than `this` (409 `domain_in_use`).
async fn check_domains(
    change: &mut Change<'_>,
    account_id: &AccountId,
    names: &[String],
    this: Option<&SsoConnectionId>,
) -> Result<(), Error> {
    for name in names {
        if !domains::is_verified_by(&mut **change, account_id, name).await? {
            return Err(Error::invalid(
                "domains",
                format!("{name} is not a domain this account has verified"),
            ));
        }
        if let Some((id, connection)) = sso_connections::listing(&mut **change, name).await?
            && this.is_none_or(|this| this.as_str() != id)
        {
            return Err(in_use(name, &id, &connection));
        }
    }
    Ok(())
}

fn parse_id(id: &str) -> Result<SsoConnectionId, Error> {
    SsoConnectionId::parse(id).ok_or(Error::NotFound("sso connection"))
}

async fn record(
    change: Change<'_>,
    caller: &Caller,
    action: Action,
    connection: &SsoConnection,
    details: serde_json::Value,
    now: i64,
) -> Result<(), Error> {
    let event = caller.event(
        Some(&connection.account_id),
        action,
        "sso_connection",
        connection.id.as_str(),
        details,
    );
    change.record(&event, now).await?.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{client_secret, seal_secret};
    use crate::clock::Timestamp;
    use crate::ids::{AccountId, SsoConnectionId};
    use crate::keys::KeyEncryptionKey;
    use crate::role::{Builtin, RoleId};
    use crate::sso_connection::SsoConnection;

    fn connection(sealed: String, id: SsoConnectionId) -> SsoConnection {
        SsoConnection {
            id,
            account_id: AccountId::generate(),
            name: "Okta".to_owned(),
            issuer: "https://idp.example".to_owned(),
            client_id: "tessera".to_owned(),
            client_secret_sealed: sealed,
            domains: vec!["acme.example".to_owned()],
            default_role: RoleId::from(Builtin::Member),
            jit: false,
            enforce: false,
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
        }
    }

    #[test]
    fn a_sealed_secret_opens_for_its_own_connection_only() {
        let kek = KeyEncryptionKey::from_bytes(&[7; 32]);
        let id = SsoConnectionId::generate();
        let sealed = seal_secret(&kek, &id, "upstream secret");
        assert!(!sealed.contains("upstream secret"));
        let own = connection(sealed.clone(), id);
        assert_eq!(client_secret(&kek, &own).unwrap(), "upstream secret");
        // The same value copied to another row, or opened under another key, stays shut.
        let copied = connection(sealed.clone(), SsoConnectionId::generate());
        assert!(client_secret(&kek, &copied).is_err());
        let other_kek = KeyEncryptionKey::from_bytes(&[8; 32]);
        assert!(client_secret(&other_kek, &own).is_err());
    }
}
