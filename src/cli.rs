//! The operator command line. Every command works directly on `DATABASE_URL` and prints
//! JSON on stdout in the shape the REST API shows; errors go to stderr with exit status 2
//! (usage) or 1 (failure). Every write records its audit event, with the actor `system`.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use crate::App;
use crate::audit::Origin;
use crate::clock;
use crate::config::{Config, Issuer};
use crate::ids::{AccountId, ClientId};
use crate::keys::{self, KeyEncryptionKey, SigningAlg};
use crate::manage::clients::{self, NewClient, Patch};
use crate::manage::invites::{self, InviteView};
use crate::manage::users::{self, AdminUser, NewUser};
use crate::manage::{self, Error, accounts};
use crate::oauth::client::{AccountSelection, AuthMethod, ClientSettings, GrantType};
use crate::password::Hasher;
use crate::store::{self, Backend, Position, Store};

#[derive(Parser, Debug)]
#[command(
    name = "tessera",
    version,
    about = "OAuth 2 / OpenID Connect server issuing account-scoped tokens"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve HTTP (the default).
    Serve,
    /// Apply pending database migrations and print the ones applied.
    Migrate,
    /// Copy a SQLite database, consistently, while it serves (PostgreSQL: use pg_dump).
    Backup {
        /// Where the copy goes; must not exist yet.
        path: std::path::PathBuf,
    },
    /// Signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Users.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Accounts.
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// OAuth clients.
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Invitations.
    #[command(subcommand)]
    Invites(InvitesCommand),
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// Make a new signing key of one algorithm active now; old keys stay published until
    /// their tokens expire, and keys of other algorithms go on signing.
    Rotate {
        /// RS256, ES256 or EdDSA; default the server's (TESSERA_SIGNING_ALG).
        #[arg(long, value_name = "ALG", value_parser = parse_signing_alg)]
        alg: Option<SigningAlg>,
    },
}

#[derive(Subcommand, Debug)]
enum UsersCommand {
    /// Create a user.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        password: Option<String>,
        #[arg(long)]
        superadmin: bool,
    },
    /// Every user, newest first.
    List,
    /// One user, by id or email.
    Show { user: String },
    /// Stop a user from logging in; end their sessions and revoke their tokens.
    Disable { user: String },
    /// Let a disabled user log in again.
    Enable { user: String },
    /// Set a user's password (the web's policy); ends their sessions and revokes their tokens.
    SetPassword {
        user: String,
        #[arg(long)]
        password: String,
    },
}

#[derive(Subcommand, Debug)]
enum AccountsCommand {
    /// Create an account owned by a user (created when the email is new).
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, value_name = "EMAIL")]
        owner: String,
        #[arg(long, value_name = "ACCOUNT_ID", value_parser = parse_account_id)]
        parent: Option<AccountId>,
    },
    /// Every account, newest first.
    List,
    /// One account.
    Show {
        #[arg(value_parser = parse_account_id)]
        account: AccountId,
    },
}

#[derive(Subcommand, Debug)]
enum ClientsCommand {
    /// Register an OAuth client under an account.
    Create(CreateClient),
    /// The clients of one account (--account), or of every account.
    List {
        #[arg(long, value_name = "ACCOUNT_ID", value_parser = parse_account_id)]
        account: Option<AccountId>,
    },
    /// One client.
    Show {
        #[arg(value_parser = parse_client_id)]
        client: ClientId,
    },
    /// Change a client: each option given replaces that setting; repeated ones give the
    /// whole new list.
    Update(UpdateClient),
    /// Give a confidential client a new secret, printed once; the old one stops working.
    RotateSecret {
        #[arg(value_parser = parse_client_id)]
        client: ClientId,
    },
}

