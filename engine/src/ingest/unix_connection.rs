//! A connection accepted on the ingestion API's unix socket, with the
//! client's `:authority` made acceptable to the HTTP/2 server on the way in
//! (see [`super::authority`]). Writes go straight to the socket.

use super::authority::AuthorityRewriter;
use bytes::BytesMut;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::server::Connected;

/// How much is read from the socket at a time.
const READ_CHUNK: usize = 16 * 1024;

/// An accepted unix-socket connection, filtered (see the module docs).
pub struct UnixConnection<S> {
    inner: S,
    rewriter: AuthorityRewriter,
    /// Read from the socket, not yet decided on (a partial frame).
    raw: BytesMut,
    /// Decided on, not yet read by the server.
    ready: BytesMut,
    scratch: Box<[u8]>,
    eof: bool,
}

impl<S> UnixConnection<S> {
    pub fn new(inner: S) -> UnixConnection<S> {
        UnixConnection {
            inner,
            rewriter: AuthorityRewriter::new(),
            raw: BytesMut::new(),
            ready: BytesMut::new(),
            scratch: vec![0u8; READ_CHUNK].into_boxed_slice(),
            eof: false,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for UnixConnection<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.ready.is_empty() {
                let take = buf.remaining().min(this.ready.len());
                buf.put_slice(&this.ready.split_to(take));
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                // A partial frame left at the end is dropped: the server
                // sees the connection end, as it would have anyway.
                return Poll::Ready(Ok(()));
            }
            let mut read = ReadBuf::new(&mut this.scratch);
            match Pin::new(&mut this.inner).poll_read(cx, &mut read) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                Poll::Ready(Ok(())) if read.filled().is_empty() => this.eof = true,
                Poll::Ready(Ok(())) => {
                    this.raw.extend_from_slice(read.filled());
                    this.rewriter
                        .process(&mut this.raw, &mut this.ready)
                        .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))?;
                }
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for UnixConnection<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl<S: Connected> Connected for UnixConnection<S> {
    type ConnectInfo = S::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}
