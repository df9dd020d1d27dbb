//! The command line: one file per subcommand. `main` only parses, dispatches and maps errors to
//! exit codes (0 success, 1 failure, 2 usage).

mod check;
mod dry_run;
mod send;
mod serve;
mod sign;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "hookroute", version, about = "Receive, verify, route and forward webhooks")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service.
    Serve {
        /// The rules file (reloaded when it changes or on SIGHUP).
        #[arg(long, env = "HOOKROUTE_RULES")]
        rules: PathBuf,
        /// Address to listen on.
        #[arg(long, env = "HOOKROUTE_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Reload only on SIGHUP: do not watch or poll the rules file.
        #[arg(long)]
        no_watch: bool,
    },
    /// Validate a rules file; print every problem as FILE:LINE:COL: message.
    Check {
        #[arg(long, env = "HOOKROUTE_RULES")]
        rules: PathBuf,
    },
    /// Dry run: show which rules an event matches and the requests it would send. Sends nothing.
    Test {
        #[arg(long, env = "HOOKROUTE_RULES")]
        rules: PathBuf,
        /// The source the event arrives on (default: the only source, if there is one).
        #[arg(long)]
        source: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// A JSON event body, as the sender would POST it.
        event_file: PathBuf,
    },
    /// Print the House Check signature (hex HMAC-SHA256) of a file, or of stdin.
    Sign {
        #[arg(long, env = "HOOKROUTE_SECRET", hide_env_values = true)]
        secret: String,
        file: Option<PathBuf>,
    },
    /// Sign an event file and POST it, as House Check would.
    Send {
        /// e.g. http://127.0.0.1:8080/hooks/house-check
        #[arg(long)]
        url: String,
        #[arg(long, env = "HOOKROUTE_SECRET", hide_env_values = true)]
        secret: String,
        /// The header carrying the signature.
        #[arg(long, default_value = "signature")]
        header: String,
        event_file: PathBuf,
    },
}

/// Runs a parsed command; the returned code is the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Serve { rules, listen, no_watch } => serve::run(&rules, listen, !no_watch),
        Command::Check { rules } => Ok(check::run(&rules)),
        Command::Test { rules, source, json, event_file } => dry_run::run(&rules, source.as_deref(), json, &event_file),
        Command::Sign { secret, file } => sign::run(&secret, file.as_deref()),
        Command::Send { url, secret, header, event_file } => send::run(&url, &secret, &header, &event_file),
    }
}
