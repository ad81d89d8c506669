//! The `tessera` binary: parse the command line, read the configuration, set up logging
//! and hand over to `cli::run`.

use std::process::ExitCode;

use clap::Parser;
use tessera::cli::{self, Cli};
use tessera::config::{Config, LogFormat};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    // clap exits with status 2 on malformed arguments, before anything else runs.
    let cli = Cli::parse();
    let config = match Config::load() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("tessera: {error}");
            return ExitCode::from(2);
        }
    };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn,tower_http=info".into());
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    match config.log_format {
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        // Fields at the top level of each object, beside `timestamp`, `level` and `target`.
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    match cli::run(cli, config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tessera: {error}");
            error.exit_code()
        }
    }
}
