use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = tidings::cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .init();
    match tidings::cli::run(cli).await {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            // One line: the chain of causes, outermost first.
            eprintln!("tidings: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
