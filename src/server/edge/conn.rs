//! One connection: hyper's HTTP/1 server over the socket, with the head size capped (431), and a
//! watchdog that closes it when its head is slow or it idles between requests. hyper's own
//! `header_read_timeout` is left off: it also runs while a keep-alive connection waits for its
//! next request, so it cannot tell "idle for 60 s" from "a head trickled for 10 s"; the watchdog
//! reads both from the connection's [`Track`].

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tower_service::Service;

use super::registry::{Entry, Track};
use crate::config::EdgeLimits;
use crate::metrics::{Closed, Metrics};

/// hyper refuses a read buffer smaller than this.
const MIN_BUF: usize = 8192;

/// Serves `stream` until the client closes it, the watchdog or the registry does, or shutdown
/// (which lets the request in flight finish).
pub async fn serve(
    stream: TcpStream,
    entry: Entry,
    router: Router,
    limits: EdgeLimits,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    // Declared before the connection, so dropped after it: the registry counts the descriptor
    // free only once the socket is closed.
    let entry = entry;
    let track = Arc::clone(&entry.track);
    let io = TokioIo::new(Watched { inner: stream, track: Arc::clone(&track) });
    let service_track = Arc::clone(&track);
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let busy = service_track.begin();
        let mut router = router.clone();
        async move {
            let response = router.call(request).await;
            drop(busy);
            response
        }
    });
    let mut builder = http1::Builder::new();
    builder
        .header_read_timeout(None)
        .max_header_size(limits.max_head_bytes)
        .max_buf_size(limits.max_head_bytes.max(MIN_BUF));
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let stopping = *shutdown.borrow();
    if !stopping {
        tokio::select! {
            _ = conn.as_mut() => return,
            why = watchdog(&track, &limits) => {
                metrics.edge.closed(why);
                return;
            }
            () = track.close.notified() => return,
            _ = shutdown.changed() => {}
        }
    }
    conn.as_mut().graceful_shutdown();
    tokio::select! {
        _ = conn.as_mut() => {}
        why = watchdog(&track, &limits) => metrics.edge.closed(why),
    }
}

/// Resolves when the connection's deadline passed: its head took longer than the head timeout,
/// or it waited for a next request longer than the idle timeout.
async fn watchdog(track: &Track, limits: &EdgeLimits) -> Closed {
    loop {
        match track.deadline(limits.head_timeout, limits.idle_timeout) {
            None => track.changed.notified().await,
            Some((at, why)) => {
                if tokio::time::Instant::now() >= at {
                    return why;
                }
                tokio::select! {
                    () = tokio::time::sleep_until(at) => {}
                    () = track.changed.notified() => {}
                }
            }
        }
    }
}

/// The socket, telling the connection's [`Track`] when bytes arrive.
struct Watched {
    inner: TcpStream,
    track: Arc<Track>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.track.bytes_read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
