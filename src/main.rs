//! The `tessera` binary: parse the command line and hand over to `cli::run`.

use std::process::ExitCode;

use clap::Parser;
use tessera::cli::{self, Cli};

#[tokio::main]
async fn main() -> ExitCode {
    // clap exits with status 2 on malformed arguments, before anything else runs.
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn,tower_http=info".into()),
        )
        .init();
    match cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tessera: {error}");
            error.exit_code()
        }
    }
}
