//! Errors of SPDY framing, sessions and the upgrade handshake.

use crate::frame::RstStatus;

/// What went wrong on a SPDY connection.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing the underlying connection failed.
    #[error("SPDY connection i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The peer broke the framing rules.
    #[error("SPDY protocol error: {0}")]
    Protocol(String),
    /// A header block did not (de)compress.
    #[error("SPDY header block compression: {0}")]
    Compression(String),
    /// A control frame of another SPDY version.
    #[error("unsupported SPDY version {0}")]
    Version(u16),
    /// The peer reset the stream (RST_STREAM).
    #[error("SPDY stream {id} reset: {status}")]
    Reset { id: u32, status: RstStatus },
    /// The connection is closed (by either side or by an i/o failure).
    #[error("SPDY session closed")]
    Closed,
    /// The peer sent GOAWAY: no new streams.
    #[error("SPDY peer sent GOAWAY")]
    GoneAway,
    /// Every stream id of this side has been used.
    #[error("SPDY stream ids exhausted")]
    StreamIdsExhausted,
    /// The HTTP/1.1 upgrade to SPDY/3.1 failed.
    #[error("SPDY upgrade: {0}")]
    Upgrade(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
