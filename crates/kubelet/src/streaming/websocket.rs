//! The server side of WebSocket (RFC 6455) as Kubernetes streaming uses it:
//! the handshake answer, and a frame reader and writer over an upgraded
//! connection. Messages are whole (fragments are joined); control frames
//! (ping, pong, close) come back as their own messages.

use std::io;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The GUID of RFC 6455's accept key.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// The largest message accepted.
pub const MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// Frame opcodes.
pub mod opcode {
    /// Continues a fragmented message.
    pub const CONTINUATION: u8 = 0x0;
    /// A text message.
    pub const TEXT: u8 = 0x1;
    /// A binary message.
    pub const BINARY: u8 = 0x2;
    /// Closes the connection.
    pub const CLOSE: u8 = 0x8;
    /// Asks for a pong.
    pub const PING: u8 = 0x9;
    /// Answers a ping.
    pub const PONG: u8 = 0xA;
}

/// True for a WebSocket upgrade request.
pub fn is_websocket(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"))
}

/// The subprotocols the client offers, in its order.
pub fn offered_protocols(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// `Sec-WebSocket-Accept` for the client's `Sec-WebSocket-Key`.
pub fn accept_key(key: &str) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(key.trim().as_bytes());
    ctx.update(GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(ctx.finish().as_ref())
}

/// The `101 Switching Protocols` answer choosing `protocol`; `None` when the
/// request lacks a key.
pub fn switching(headers: &HeaderMap, protocol: &str) -> Option<Response> {
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .and_then(|v| v.to_str().ok())?;
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(
        header::SEC_WEBSOCKET_ACCEPT,
        HeaderValue::from_str(&accept_key(key)).ok()?,
    );
    h.insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_str(protocol).ok()?,
    );
    Some(r)
}

/// One message: its opcode (of the first frame) and its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// [`opcode`]`::BINARY`, `TEXT`, `CLOSE`, `PING` or `PONG`.
    pub opcode: u8,
    /// The (unmasked) payload.
    pub data: Vec<u8>,
}

fn invalid(m: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, m.to_string())
}

/// Reads messages from a client.
pub struct Reader<R> {
    io: R,
    /// A fragmented message not yet complete.
    partial: Option<Message>,
}

impl<R: AsyncRead + Unpin> Reader<R> {
    /// A reader over `io`.
    pub fn new(io: R) -> Self {
        Reader { io, partial: None }
    }

    /// One frame: (fin, opcode, payload).
    async fn frame(&mut self) -> io::Result<(bool, u8, Vec<u8>)> {
        let mut head = [0u8; 2];
        self.io.read_exact(&mut head).await?;
        let fin = head[0] & 0x80 != 0;
        let op = head[0] & 0x0f;
        let masked = head[1] & 0x80 != 0;
        let len = match head[1] & 0x7f {
            126 => u64::from(self.io.read_u16().await?),
            127 => self.io.read_u64().await?,
            n => u64::from(n),
        };
        let len = usize::try_from(len)
            .ok()
            .filter(|l| *l <= MAX_MESSAGE)
            .ok_or_else(|| invalid("websocket frame too large"))?;
        let mut mask = [0u8; 4];
        if masked {
            self.io.read_exact(&mut mask).await?;
        }
        let mut data = vec![0u8; len];
        self.io.read_exact(&mut data).await?;
        if masked {
            for (i, b) in data.iter_mut().enumerate() {
                *b ^= mask[i % 4];
            }
        }
        Ok((fin, op, data))
    }

    /// The next message; `None` at the end of the connection.
    pub async fn next(&mut self) -> io::Result<Option<Message>> {
        loop {
            let (fin, op, data) = match self.frame().await {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && self.partial.is_none() => {
                    return Ok(None);
                }
                Err(e) => return Err(e),
            };
            if op >= opcode::CLOSE {
                // Control frames may come between fragments.
                return Ok(Some(Message { opcode: op, data }));
            }
            match (&mut self.partial, op) {
                (None, opcode::CONTINUATION) => return Err(invalid("continuation of nothing")),
                (None, _) => self.partial = Some(Message { opcode: op, data }),
                (Some(m), opcode::CONTINUATION) => {
                    if m.data.len() + data.len() > MAX_MESSAGE {
                        return Err(invalid("websocket message too large"));
                    }
                    m.data.extend_from_slice(&data);
                }
                (Some(_), _) => return Err(invalid("new message inside a fragmented one")),
            }
            if fin {
                return Ok(self.partial.take());
            }
        }
    }
}

