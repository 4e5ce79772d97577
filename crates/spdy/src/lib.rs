//! SPDY/3.1 as Kubernetes streaming uses it: `kubectl exec`, `attach` and
//! `port-forward` between kubectl, the API server, the kubelet and the
//! runtime's CRI streaming server, after an HTTP/1.1 upgrade
//! (`Upgrade: SPDY/3.1`).
//!
//! - [`Session`] runs one connection (any `AsyncRead + AsyncWrite` byte
//!   stream) as [`Session::client`] (the side that sent the upgrade request:
//!   it opens the streams) or [`Session::server`] (it [`Session::accept`]s
//!   them; each is answered with SYN_REPLY at once).
//! - [`Stream`] is one stream: the peer's [`Headers`], `AsyncRead` of its
//!   data until FIN, `AsyncWrite` of ours, [`Stream::close_write`] (FIN) and
//!   [`Stream::reset`].
//! - Flow control is SPDY/3.1's: 64 KiB stream and session windows, a
//!   SETTINGS frame announcing ours first thing, WINDOW_UPDATE as the
//!   application reads, and the peer's windows (and its
//!   SETTINGS_INITIAL_WINDOW_SIZE) honoured — once the peer shows it does
//!   flow control (it sent SETTINGS or WINDOW_UPDATE). Kubernetes' own peers
//!   (Go's spdystream) speak SPDY/3 framing without flow control: they never
//!   open a window, so a sender that waited would stall after 64 KiB, and
//!   they get no WINDOW_UPDATE from us either. Against them the reader
//!   applies back-pressure instead: it stops reading the connection while a
//!   stream holds 1 MiB unread.
//! - A stream the peer resets with CANCEL reads as ended once its buffered
//!   data is read (upstream closes a connection that way right after the
//!   last data); other resets are errors.
//! - PINGs are answered; GOAWAY from the peer ends [`Session::accept`] and
//!   [`Session::open`]; the connection closes when every handle is dropped.
//! - [`upgrade`] has the HTTP/1.1 handshake helpers (`X-Stream-Protocol-Version`
//!   negotiation), [`frame`] the frame codec.
//!
//! Notes for Kubernetes streaming, seen against the real peers:
//! - exec/attach (`v4.channel.k8s.io` and older): the client opens the
//!   streams, each with a `streamType` header (`error`, then `stdin`,
//!   `stdout`, `stderr`, `resize` with a TTY); the server answers with a
//!   JSON `Status` on the error stream (`Success`, or `Failure` with reason
//!   `NonZeroExitCode` and an `ExitCode` cause) and closes. kubectl never
//!   half-closes its error stream, and upstream's server ends an exec at
//!   once, without output or status, if a client does.
//! - port-forward (`portforward.k8s.io`): per connection the client opens an
//!   `error` and a `data` stream with the same `port` and `requestID`
//!   headers, and half-closes the error stream at once.
//!
//! ```no_run
//! # async fn demo(io: tokio::net::TcpStream) -> Result<(), rkube_spdy::Error> {
//! use rkube_spdy::{Headers, Session};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! let session = Session::client(io)?;
//! let mut stdin = session.open(Headers::new().with("streamType", "stdin")).await?;
//! stdin.write_all(b"hello\n").await?;
//! stdin.close_write().await?;
//! let mut stdout = session.open(Headers::new().with("streamType", "stdout")).await?;
//! let mut out = Vec::new();
//! stdout.read_to_end(&mut out).await?;
//! # Ok(())
//! # }
//! ```

mod compression;
mod dictionary;
pub mod error;
pub mod frame;
mod headers;
mod session;
mod stream;
pub mod upgrade;

#[cfg(test)]
mod tests;

pub use error::{Error, Result};
pub use frame::RstStatus;
pub use headers::Headers;
pub use session::{DEFAULT_WINDOW, Role, Session};
pub use stream::Stream;
