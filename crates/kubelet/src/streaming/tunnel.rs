//! Port forwarding over WebSocket (`SPDY/3.1+portforward.k8s.io`): the
//! client tunnels SPDY frames in binary messages; the agent unwraps them
//! into a byte stream spliced to a SPDY upgrade of the runtime's
//! port-forward URL, so SPDY itself is never parsed here.

use axum::http::header::HeaderValue;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::proxy::{self, Upstream};
use super::websocket::{self, opcode};
use super::wsio::WsConn;
use super::{Refusal, text};

/// The WebSocket subprotocol of tunneled SPDY port forwarding.
pub const TUNNEL_PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";
/// The SPDY stream protocol of port forwarding.
const PORT_FORWARD_PROTOCOL: &str = "portforward.k8s.io";

/// True when the client asks for a tunnel.
pub fn wants_tunnel(headers: &HeaderMap) -> bool {
    websocket::offered_protocols(headers)
        .iter()
        .any(|p| p == TUNNEL_PROTOCOL)
}

/// Upgrades the runtime's `url` to SPDY and the client to a WebSocket
/// tunnel, then carries the bytes between them.
pub async fn upgrade(mut parts: Parts, url: &str) -> Response {
    let Some(client) = parts.extensions.remove::<OnUpgrade>() else {
        return text(StatusCode::BAD_REQUEST, "Upgrade request required");
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("SPDY/3.1"));
    headers.insert(
        "x-stream-protocol-version",
        HeaderValue::from_static(PORT_FORWARD_PROTOCOL),
    );
    let upstream = match proxy::connect(Method::POST, url, &headers).await {
        Ok(Upstream::Switched(_, u)) => u,
        Ok(Upstream::Refused(r)) => return r,
        Err(r) => return r.into_response(),
    };
    let Some(answer) = websocket::switching(&parts.headers, TUNNEL_PROTOCOL) else {
        return Refusal::new(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key").into_response();
    };
    tokio::spawn(async move {
        if let Some(ws) = WsConn::accept(client).await {
            carry(ws, TokioIo::new(upstream)).await;
        }
    });
    answer
}

/// Binary messages from the client to the runtime's connection and its
/// bytes back as binary messages, until either side ends.
async fn carry<IO>(mut ws: WsConn, upstream: IO)
where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut urd, mut uwr) = tokio::io::split(upstream);
    let outbox = ws.outbox.clone();
    let mut down = tokio::spawn(async move {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match urd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if outbox
                        .send((opcode::BINARY, buf[..n].to_vec()))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
    });
    let up = async {
        loop {
            match ws.reader.next().await {
                Ok(Some(m)) => match m.opcode {
                    opcode::BINARY | opcode::TEXT if uwr.write_all(&m.data).await.is_err() => {
                        break;
                    }
                    opcode::PING => {
                        let _ = ws.outbox.send((opcode::PONG, m.data)).await;
                    }
                    opcode::CLOSE => break,
                    _ => {}
                },
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(error = %e, "websocket read failed");
                    break;
                }
            }
        }
    };
    tokio::select! {
        _ = up => down.abort(),
        _ = &mut down => {}
    }
    let _ = uwr.shutdown().await;
    ws.finish().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::streaming::websocket::test_client;

    #[tokio::test]
    async fn binary_messages_are_unwrapped_both_ways() {
        let (ours, mut runtime) = tokio::io::duplex(1 << 16);
        let (ws, mut client) = tokio::io::duplex(1 << 16);
        let task = tokio::spawn(carry(WsConn::over(ws), ours));
        let mut wire = test_client::frame(false, opcode::BINARY, b"spdy ");
        wire.extend(test_client::frame(true, opcode::CONTINUATION, b"frames"));
        client.write_all(&wire).await.unwrap();
        let mut got = [0u8; 11];
        runtime.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"spdy frames");

        runtime.write_all(b"reply").await.unwrap();
        assert_eq!(
            test_client::read(&mut client).await,
            (opcode::BINARY, b"reply".to_vec())
        );
        client
            .write_all(&test_client::frame(true, opcode::PING, b"p"))
            .await
            .unwrap();
        assert_eq!(
            test_client::read(&mut client).await,
            (opcode::PONG, b"p".to_vec())
        );
        // The runtime hangs up: the client is told with a close frame.
        drop(runtime);
        assert_eq!(test_client::read(&mut client).await.0, opcode::CLOSE);
        task.await.unwrap();
    }
}
