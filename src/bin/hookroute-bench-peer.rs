//! Load-benchmark helper (not part of the service): `bare ADDR` is the ceiling of the HTTP stack, an
//! axum endpoint that reads the body and answers 200; `receiver ADDR` is a destination that answers
//! 200 "ok" to anything and reports how many requests it got at `GET /count`.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::routing::{get, post};

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(mode), Some(addr)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: hookroute-bench-peer (bare|receiver) ADDR");
        return ExitCode::from(2);
    };
    let app = match mode.as_str() {
        "bare" => Router::new()
            .route("/hooks/{source}", post(|body: Bytes| async move { format!("{}\n", body.len()) })),
        "receiver" => {
            let count = Arc::new(AtomicU64::new(0));
            let seen = Arc::clone(&count);
            Router::new()
                .route("/count", get(move || async move { seen.load(Ordering::Relaxed).to_string() }))
                .fallback(move |_body: Bytes| async move {
                    count.fetch_add(1, Ordering::Relaxed);
                    "ok"
                })
        }
        other => {
            eprintln!("unknown mode `{other}`: bare or receiver");
            return ExitCode::from(2);
        }
    };
    let served = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => axum::serve(listener, app).await,
        Err(e) => Err(e),
    };
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{addr}: {e}");
            ExitCode::from(1)
        }
    }
}