#[derive(Args, Debug)]
struct UpdateClient {
    #[arg(value_parser = parse_client_id)]
    client: ClientId,
    #[arg(long)]
    name: Option<String>,
    #[arg(long = "redirect-uri", value_name = "URI")]
    redirect_uris: Vec<String>,
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    post_logout_redirect_uris: Vec<String>,
    /// Make the client public (no secret, PKCE required); same as --auth-method none.
    #[arg(long)]
    public: bool,
    #[arg(long, value_name = "METHOD", value_parser = parse_auth_method)]
    auth_method: Option<AuthMethod>,
    #[arg(long = "grant", value_name = "GRANT", value_parser = parse_grant)]
    grants: Vec<GrantType>,
    #[arg(long = "scope", value_name = "SCOPE")]
    scopes: Vec<String>,
    /// Whether sign-in has the user pick an account: none, optional or required.
    #[arg(long = "account-selection", value_name = "SELECTION", value_parser = parse_account_selection)]
    account_selection: Option<AccountSelection>,
    /// The algorithm of the client's access tokens: RS256, ES256 or EdDSA (default the
    /// server's).
    #[arg(long, value_name = "ALG", value_parser = parse_signing_alg)]
    access_token_signing_alg: Option<SigningAlg>,
    /// The algorithm of the client's ID tokens: RS256, ES256 or EdDSA (default the server's).
    #[arg(long, value_name = "ALG", value_parser = parse_signing_alg)]
    id_token_signed_response_alg: Option<SigningAlg>,
    /// No consent page for the client's users.
    #[arg(long, conflicts_with = "third_party")]
    first_party: bool,
    /// Show the consent page to users outside the client's account.
    #[arg(long)]
    third_party: bool,
}

#[derive(Subcommand, Debug)]
enum InvitesCommand {
    /// An account's invitations in every status, newest first.
    List {
        #[arg(long, value_name = "ACCOUNT_ID", value_parser = parse_account_id)]
        account: AccountId,
    },
}

#[derive(Args, Debug)]
struct CreateClient {
    #[arg(long, value_name = "ACCOUNT_ID", value_parser = parse_account_id)]
    account: AccountId,
    #[arg(long)]
    name: String,
    /// Where the code flow may return (repeatable). Optional: without one the client cannot
    /// finish a code flow until a redirect URI is added (`PATCH /v1/.../clients/{id}`).
    #[arg(long = "redirect-uri", value_name = "URI")]
    redirect_uris: Vec<String>,
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    post_logout_redirect_uris: Vec<String>,
    /// A public client (no secret, PKCE required); same as --auth-method none.
    #[arg(long)]
    public: bool,
    #[arg(long, value_name = "METHOD", value_parser = parse_auth_method)]
    auth_method: Option<AuthMethod>,
    #[arg(long = "grant", value_name = "GRANT", value_parser = parse_grant)]
    grants: Vec<GrantType>,
    #[arg(long = "scope", value_name = "SCOPE")]
    scopes: Vec<String>,
    /// Whether sign-in has the user pick an account: none, optional or required.
    #[arg(long = "account-selection", value_name = "SELECTION", value_parser = parse_account_selection)]
    account_selection: Option<AccountSelection>,
    /// The algorithm of the client's access tokens: RS256, ES256 or EdDSA (default the
    /// server's).
    #[arg(long, value_name = "ALG", value_parser = parse_signing_alg)]
    access_token_signing_alg: Option<SigningAlg>,
    /// The algorithm of the client's ID tokens: RS256, ES256 or EdDSA (default the server's).
    #[arg(long, value_name = "ALG", value_parser = parse_signing_alg)]
    id_token_signed_response_alg: Option<SigningAlg>,
    /// Show the consent page to users outside the client's account, like a tenant's client
    /// (without it the operator's client is first-party: no consent page).
    #[arg(long)]
    third_party: bool,
}

fn parse_account_id(text: &str) -> Result<AccountId, String> {
    AccountId::parse(text).ok_or_else(|| "expected an account id (acc_…)".to_owned())
}

fn parse_client_id(text: &str) -> Result<ClientId, String> {
    ClientId::parse(text).ok_or_else(|| "expected a client id (cli_…)".to_owned())
}

