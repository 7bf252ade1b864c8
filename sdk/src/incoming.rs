//! The stream of accepted connections handed to tonic, plain or TLS.
//!
//! tonic serves whatever stream of connections it is given. Here a listener
//! becomes that stream, with two properties tonic's own loop lacks: an accept
//! error (e.g. out of file descriptors) is logged and retried after a short
//! pause instead of spinning, and with AutoMTLS each TLS handshake runs in its
//! own task with a deadline, so one slow or foreign client (wrong certificate,
//! garbage, a port scanner) is logged at warn and dropped while the plugin
//! keeps accepting everyone else.

use std::io;
use std::time::Duration;

use futures::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_stream::wrappers::ReceiverStream;

/// How long a client may take to complete the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The pause after a failed `accept`, so a persistent error does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Plain connections: accept errors are logged and skipped.
pub(crate) fn plain<L, IO>(listener: L) -> impl Stream<Item = io::Result<IO>> + Send
where
    L: Stream<Item = io::Result<IO>> + Send,
    IO: Send,
{
    listener.filter_map(|accepted| async move {
        match accepted {
            Ok(io) => Some(Ok(io)),
            Err(err) => {
                accept_failed(&err).await;
                None
            }
        }
    })
}

/// TLS connections: each handshake in its own task; failures are logged and dropped.
pub(crate) fn tls<L, IO>(
    listener: L,
    acceptor: TlsAcceptor,
) -> ReceiverStream<io::Result<TlsStream<IO>>>
where
    L: Stream<Item = io::Result<IO>> + Send + Unpin + 'static,
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (ready, incoming) = mpsc::channel(16);
    tokio::spawn(async move {
        let mut listener = listener;
        loop {
            let next = tokio::select! {
                // tonic stopped taking connections: the server is stopping.
                () = ready.closed() => break,
                next = listener.next() => next,
            };
            match next {
                None => break,
                Some(Err(err)) => accept_failed(&err).await,
                Some(Ok(io)) => {
                    let acceptor = acceptor.clone();
                    let ready = ready.clone();
                    tokio::spawn(async move {
                        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(io)).await {
                            Ok(Ok(stream)) => {
                                let _ = ready.send(Ok(stream)).await;
                            }
                            Ok(Err(err)) => tracing::warn!(
                                error = %err,
                                "refused a connection: the TLS handshake failed (AutoMTLS accepts only the host's certificate); still serving"
                            ),
                            Err(_) => tracing::warn!(
                                timeout_secs = TLS_HANDSHAKE_TIMEOUT.as_secs(),
                                "refused a connection: the TLS handshake did not complete in time; still serving"
                            ),
                        }
                    });
                }
            }
        }
    });
    ReceiverStream::new(incoming)
}

async fn accept_failed(err: &io::Error) {
    tracing::warn!(error = %err, "accepting a connection failed; retrying");
    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
}
