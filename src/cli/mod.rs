//! The command line: one file per subcommand. `main` only parses, dispatches and maps errors to
//! exit codes (0 success, 1 failure, 2 usage).

mod check;
mod deliveries;
mod diff;
mod dry_run;
mod send;
mod serve;
mod sign;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::store::Status;

/// `println!` that returns an error instead of panicking when stdout is closed early
/// (`hookroute deliveries | head`); `main` exits quietly on that error.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*)?
    }};
}
pub(crate) use say;

/// Opens the store `serve` runs on, creating it when missing; the error names the URL without its
/// password.
pub(crate) async fn open_store(url: &str) -> anyhow::Result<std::sync::Arc<dyn crate::store::Store>> {
    use anyhow::Context as _;
    crate::store::open(url)
        .await
        .with_context(|| format!("cannot open the store {}", crate::store::redact_url(url)))
}

/// Opens a store that must exist already (`deliveries`, `replay`, `prune`, `diff`): a mistyped
/// SQLite path is an error naming it, not a new empty database.
pub(crate) async fn open_existing_store(
    url: &str,
) -> anyhow::Result<std::sync::Arc<dyn crate::store::Store>> {
    use anyhow::Context as _;
    crate::store::open_existing(url)
        .await
        .with_context(|| format!("cannot open the store {}", crate::store::redact_url(url)))
}

/// The embedded store, in the working directory.
pub const DEFAULT_STORE: &str = "sqlite://hookroute.db";

#[derive(Debug, Parser)]
#[command(name = "hookroute", version, about = "Receive, verify, route and forward webhooks")]
pub struct Cli {
    /// Log lines as `text` (for people) or `json` (one object per line, for log pipelines).
    #[arg(long, global = true, env = "HOOKROUTE_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where the admin listener goes: an address, or `off`.
#[derive(Debug, Clone, Copy)]
pub struct AdminListen(pub Option<SocketAddr>);

impl std::str::FromStr for AdminListen {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("off") {
            return Ok(Self(None));
        }
        s.parse().map(|a| Self(Some(a))).map_err(|_| format!("`{s}` is not ADDR:PORT or `off`"))
    }
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
        /// Where events and deliveries are stored.
        #[arg(long, env = "HOOKROUTE_STORE", default_value = DEFAULT_STORE)]
        store: String,
        /// Seconds that sends in flight may take to finish after SIGTERM/SIGINT.
        #[arg(long, default_value_t = 10)]
        grace: u64,
        /// The operators' listener (dashboard, /api, /metrics, probes), or `off`.
        #[arg(long, env = "HOOKROUTE_ADMIN_LISTEN", default_value = "127.0.0.1:9090")]
        admin_listen: AdminListen,
        /// Bearer token the admin API requires (overrides `settings.admin_token`). Visible in
        /// `ps`: prefer --admin-token-file.
        #[arg(long, env = "HOOKROUTE_ADMIN_TOKEN", hide_env_values = true)]
        admin_token: Option<String>,
        /// A file holding the admin token (one trailing newline ignored; a regular file of at
        /// most 64 KiB), read at start.
        #[arg(long, env = "HOOKROUTE_ADMIN_TOKEN_FILE", conflicts_with = "admin_token")]
        admin_token_file: Option<PathBuf>,
        /// Serve a non-loopback --admin-listen without any token (only behind something that
        /// authenticates operators); without it, such a start is refused.
        #[arg(long, env = "HOOKROUTE_ADMIN_ALLOW_NO_TOKEN")]
        admin_allow_no_token: bool,
    },
    /// List deliveries with their attempts.
    Deliveries {
        #[arg(long, env = "HOOKROUTE_STORE", default_value = DEFAULT_STORE)]
        store: String,
        #[arg(long, value_enum)]
        status: Option<Status>,
        /// Only the deliveries of this event.
        #[arg(long)]
        event: Option<String>,
        /// At most this many, newest first.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Queue deliveries again as a new attempt series (their history stays).
    Replay {
        #[arg(long, env = "HOOKROUTE_STORE", default_value = DEFAULT_STORE)]
        store: String,
        /// Delivery ids, as `deliveries` lists them.
        ids: Vec<i64>,
        /// Every delivery of this event.
        #[arg(long)]
        event: Option<String>,
        /// Every delivery in this state (usually `dead`).
        #[arg(long, value_enum)]
        status: Option<Status>,
        /// With --status: only those that reached it since this time (RFC 3339) or age (`24h`).
        #[arg(long)]
        since: Option<String>,
        /// Also replay deliveries that were delivered (their receivers get them again). Without
        /// it, naming a delivered one by id is refused and --event leaves them alone.
        #[arg(long)]
        force: bool,
    },
    /// Delete finished events older than an age (delivered only, or dead ones too with --dead).
    Prune {
        #[arg(long, env = "HOOKROUTE_STORE", default_value = DEFAULT_STORE)]
        store: String,
        #[arg(long, default_value = "7d")]
        older_than: String,
        /// Also delete events whose deliveries ended dead.
        #[arg(long)]
        dead: bool,
        /// Forget entity keys (sources with `key`) whose last event is older than this, and
        /// threads (`thread:`) without a message since (`settings.state_retention`; default 90d,
        /// as there).
        #[arg(long, default_value = "90d")]
        state_older_than: String,
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
        /// A request header, `NAME: VALUE` (repeatable): for `header:` conditions and senders
        /// whose event type is a header (GitHub, Shopify).
        #[arg(long = "header")]
        headers: Vec<String>,
        /// The previous event of the same entity key (sources with `key`), for `becomes`,
        /// `changed` and `prev`; without it the event is the first of its key.
        #[arg(long)]
        prev: Option<PathBuf>,
        /// A JSON event body, as the sender would POST it.
        event_file: PathBuf,
    },
    /// Print a JSON Schema of the rules file, for editors (see README: editor support).
    Schema,
    /// Route the stored events of a window through NEW rules and print, per event, the deliveries
    /// that would be added or removed. Exit 0: no change; 1: changes; 2: error.
    Diff {
        /// The new rules file.
        #[arg(long)]
        rules: PathBuf,
        #[arg(long, env = "HOOKROUTE_STORE", default_value = DEFAULT_STORE)]
        store: String,
        /// The window: an age (`24h`, `7d`) or an RFC 3339 time.
        #[arg(long, default_value = "24h")]
        since: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
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
        Command::Serve {
            rules,
            listen,
            no_watch,
            store,
            grace,
            admin_listen,
            admin_token,
            admin_token_file,
            admin_allow_no_token,
        } => {
            let admin_token = match admin_token_file {
                Some(path) => Some(admin_token_from_file(&path)?),
                None => admin_token.filter(|t| !t.is_empty()).map(crate::secret::Secret::new),
            };
            serve::run(&serve::ServeArgs {
                rules: &rules,
                listen,
                store: &store,
                watch_file: !no_watch,
                grace: std::time::Duration::from_secs(grace),
                admin_listen: admin_listen.0,
                admin_token,
                admin_allow_no_token,
            })
        }
        Command::Deliveries { store, status, event, limit, json } => {
            deliveries::list(&store, status, event, limit, json)
        }
        Command::Replay { store, ids, event, status, since, force } => {
            deliveries::replay(&store, ids, event, status, since.as_deref(), force)
        }
        Command::Prune { store, older_than, dead, state_older_than } => {
            deliveries::prune(&store, &older_than, dead, &state_older_than)
        }
        Command::Check { rules } => Ok(check::run(&rules)),
        Command::Test { rules, source, json, headers, prev, event_file } => {
            dry_run::run(&rules, source.as_deref(), json, &headers, prev.as_deref(), &event_file)
        }
        Command::Schema => {
            say!("{}", crate::config::schema::rules_file_json());
            Ok(0)
        }
        Command::Diff { rules, store, since, json } => diff::run(&rules, &store, &since, json),
        Command::Sign { secret, file } => sign::run(&secret, file.as_deref()),
        Command::Send { url, secret, header, event_file } => send::run(&url, &secret, &header, &event_file),
    }
}