fn parse_auth_method(text: &str) -> Result<AuthMethod, String> {
    AuthMethod::parse(text)
        .ok_or_else(|| "expected client_secret_basic, client_secret_post or none".to_owned())
}

fn parse_account_selection(text: &str) -> Result<AccountSelection, String> {
    AccountSelection::parse(text).ok_or_else(|| "expected none, optional or required".to_owned())
}

fn parse_signing_alg(text: &str) -> Result<SigningAlg, String> {
    SigningAlg::parse(text).ok_or_else(|| format!("expected {}", SigningAlg::NAMES))
}

fn parse_grant(text: &str) -> Result<GrantType, String> {
    GrantType::parse(text).ok_or_else(|| {
        let names: Vec<&str> = GrantType::ALL.iter().map(|g| g.as_str()).collect();
        format!("expected one of {}", names.join(", "))
    })
}

/// A command's failure, with the exit status it maps to.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Failure(String),
}

impl CliError {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Usage(_) => ExitCode::from(2),
            CliError::Failure(_) => ExitCode::from(1),
        }
    }
}

impl From<Error> for CliError {
    fn from(error: Error) -> CliError {
        match error {
            Error::Invalid(_) => CliError::Usage(error.to_string()),
            _ => CliError::Failure(error.to_string()),
        }
    }
}

fn failure(error: impl std::fmt::Display) -> CliError {
    CliError::Failure(format!("{error:#}"))
}

pub async fn run(cli: Cli, config: Config) -> Result<(), CliError> {
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Serve = command {
        let app = App::bind(config)
            .await
            .map_err(|error| failure(format!("{error:#}")))?;
        return app.run().await.map_err(failure);
    }
    if let Command::Backup { path } = &command
        && path.exists()
    {
        return Err(CliError::Usage(format!(
            "{} already exists",
            path.display()
        )));
    }
    let store = Store::connect(&config.database_url)
        .await
        .map_err(|error| {
            CliError::Failure(store::describe_connect_error(&config.database_url, &error))
        })?;
    let result = match command {
        // A backup copies the database as it is, and never changes it.
        Command::Backup { path } => backup(&store, &path).await,
        command => match store.migrate().await {
            Ok(applied) => run_operator_command(command, applied, &config, &store).await,
            Err(error) => Err(failure(format!("cannot migrate the database: {error}"))),
        },
    };
    store.close().await;
    result
}

