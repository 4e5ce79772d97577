//! Exec and attach over WebSocket with the `v5.channel.k8s.io` subprotocol,
//! translated to SPDY (`v4.channel.k8s.io`) towards the runtime's streaming
//! server, which knows nothing of v5. Every binary message starts with its
//! channel: 0 stdin, 1 stdout, 2 stderr, 3 error (the exit status), 4
//! resize, and, new in v5, 255 "close stream" whose one byte names the
//! channel the client is done with (stdin's end of file).

use std::time::Duration;

use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use rkube_spdy::{Headers, Session, Stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinSet;

use super::options::StreamOptions;
use super::proxy::{self, Upstream};
use super::websocket::{self, opcode};
use super::wsio::{Outbox, WsConn};
use super::{Refusal, text};

/// The WebSocket subprotocol translated here.
pub const V5: &str = "v5.channel.k8s.io";
/// The SPDY stream protocol spoken to the runtime.
const V4: &str = "v4.channel.k8s.io";
/// WebSocket subprotocols the runtime serves itself.
pub const LEGACY: [&str; 5] = [
    "v4.channel.k8s.io",
    "v3.channel.k8s.io",
    "v2.channel.k8s.io",
    "channel.k8s.io",
    "base64.channel.k8s.io",
];
/// Bound on the runtime answering a new stream.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;
const CLOSE_STREAM: u8 = 255;

/// How a WebSocket exec or attach request is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsMode {
    /// v5: translated to SPDY here.
    Translate,
    /// v1–v4: the runtime's own WebSocket server takes it as it is.
    PassThrough,
}

/// Picks how to serve a WebSocket request, or refuses it.
pub fn ws_mode(headers: &HeaderMap) -> Result<WsMode, Refusal> {
    let offered = websocket::offered_protocols(headers);
    if offered.iter().any(|p| p == V5) {
        Ok(WsMode::Translate)
    } else if offered.iter().any(|p| LEGACY.contains(&p.as_str())) {
        Ok(WsMode::PassThrough)
    } else {
        Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            format!("none of the offered WebSocket subprotocols {offered:?} is supported"),
        ))
    }
}

/// The SPDY streams of one exec or attach.
struct Streams {
    error: Stream,
    stdin: Option<Stream>,
    stdout: Option<Stream>,
    stderr: Option<Stream>,
    resize: Option<Stream>,
}

async fn open(session: &Session, kind: &str) -> Result<Stream, Refusal> {
    let headers = Headers::new().with("streamType", kind);
    match tokio::time::timeout(OPEN_TIMEOUT, session.open(headers)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(Refusal::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("opening the {kind} stream: {e}"),
        )),
        Err(_) => Err(Refusal::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("opening the {kind} stream: timed out"),
        )),
    }
}

/// Opens the streams the runtime expects for `opts` (it waits for exactly those).
async fn open_streams(session: &Session, opts: &StreamOptions) -> Result<Streams, Refusal> {
    let error = open(session, "error").await?;
    let maybe = async |want: bool, kind: &str| -> Result<Option<Stream>, Refusal> {
        if want {
            Ok(Some(open(session, kind).await?))
        } else {
            Ok(None)
        }
    };
    let stdin = maybe(opts.stdin, "stdin").await?;
    let stdout = maybe(opts.stdout, "stdout").await?;
    let stderr = maybe(opts.stderr && !opts.tty, "stderr").await?;
    let resize = maybe(opts.tty, "resize").await?;
    Ok(Streams {
        error,
        stdin,
        stdout,
        stderr,
        resize,
    })
}

