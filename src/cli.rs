//! The operator command line. Every command works directly on `DATABASE_URL` and prints
//! JSON on stdout; errors go to stderr with exit status 2 (usage) or 1 (failure).

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use crate::App;
use crate::admin::{self, AdminError, NewUser};
use crate::config::{Config, Issuer};
use crate::http::v1::clients::ClientView;
use crate::ids::AccountId;
use crate::keys::{self, KeyEncryptionKey};
use crate::oauth::client::{AuthMethod, ClientSettings, GrantType};
use crate::password::Hasher;
use crate::store::Store;
use crate::store::audit_events::Actor;

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
    /// Apply pending database migrations.
    Migrate,
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
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// Make a new signing key active now; old keys stay published until their tokens expire.
    Rotate,
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
}

#[derive(Subcommand, Debug)]
enum ClientsCommand {
    /// Register an OAuth client under an account.
    Create(CreateClient),
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
    /// Show the consent page to users outside the client's account, like a tenant's client
    /// (without it the operator's client is first-party: no consent page).
    #[arg(long)]
    third_party: bool,
}

fn parse_account_id(text: &str) -> Result<AccountId, String> {
    AccountId::parse(text).ok_or_else(|| "expected an account id (acc_…)".to_owned())
}

fn parse_auth_method(text: &str) -> Result<AuthMethod, String> {
    AuthMethod::parse(text)
        .ok_or_else(|| "expected client_secret_basic, client_secret_post or none".to_owned())
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

impl From<AdminError> for CliError {
    fn from(error: AdminError) -> CliError {
        match error {
            AdminError::Invalid(_) => CliError::Usage(error.to_string()),
            _ => CliError::Failure(error.to_string()),
        }
    }
}

fn failure(error: impl std::fmt::Display) -> CliError {
    CliError::Failure(format!("{error:#}"))
}

pub async fn run(cli: Cli) -> Result<(), CliError> {
    let config = Config::load().map_err(|error| CliError::Usage(error.to_string()))?;
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Serve = command {
        let app = App::bind(config)
            .await
            .map_err(|error| failure(format!("{error:#}")))?;
        return app.run().await.map_err(failure);
    }
    let store = Store::connect(&config.database_url)
        .await
        .map_err(failure)?;
    store.migrate().await.map_err(failure)?;
    let result = run_operator_command(command, &config, &store).await;
    store.close().await;
    result
}

async fn run_operator_command(
    command: Command,
    config: &Config,
    store: &Store,
) -> Result<(), CliError> {
    match command {
        Command::Serve => Ok(()),
        Command::Migrate => print_json(&serde_json::json!({"migrated": true})),
        Command::Keys(KeysCommand::Rotate) => {
            let kek = KeyEncryptionKey::load(config.key_encryption_key.as_ref(), &config.keys_dir)
                .map_err(failure)?;
            let public = keys::rotate(store, &kek).await.map_err(failure)?;
            let rotated = admin::record_key_rotation(store, public, admin::Origin::system())
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
            let user = admin::create_user(
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
            print_json(&user)
        }
        Command::Accounts(AccountsCommand::Create {
            name,
            owner,
            parent,
        }) => {
            let created = admin::create_account(
                store,
                &Hasher::default(),
                &issuer(config),
                admin::NewAccount {
                    name,
                    owner: admin::NewOwner {
                        email: owner,
                        name: None,
                        password: None,
                    },
                    parent_id: parent,
                },
                admin::Origin::system(),
            )
            .await?;
            print_json(&created.account)
        }
        Command::Clients(ClientsCommand::Create(args)) => create_client(store, args).await,
    }
}

/// The issuer links in mail point to: as configured, else the one `serve` would derive.
fn issuer(config: &Config) -> Issuer {
    config
        .issuer
        .clone()
        .unwrap_or_else(|| Issuer::for_listener(config.listen))
}

async fn create_client(store: &Store, args: CreateClient) -> Result<(), CliError> {
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
    let (client, secret) = admin::create_client(
        store,
        &args.account,
        settings,
        !args.third_party,
        &Actor::System,
    )
    .await?;
    print_json(&ClientView::new(client, secret))
}

fn print_json(value: &impl Serialize) -> Result<(), CliError> {
    let mut text = serde_json::to_string_pretty(value).map_err(failure)?;
    text.push('\n');
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(failure)
}