async fn run_operator_command(
    command: Command,
    applied: Vec<String>,
    config: &Config,
    store: &Store,
) -> Result<(), CliError> {
    let system = Origin::system();
    match command {
        Command::Serve | Command::Backup { .. } => Ok(()),
        Command::Migrate => print_json(&serde_json::json!({"applied": applied})),
        Command::Keys(KeysCommand::Rotate { alg }) => {
            let kek = load_kek(store, config).await?;
            let alg = alg.unwrap_or(config.signing_alg);
            let rotated = manage::keys::rotate_offline(store, &kek, alg, system)
                .await
                .map_err(failure)?;
            print_json(&rotated)
        }
        Command::Users(UsersCommand::Create {
            email,
            name,
            password,
            superadmin,
        }) => {
            let user = users::create(
                store,
                &issuer(config),
                NewUser {
                    email,
                    name,
                    password,
                    superadmin,
                },
            )
            .await?;
            print_json(&AdminUser::from(user))
        }
        Command::Users(UsersCommand::List) => {
            let all = users::search(store, None, &Position::start(), i64::MAX).await?;
            print_list(&all.into_iter().map(AdminUser::from).collect::<Vec<_>>())
        }
        Command::Users(UsersCommand::Show { user }) => {
            print_json(&AdminUser::from(users::find(store, &user).await?))
        }
        Command::Users(UsersCommand::Disable { user }) => {
            let user = users::find(store, &user).await?;
            let user = users::set_disabled(store, &user, true, system).await?;
            print_json(&AdminUser::from(user))
        }
        Command::Users(UsersCommand::Enable { user }) => {
            let user = users::find(store, &user).await?;
            let user = users::set_disabled(store, &user, false, system).await?;
            print_json(&AdminUser::from(user))
        }
        Command::Users(UsersCommand::SetPassword { user, password }) => {
            let user = users::find(store, &user).await?;
            let user =
                users::set_password(store, &Hasher::default(), &user, password, system).await?;
            print_json(&AdminUser::from(user))
        }
        Command::Accounts(AccountsCommand::Create {
            name,
            owner,
            parent,
        }) => {
            let created = accounts::create_with_owner(
                store,
                &Hasher::default(),
                &issuer(config),
                accounts::OwnedAccount {
                    name,
                    owner: accounts::NewOwner {
                        email: owner,
                        name: None,
                        password: None,
                    },
                    parent_id: parent,
                },
                Origin::system(),
            )
            .await?;
            print_json(&created.account)
        }
        Command::Accounts(AccountsCommand::List) => print_list(&all_accounts(store).await?),
        Command::Accounts(AccountsCommand::Show { account }) => {
            print_json(&accounts::find(store, &account).await?)
        }
        Command::Clients(ClientsCommand::Create(args)) => create_client(store, config, args).await,
        Command::Clients(ClientsCommand::List { account }) => {
            print_list(&clients::list_for_operator(store, account.as_ref()).await?)
        }
        Command::Clients(ClientsCommand::Show { client }) => {
            print_json(&clients::show_for_operator(store, &client).await?)
        }
        Command::Clients(ClientsCommand::Update(args)) => update_client(store, config, args).await,
        Command::Clients(ClientsCommand::RotateSecret { client }) => {
            print_json(&clients::rotate_secret_for_operator(store, &client, system).await?)
        }
        Command::Invites(InvitesCommand::List { account }) => {
            let found = invites::list_all(store, &account).await?;
            let now = clock::now();
            print_list(
                &found
                    .into_iter()
                    .map(|invitation| InviteView::new(invitation, now, None))
                    .collect::<Vec<_>>(),
            )
        }
    }
}

async fn all_accounts(store: &Store) -> Result<Vec<crate::account::Account>, CliError> {
    Ok(accounts::search(store, None, &Position::start(), i64::MAX).await?)
}

async fn update_client(store: &Store, config: &Config, args: UpdateClient) -> Result<(), CliError> {
    let method = match (args.public, args.auth_method) {
        (true, Some(method)) if !method.is_public() => {
            return Err(CliError::Usage(
                "--public conflicts with --auth-method ".to_owned() + method.as_str(),
            ));
        }
        (_, Some(method)) => Some(method),
        (true, None) => Some(AuthMethod::None),
        (false, None) => None,
    };
    let first_party = match (args.first_party, args.third_party) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    };
    let edit = |settings: &mut ClientSettings| {
        if let Some(name) = args.name {
            settings.name = name;
        }
        if let Some(method) = method {
            settings.token_endpoint_auth_method = method;
        }
        if !args.redirect_uris.is_empty() {
            settings.redirect_uris = args.redirect_uris;
        }
        if !args.post_logout_redirect_uris.is_empty() {
            settings.post_logout_redirect_uris = args.post_logout_redirect_uris;
        }
        if !args.grants.is_empty() {
            settings.grant_types = args.grants;
        }
        if !args.scopes.is_empty() {
            settings.scopes = args.scopes;
        }
        if let Some(selection) = args.account_selection {
            settings.account_selection = selection;
        }
        if let Some(alg) = args.access_token_signing_alg {
            settings.access_token_signing_alg = Some(alg);
        }
        if let Some(alg) = args.id_token_signed_response_alg {
            settings.id_token_signed_response_alg = Some(alg);
        }
        Ok(())
    };
    let patch = Patch {
        first_party,
        settings: edit,
    };
    let view = clients::update_for_operator(store, &args.client, patch, Origin::system()).await?;
    publish_algorithms(store, config, &view.settings).await?;
    print_json(&view)
}