/// Upgrades the runtime's `url` to SPDY, opens the streams, answers the
/// client's WebSocket upgrade with v5 and translates between the two.
pub async fn upgrade(mut parts: Parts, url: &str, opts: &StreamOptions) -> Response {
    let Some(client) = parts.extensions.remove::<OnUpgrade>() else {
        return text(StatusCode::BAD_REQUEST, "Upgrade request required");
    };
    let headers = match rkube_spdy::upgrade::client_request_headers(&[V4]) {
        Ok(h) => h,
        Err(e) => return text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let (answer_headers, upstream) = match proxy::connect(Method::POST, url, &headers).await {
        Ok(Upstream::Switched(h, u)) => (h, u),
        Ok(Upstream::Refused(r)) => return r,
        Err(r) => return r.into_response(),
    };
    match rkube_spdy::upgrade::negotiated_protocol(StatusCode::SWITCHING_PROTOCOLS, &answer_headers)
    {
        Ok(Some(p)) if p == V4 => {}
        other => {
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the runtime's streaming server did not agree to {V4}: {other:?}"),
            );
        }
    }
    let session = match Session::client(TokioIo::new(upstream)) {
        Ok(s) => s,
        Err(e) => return text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let streams = match open_streams(&session, opts).await {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let Some(answer) = websocket::switching(&parts.headers, V5) else {
        return text(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key");
    };
    tokio::spawn(async move {
        if let Some(ws) = WsConn::accept(client).await {
            translate(ws, streams).await;
        }
        drop(session);
    });
    answer
}

/// Copies one output stream into messages of `channel`.
async fn pump(mut stream: Stream, channel: u8, outbox: Outbox) {
    let mut buf = vec![0u8; 32 * 1024];
    buf[0] = channel;
    loop {
        match stream.read(&mut buf[1..]).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if outbox
                    .send((opcode::BINARY, buf[..=n].to_vec()))
                    .await
                    .is_err()
                {
                    break;
                }
            }
        }
    }
}

async fn translate(mut ws: WsConn, streams: Streams) {
    let Streams {
        error,
        mut stdin,
        stdout,
        stderr,
        mut resize,
    } = streams;
    let mut outputs = JoinSet::new();
    for (s, ch) in [(stdout, STDOUT), (stderr, STDERR), (Some(error), ERROR)] {
        if let Some(s) = s {
            outputs.spawn(pump(s, ch, ws.outbox.clone()));
        }
    }
    let input = async {
        loop {
            let m = match ws.reader.next().await {
                Ok(Some(m)) => m,
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(error = %e, "websocket read failed");
                    break;
                }
            };
            match m.opcode {
                opcode::BINARY => {}
                opcode::PING => {
                    let _ = ws.outbox.send((opcode::PONG, m.data)).await;
                    continue;
                }
                opcode::CLOSE => break,
                _ => continue,
            }
            let Some((&channel, data)) = m.data.split_first() else {
                continue;
            };
            match channel {
                STDIN => {
                    if let Some(s) = stdin.as_mut()
                        && s.write_all(data).await.is_err()
                    {
                        stdin = None;
                    }
                }
                RESIZE => {
                    if let Some(s) = resize.as_mut()
                        && s.write_all(data).await.is_err()
                    {
                        resize = None;
                    }
                }
                CLOSE_STREAM => match data.first() {
                    // Dropping a stream after FIN leaves it half closed.
                    Some(&STDIN) => {
                        if let Some(mut s) = stdin.take() {
                            let _ = s.close_write().await;
                        }
                    }
                    Some(&RESIZE) => {
                        if let Some(mut s) = resize.take() {
                            let _ = s.close_write().await;
                        }
                    }
                    _ => {}
                },
                _ => {}
            }
        }
    };
    let outputs_done = async { while outputs.join_next().await.is_some() {} };
    tokio::select! {
        _ = input => {}
        _ = outputs_done => {}
    }
    ws.finish().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::streaming::websocket::test_client;
    use std::collections::HashMap;

    const STATUS: &[u8] = br#"{"metadata":{},"status":"Success"}"#;

    #[tokio::test]
    async fn v5_messages_become_spdy_streams_and_back() {
        let (ours, theirs) = tokio::io::duplex(1 << 16);
        let session = Session::client(ours).unwrap();
        let runtime = Session::server(theirs).unwrap();
        // The runtime: stdin upper-cased on stdout once stdin ends, a word
        // on stderr, then the status.
        let fake = tokio::spawn(async move {
            let mut streams = HashMap::new();
            for _ in 0..4 {
                let s = runtime.accept().await.unwrap();
                let kind = s.headers().get("streamType").unwrap().to_string();
                streams.insert(kind, s);
            }
            let mut input = Vec::new();
            let mut stdin = streams.remove("stdin").unwrap();
            stdin.read_to_end(&mut input).await.unwrap();
            for (kind, data) in [
                ("stdout", input.to_ascii_uppercase()),
                ("stderr", b"warn".to_vec()),
                ("error", STATUS.to_vec()),
            ] {
                let mut s = streams.remove(kind).unwrap();
                s.write_all(&data).await.unwrap();
                s.close_write().await.unwrap();
            }
            runtime
        });
        let opts = StreamOptions {
            stdin: true,
            stdout: true,
            stderr: true,
            ..Default::default()
        };
        let streams = open_streams(&session, &opts).await.unwrap();
        let (ws, mut client) = tokio::io::duplex(1 << 16);
        let task = tokio::spawn(async move {
            translate(WsConn::over(ws), streams).await;
            drop(session);
        });
        for msg in [&b"\0hello "[..], b"\0world", &[CLOSE_STREAM, STDIN]] {
            client
                .write_all(&test_client::frame(true, opcode::BINARY, msg))
                .await
                .unwrap();
        }
        let mut got: HashMap<u8, Vec<u8>> = HashMap::new();
        loop {
            let (op, data) = test_client::read(&mut client).await;
            if op == opcode::CLOSE {
                break;
            }
            assert_eq!(op, opcode::BINARY);
            got.entry(data[0])
                .or_default()
                .extend_from_slice(&data[1..]);
        }
        assert_eq!(got[&STDOUT], b"HELLO WORLD");
        assert_eq!(got[&STDERR], b"warn");
        assert_eq!(got[&ERROR], STATUS);
        task.await.unwrap();
        drop(fake.await.unwrap());
    }
    use axum::http::HeaderValue;
    use axum::http::header::SEC_WEBSOCKET_PROTOCOL;

    fn offering(p: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_str(p).unwrap());
        h
    }

    #[test]
    fn v5_is_translated_and_older_channels_pass_through() {
        assert_eq!(ws_mode(&offering(V5)), Ok(WsMode::Translate));
        assert_eq!(
            ws_mode(&offering("v4.channel.k8s.io, v5.channel.k8s.io")),
            Ok(WsMode::Translate)
        );
        assert_eq!(
            ws_mode(&offering("v4.channel.k8s.io")),
            Ok(WsMode::PassThrough)
        );
        assert!(ws_mode(&offering("v9.channel.k8s.io")).is_err());
        assert!(ws_mode(&HeaderMap::new()).is_err());
    }
}