/// Reads `--admin-token-file`: like a `${file:…}` secret, and never empty.
fn admin_token_from_file(path: &std::path::Path) -> anyhow::Result<crate::secret::Secret> {
    let shown = path.display();
    let Some(text) = path.to_str() else {
        anyhow::bail!("--admin-token-file {shown}: the path is not UTF-8");
    };
    let token = crate::config::env::read_secret_file(text)
        .map_err(|e| anyhow::anyhow!("cannot read --admin-token-file {shown}: {e}"))?;
    if token.trim().is_empty() {
        anyhow::bail!("--admin-token-file {shown} is empty");
    }
    Ok(crate::secret::Secret::new(token))
}

#[cfg(test)]
mod tests {
    use super::AdminListen;

    #[test]
    fn an_admin_token_file_must_hold_a_token() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("token");
        std::fs::write(&file, "tok-5a\n").expect("write");
        assert_eq!(
            super::admin_token_from_file(&file).map(|t| t.expose().to_owned()).ok(),
            Some("tok-5a".into())
        );
        std::fs::write(&file, "\n").expect("write");
        let empty = super::admin_token_from_file(&file).expect_err("empty");
        assert!(empty.to_string().ends_with("is empty"), "{empty}");
        let missing = super::admin_token_from_file(&dir.path().join("nope")).expect_err("missing");
        assert!(missing.to_string().starts_with("cannot read --admin-token-file"), "{missing}");
        let device = super::admin_token_from_file(std::path::Path::new("/dev/zero")).expect_err("device");
        assert!(device.to_string().contains("not a regular file"), "{device}");
    }

    #[test]
    fn admin_listen_is_an_address_or_off() {
        assert_eq!("off".parse::<AdminListen>().map(|a| a.0), Ok(None));
        assert_eq!("OFF".parse::<AdminListen>().map(|a| a.0), Ok(None));
        let addr = "127.0.0.1:9090".parse::<AdminListen>().map(|a| a.0.map(|a| a.port()));
        assert_eq!(addr, Ok(Some(9090)));
        let bad = "localhost".parse::<AdminListen>().map(|a| a.0);
        assert_eq!(bad, Err("`localhost` is not ADDR:PORT or `off`".to_owned()));
    }
}
