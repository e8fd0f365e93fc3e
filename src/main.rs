use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = tidings::cli::Cli::parse();
    tidings::observe::init_logging(cli.log_format, cli.command.default_log_level());
    match tidings::cli::run(cli).await {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            // One line: the chain of causes, outermost first.
            eprintln!("tidings: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
