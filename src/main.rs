use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = hookroute::cli::Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("HOOKROUTE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a terminal (not for journald, files or pipes), and never with NO_COLOR set.
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match cli.log_format {
        hookroute::cli::LogFormat::Text => logs.fmt_fields(hookroute::logfmt::text_fields()).init(),
        hookroute::cli::LogFormat::Json => logs.json().flatten_event(true).with_current_span(false).init(),
    }
    match hookroute::cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        // The reader of our output went away (`hookroute deliveries | head`): not an error. Only a
        // bare write error (`say!`) counts: a broken pipe under a context is a real failure (a
        // database connection closed while the store opened).
        Err(e)
            if e.chain().count() == 1
                && e.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
