//! The HTTP/1.1 upgrade to SPDY/3.1 and Kubernetes' negotiation of the
//! stream protocol (`X-Stream-Protocol-Version`, e.g. `v4.channel.k8s.io`
//! for exec/attach, `portforward.k8s.io` for port-forward).

use crate::error::{Error, Result};
use http::header::{CONNECTION, HOST, UPGRADE};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The `Upgrade` token.
pub const SPDY_31: &str = "SPDY/3.1";
/// The header that offers (request) and names the chosen (response) stream protocol.
pub const PROTOCOL_VERSION: HeaderName = HeaderName::from_static("x-stream-protocol-version");

/// Largest response head [`client_handshake`] reads.
const MAX_HEAD: usize = 64 * 1024;

/// Headers of an upgrade request offering `protocols` in order of preference.
pub fn client_request_headers(protocols: &[&str]) -> Result<HeaderMap> {
    let mut headers = HeaderMap::new();
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(UPGRADE, HeaderValue::from_static(SPDY_31));
    for protocol in protocols {
        let value = HeaderValue::from_str(protocol)
            .map_err(|_| Error::Upgrade(format!("bad protocol name {protocol:?}")))?;
        headers.append(PROTOCOL_VERSION, value);
    }
    Ok(headers)
}

/// Checks that a response switched to SPDY/3.1 and returns the protocol the
/// server chose (`None` if it named none, the unversioned legacy protocol).
pub fn negotiated_protocol(status: StatusCode, headers: &HeaderMap) -> Result<Option<String>> {
    if status != StatusCode::SWITCHING_PROTOCOLS {
        return Err(Error::Upgrade(format!("server answered {status}")));
    }
    let upgrade = headers
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !upgrade.eq_ignore_ascii_case(SPDY_31) {
        return Err(Error::Upgrade(format!(
            "server upgraded to {upgrade:?}, not {SPDY_31}"
        )));
    }
    Ok(headers
        .get(PROTOCOL_VERSION)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty()))
}

/// Whether a request asks to upgrade to SPDY/3.1.
pub fn is_spdy_upgrade(headers: &HeaderMap) -> bool {
    let has_token = |name, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    has_token(CONNECTION, "upgrade") && has_token(UPGRADE, SPDY_31)
}

/// The protocols a request offers, in its order (repeated headers and
/// comma-separated lists alike).
pub fn offered_protocols(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(PROTOCOL_VERSION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// The first offered protocol the server supports, as upstream chooses.
pub fn choose_protocol<'a>(headers: &HeaderMap, supported: &[&'a str]) -> Option<&'a str> {
    offered_protocols(headers)
        .iter()
        .find_map(|offered| supported.iter().find(|s| **s == offered.as_str()).copied())
}

/// Headers of the `101 Switching Protocols` answer.
pub fn server_response_headers(protocol: Option<&str>) -> Result<HeaderMap> {
    let mut headers = HeaderMap::new();
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(UPGRADE, HeaderValue::from_static(SPDY_31));
    if let Some(protocol) = protocol {
        let value = HeaderValue::from_str(protocol)
            .map_err(|_| Error::Upgrade(format!("bad protocol name {protocol:?}")))?;
        headers.insert(PROTOCOL_VERSION, value);
    }
    Ok(headers)
}

/// Sends the upgrade request for `uri` over a plain connection and reads
/// the answer up to its blank line (nothing more, so the SPDY frames that
/// follow stay unread). Returns the chosen protocol. `extra` adds headers
/// such as `Authorization`.
pub async fn client_handshake<IO>(
    io: &mut IO,
    method: &Method,
    uri: &Uri,
    extra: &HeaderMap,
    protocols: &[&str],
) -> Result<Option<String>>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = format!("{method} {path} HTTP/1.1\r\n");
    let mut headers = client_request_headers(protocols)?;
    if let Some(authority) = uri.authority()
        && !extra.contains_key(HOST)
    {
        headers.insert(
            HOST,
            HeaderValue::from_str(authority.as_str())
                .map_err(|_| Error::Upgrade("bad authority".into()))?,
        );
    }
    for (name, value) in extra {
        headers.append(name, value.clone());
    }
    if *method != Method::GET && !headers.contains_key(http::header::CONTENT_LENGTH) {
        headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    }
    for (name, value) in &headers {
        let value = value
            .to_str()
            .map_err(|_| Error::Upgrade(format!("header {name} is not text")))?;
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    io.write_all(request.as_bytes()).await?;
    io.flush().await?;

    let head = read_head(io).await?;
    let (status, headers) = parse_head(&head)?;
    negotiated_protocol(status, &headers)
}

