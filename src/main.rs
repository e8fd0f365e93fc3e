use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use tidings::observe;

/// How long exit waits for blocking work still running: a write finishing
/// is worth a moment, a read stuck on a pipe that shutdown gave up on is not.
const BLOCKING_GRACE: Duration = Duration::from_secs(1);

fn main() -> ExitCode {
    let cli = tidings::cli::Cli::parse();
    observe::init_logging(cli.log_format, cli.command.default_log_level());
    let result = tokio::runtime::Runtime::new()
        .context("starting the async runtime")
        .and_then(|runtime| {
            let result = runtime.block_on(tidings::cli::run(cli));
            runtime.shutdown_timeout(BLOCKING_GRACE);
            result
        });
    match result {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            // One line: the chain of causes, outermost first.
            let message = observe::error_chain(&e);
            observe::console(
                tracing::Level::ERROR,
                &format!("tidings: error: {message}"),
                &message,
                serde_json::Map::new(),
            );
            ExitCode::FAILURE
        }
    }
}
