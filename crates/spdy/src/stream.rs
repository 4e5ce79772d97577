//! One SPDY stream: an async reader and writer of its DATA frames.

use crate::frame::{Frame, RstStatus};
use crate::headers::Headers;
use crate::session::{MAX_CHUNK, QUEUE_LIMIT, Shared};
use bytes::{Buf, Bytes};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A stream of a [`Session`](crate::Session). Reading yields the peer's DATA
/// until its FIN (then EOF); writing sends DATA within the peer's windows;
/// [`AsyncWriteExt::shutdown`](tokio::io::AsyncWriteExt::shutdown) or
/// [`Stream::close_write`] sends FIN. Dropping the handle half-closes it
/// (FIN) and discards whatever the peer still sends.
pub struct Stream {
    shared: Arc<Shared>,
    id: u32,
    headers: Headers,
}

impl Stream {
    pub(crate) fn new(shared: Arc<Shared>, id: u32, headers: Headers) -> Self {
        Self {
            shared,
            id,
            headers,
        }
    }

    pub(crate) fn set_headers(&mut self, headers: Headers) {
        self.headers = headers;
    }

    /// The stream id (odd when the client opened it).
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The headers the peer sent: its SYN_STREAM for an accepted stream,
    /// its SYN_REPLY for one this side opened.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// Sends FIN: this side writes no more; reading goes on.
    pub async fn close_write(&mut self) -> io::Result<()> {
        tokio::io::AsyncWriteExt::shutdown(self).await
    }

    /// Aborts the stream both ways (RST_STREAM with `status`).
    pub fn reset(self, status: RstStatus) {
        let mut st = self.shared.state.lock();
        if st.closed {
            return;
        }
        if let Some(s) = st.streams.get_mut(&self.id)
            && s.reset.is_none()
        {
            s.reset = Some(status);
            st.send(Frame::RstStream {
                stream_id: self.id,
                status,
            });
        }
    }
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("id", &self.id)
            .field("headers", &self.headers)
            .finish()
    }
}

fn reset_error(id: u32, status: RstStatus) -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        format!("SPDY stream {id} reset: {status}"),
    )
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let id = self.id;
        let mut st = self.shared.state.lock();
        let closed = st.closed;
        let Some(s) = st.streams.get_mut(&id) else {
            return Poll::Ready(Ok(()));
        };
        if let Some(chunk) = s.recv.front_mut() {
            let n = chunk.len().min(buf.remaining());
            buf.put_slice(&chunk[..n]);
            chunk.advance(n);
            if chunk.is_empty() {
                s.recv.pop_front();
            }
            s.recv_buffered -= n;
            st.consumed(id, n);
            drop(st);
            self.shared.drained.notify_waiters();
            return Poll::Ready(Ok(()));
        }
        match s.reset {
            // Upstream tears a connection down by resetting every stream
            // with CANCEL right after the last data: that ends the data.
            Some(RstStatus::CANCEL) => return Poll::Ready(Ok(())),
            Some(status) => return Poll::Ready(Err(reset_error(id, status))),
            None => {}
        }
        if s.recv_fin || closed {
            // EOF; a connection that ends counts as the end of every stream,
            // as upstream's SPDY implementation does.
            return Poll::Ready(Ok(()));
        }
        s.read_waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let id = self.id;
        let mut st = self.shared.state.lock();
        if st.closed {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let queue_full = st.queued_bytes >= QUEUE_LIMIT;
        let enforce = st.peer_flow_control;
        let session_window = st.session_send_window;
        let Some(s) = st.streams.get_mut(&id) else {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        };
        if let Some(status) = s.reset {
            return Poll::Ready(Err(reset_error(id, status)));
        }
        if s.local_fin {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                format!("SPDY stream {id} is closed for writing"),
            )));
        }
        let mut n = buf.len().min(MAX_CHUNK);
        if enforce {
            let window = s.send_window.min(session_window);
            if window <= 0 {
                s.write_waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
            n = n.min(window as usize);
        }
        if queue_full {
            s.write_waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        s.send_window -= n as i64;
        st.session_send_window -= n as i64;
        st.queued_bytes += n;
        st.send(Frame::Data {
            stream_id: id,
            fin: false,
            data: Bytes::copy_from_slice(&buf[..n]),
        });
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // The writer task flushes whenever its queue runs empty.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let id = self.id;
        let mut st = self.shared.state.lock();
        if st.closed {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let Some(s) = st.streams.get_mut(&id) else {
            return Poll::Ready(Ok(()));
        };
        if let Some(status) = s.reset {
            return Poll::Ready(Err(reset_error(id, status)));
        }
        if !s.local_fin {
            s.local_fin = true;
            st.send(Frame::Data {
                stream_id: id,
                fin: true,
                data: Bytes::new(),
            });
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        let id = self.id;
        let mut st = self.shared.state.lock();
        let closed = st.closed;
        if let Some(s) = st.streams.get_mut(&id) {
            s.handle = false;
            let discarded = s.recv_buffered;
            s.recv.clear();
            s.recv_buffered = 0;
            let send_fin = !s.local_fin && s.reset.is_none() && !closed;
            s.local_fin = true;
            st.consumed(id, discarded);
            if send_fin {
                st.send(Frame::Data {
                    stream_id: id,
                    fin: true,
                    data: Bytes::new(),
                });
            }
            st.maybe_remove(id);
        }
        st.release_handle();
        drop(st);
        self.shared.drained.notify_waiters();
    }
}