/// Reads byte by byte up to and including the blank line after the headers.
async fn read_head<IO: AsyncRead + Unpin>(io: &mut IO) -> Result<Vec<u8>> {
    let mut head = Vec::with_capacity(512);
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_HEAD {
            return Err(Error::Upgrade("response head too long".into()));
        }
        let byte = io.read_u8().await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                Error::Upgrade("connection closed before the response".into())
            } else {
                Error::Io(e)
            }
        })?;
        head.push(byte);
    }
    Ok(head)
}

fn parse_head(head: &[u8]) -> Result<(StatusCode, HeaderMap)> {
    let text = std::str::from_utf8(head)
        .map_err(|_| Error::Upgrade("response head is not text".into()))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(Error::Upgrade(format!(
            "not an HTTP/1 answer: {status_line:?}"
        )));
    }
    let status = parts
        .next()
        .and_then(|code| StatusCode::from_bytes(code.as_bytes()).ok())
        .ok_or_else(|| Error::Upgrade(format!("bad status line {status_line:?}")))?;
    let mut headers = HeaderMap::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| Error::Upgrade(format!("bad header line {line:?}")))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| Error::Upgrade(format!("bad header name {name:?}")))?;
        let value = HeaderValue::from_str(value.trim())
            .map_err(|_| Error::Upgrade(format!("bad header value in {line:?}")))?;
        headers.append(name, value);
    }
    Ok((status, headers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_offers_each_protocol() {
        let headers =
            client_request_headers(&["v4.channel.k8s.io", "v3.channel.k8s.io"]).expect("headers");
        assert!(is_spdy_upgrade(&headers));
        assert_eq!(
            offered_protocols(&headers),
            ["v4.channel.k8s.io", "v3.channel.k8s.io"]
        );
        assert_eq!(
            choose_protocol(&headers, &["v3.channel.k8s.io", "v4.channel.k8s.io"]),
            Some("v4.channel.k8s.io")
        );
        assert_eq!(choose_protocol(&headers, &["portforward.k8s.io"]), None);
    }

    #[test]
    fn answer_names_the_chosen_protocol() {
        let headers = server_response_headers(Some("v4.channel.k8s.io")).expect("headers");
        assert_eq!(
            negotiated_protocol(StatusCode::SWITCHING_PROTOCOLS, &headers).expect("101"),
            Some("v4.channel.k8s.io".into())
        );
        assert!(negotiated_protocol(StatusCode::FORBIDDEN, &headers).is_err());
        let mut websocket = headers.clone();
        websocket.insert(UPGRADE, HeaderValue::from_static("websocket"));
        assert!(negotiated_protocol(StatusCode::SWITCHING_PROTOCOLS, &websocket).is_err());
    }

    #[tokio::test]
    async fn handshake_reads_only_the_head() {
        let (mut client, mut server) = tokio::io::duplex(4096);
        let serve = tokio::spawn(async move {
            let head = read_head(&mut server).await.expect("request");
            let text = String::from_utf8(head).expect("text");
            server
                .write_all(
                    b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\
                      Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n\
                      FRAMES",
                )
                .await
                .expect("answer");
            text
        });
        let uri: Uri = "http://127.0.0.1:1234/portforward/abc"
            .parse()
            .expect("uri");
        let chosen = client_handshake(
            &mut client,
            &Method::POST,
            &uri,
            &HeaderMap::new(),
            &["portforward.k8s.io"],
        )
        .await
        .expect("handshake");
        assert_eq!(chosen.as_deref(), Some("portforward.k8s.io"));
        let mut rest = [0u8; 6];
        client.read_exact(&mut rest).await.expect("rest");
        assert_eq!(&rest, b"FRAMES");
        let request = serve.await.expect("server");
        assert!(
            request.starts_with("POST /portforward/abc HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(request.contains("host: 127.0.0.1:1234\r\n"), "{request}");
        assert!(request.contains("upgrade: SPDY/3.1\r\n"), "{request}");
        assert!(request.contains("x-stream-protocol-version: portforward.k8s.io\r\n"));
    }
}