/// Writes one unmasked frame (servers never mask).
pub async fn write_frame<W: AsyncWrite + Unpin>(io: &mut W, op: u8, data: &[u8]) -> io::Result<()> {
    let mut head = Vec::with_capacity(10);
    head.push(0x80 | op);
    match data.len() {
        n if n < 126 => head.push(n as u8),
        n if n <= usize::from(u16::MAX) => {
            head.push(126);
            head.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            head.push(127);
            head.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    io.write_all(&head).await?;
    io.write_all(data).await?;
    io.flush().await
}

/// A close frame's payload: normal closure.
pub const NORMAL_CLOSURE: [u8; 2] = 1000u16.to_be_bytes();

/// The client's side, for tests.
#[cfg(test)]
pub(crate) mod test_client {
    use tokio::io::{AsyncRead, AsyncReadExt};

    /// A masked client frame.
    pub fn frame(fin: bool, op: u8, data: &[u8]) -> Vec<u8> {
        let mask = [1u8, 2, 3, 4];
        let mut f = vec![if fin { 0x80 } else { 0 } | op];
        match data.len() {
            n if n < 126 => f.push(0x80 | n as u8),
            n => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
        }
        f.extend_from_slice(&mask);
        f.extend(data.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        f
    }

    /// Reads one (unmasked, unfragmented) server frame: (opcode, payload).
    pub async fn read<R: AsyncRead + Unpin>(io: &mut R) -> (u8, Vec<u8>) {
        let mut head = [0u8; 2];
        io.read_exact(&mut head).await.unwrap();
        assert_eq!(head[0] & 0x80, 0x80, "a final frame");
        assert_eq!(head[1] & 0x80, 0, "servers do not mask");
        let len = match head[1] & 0x7f {
            126 => usize::from(io.read_u16().await.unwrap()),
            127 => usize::try_from(io.read_u64().await.unwrap()).unwrap(),
            n => usize::from(n),
        };
        let mut data = vec![0u8; len];
        io.read_exact(&mut data).await.unwrap();
        (head[0] & 0x0f, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accept_key_is_rfc_6455s() {
        // The example of RFC 6455 section 1.3.
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[tokio::test]
    async fn fragments_are_joined_and_control_frames_pass_between_them() {
        let big = vec![7u8; 300];
        let mut wire = test_client::frame(false, opcode::BINARY, &[0, 1, 2]);
        wire.extend(test_client::frame(true, opcode::PING, b"hi"));
        wire.extend(test_client::frame(true, opcode::CONTINUATION, &big));
        wire.extend(test_client::frame(true, opcode::CLOSE, &NORMAL_CLOSURE));
        let mut r = Reader::new(&wire[..]);
        assert_eq!(
            r.next().await.unwrap().unwrap(),
            Message {
                opcode: opcode::PING,
                data: b"hi".to_vec()
            }
        );
        let m = r.next().await.unwrap().unwrap();
        assert_eq!(m.opcode, opcode::BINARY);
        assert_eq!(m.data.len(), 303);
        assert_eq!(r.next().await.unwrap().unwrap().opcode, opcode::CLOSE);
        assert_eq!(r.next().await.unwrap(), None);
    }

    #[tokio::test]
    async fn server_frames_are_unmasked_with_the_right_length() {
        let mut out = Vec::new();
        write_frame(&mut out, opcode::BINARY, &[9; 200])
            .await
            .unwrap();
        assert_eq!(&out[..4], &[0x82, 126, 0, 200]);
        assert_eq!(out.len(), 204);
        let mut small = Vec::new();
        write_frame(&mut small, opcode::CLOSE, &NORMAL_CLOSURE)
            .await
            .unwrap();
        assert_eq!(small, [0x88, 2, 0x03, 0xe8]);
    }
}