/// `VACUUM INTO`: a consistent copy taken inside one read transaction, so a server may keep
/// writing meanwhile (WAL). PostgreSQL has its own tools.
async fn backup(store: &Store, path: &std::path::Path) -> Result<(), CliError> {
    if store.backend() == Backend::Postgres {
        return Err(CliError::Failure(
            "backup copies SQLite databases only: on PostgreSQL use pg_dump \
             (e.g. pg_dump --format=custom --file=tessera.dump \"$DATABASE_URL\"); \
             back up the keys directory's kek file with it"
                .to_owned(),
        ));
    }
    let target = path
        .to_str()
        .ok_or_else(|| CliError::Usage("the backup path must be valid UTF-8".to_owned()))?;
    sqlx::query("vacuum into $1")
        .bind(target)
        .execute(store.pool())
        .await
        .map_err(|error| failure(format!("cannot write {target}: {error}")))?;
    let bytes = std::fs::metadata(path).map_err(failure)?.len();
    print_json(&serde_json::json!({"path": target, "bytes": bytes}))
}

/// The issuer links in mail point to: as configured, else the one `serve` would derive.
fn issuer(config: &Config) -> Issuer {
    config
        .issuer
        .clone()
        .unwrap_or_else(|| Issuer::for_listener(config.listen))
}

async fn create_client(store: &Store, config: &Config, args: CreateClient) -> Result<(), CliError> {
    let method = match (args.public, args.auth_method) {
        (true, Some(method)) if !method.is_public() => {
            return Err(CliError::Usage(
                "--public conflicts with --auth-method ".to_owned() + method.as_str(),
            ));
        }
        (_, Some(method)) => method,
        (true, None) => AuthMethod::None,
        (false, None) => AuthMethod::ClientSecretBasic,
    };
    let mut settings = ClientSettings::with_defaults(args.name, method.is_public());
    settings.token_endpoint_auth_method = method;
    settings.redirect_uris = args.redirect_uris;
    settings.post_logout_redirect_uris = args.post_logout_redirect_uris;
    if !args.grants.is_empty() {
        settings.grant_types = args.grants;
    }
    if !args.scopes.is_empty() {
        settings.scopes = args.scopes;
    }
    if let Some(selection) = args.account_selection {
        settings.account_selection = selection;
    }
    settings.access_token_signing_alg = args.access_token_signing_alg;
    settings.id_token_signed_response_alg = args.id_token_signed_response_alg;
    let new = NewClient {
        settings,
        first_party: !args.third_party,
        self_registered: false,
    };
    let registered = clients::register(store, &args.account, new, Origin::system()).await?;
    publish_algorithms(store, config, &registered.client.settings).await?;
    print_json(&clients::ClientView::new(
        registered.client,
        registered.secret,
    ))
}

/// Makes a key of each algorithm the client asked for that has none yet, so that the JWKS
/// publishes it before the first token it signs (serving instances pick it up within
/// seconds).
async fn publish_algorithms(
    store: &Store,
    config: &Config,
    settings: &ClientSettings,
) -> Result<(), CliError> {
    let mut algs = settings.signing_algs().peekable();
    if algs.peek().is_none() {
        return Ok(());
    }
    let kek = load_kek(store, config).await?;
    for alg in algs {
        keys::ensure(store, &kek, alg).await.map_err(failure)?;
    }
    Ok(())
}

async fn load_kek(store: &Store, config: &Config) -> Result<KeyEncryptionKey, CliError> {
    KeyEncryptionKey::load_for(store, config.key_encryption_key.as_ref(), &config.keys_dir)
        .await
        .map_err(failure)
}

/// A whole list, in the REST list shape (`next_cursor` is always null: nothing is left).
fn print_list<T: Serialize>(data: &[T]) -> Result<(), CliError> {
    print_json(&serde_json::json!({"data": data, "next_cursor": null}))
}

fn print_json(value: &impl Serialize) -> Result<(), CliError> {
    let mut text = serde_json::to_string_pretty(value).map_err(failure)?;
    text.push('\n');
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(failure)
}
