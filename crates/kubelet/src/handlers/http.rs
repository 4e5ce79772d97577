//! HTTP GET for probes and lifecycle hooks, as upstream's kubelet client:
//! HTTP/1.1 or HTTPS without certificate checks, upstream's default headers,
//! redirects followed only to the same host name (at most 10), and a 10 KiB
//! cap on the body read.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::header::{CONNECTION, HOST, LOCATION};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::tls::{self, TlsFailure};

/// The Kubernetes version in upstream's `User-Agent` (`kube-probe/1.33`).
pub const KUBE_VERSION: &str = "1.33";
/// How much of a response body is read (upstream's `maxRespBodyLength`).
pub const MAX_BODY: usize = 10 * 1024;
/// Redirects followed before giving up (Go's client default).
pub const MAX_REDIRECTS: usize = 10;

/// An `http` or `https` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `https` rather than `http`.
    pub https: bool,
    /// Host name or IP address (no brackets).
    pub host: String,
    /// Port to connect to.
    pub port: u16,
    /// The port was written in the URL.
    pub explicit_port: bool,
    /// Path and query as written (may be empty).
    pub path: String,
}

impl Url {
    /// `scheme://host:port` + `path`, as the spec asks for it.
    pub fn new(https: bool, host: &str, port: u16, path: &str) -> Self {
        let path = if path.is_empty() || path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        Url {
            https,
            host: host.to_string(),
            port,
            explicit_port: true,
            path,
        }
    }

    /// `host:port` (brackets around IPv6), or just the host when the port was
    /// implied.
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.explicit_port {
            format!("{host}:{}", self.port)
        } else {
            host
        }
    }

    /// The request target: the path and query, `/` when empty.
    pub fn target(&self) -> String {
        match self.path.as_str() {
            "" => "/".into(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.into(),
        }
    }

    /// The URL a `Location` header points to, relative to this one.
    pub fn resolve(&self, location: &str) -> Option<Url> {
        let location = location.split('#').next().unwrap_or_default().trim();
        let lower = location.to_ascii_lowercase();
        let (https, rest) = if lower.starts_with("http://") {
            (false, &location[7..])
        } else if lower.starts_with("https://") {
            (true, &location[8..])
        } else if let Some(rest) = location.strip_prefix("//") {
            (self.https, rest)
        } else if location
            .find(':')
            .is_some_and(|i| is_scheme(&location[..i]))
        {
            return None;
        } else {
            let path = if location.is_empty() {
                self.path.clone()
            } else if location.starts_with('/') {
                location.to_string()
            } else if location.starts_with('?') {
                format!("{}{location}", self.path_only())
            } else {
                let base = self.path_only();
                let dir = &base[..base.rfind('/').map_or(0, |i| i + 1)];
                format!("{}{location}", if dir.is_empty() { "/" } else { dir })
            };
            return Some(Url {
                path: remove_dot_segments(&path),
                ..self.clone()
            });
        };
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        let (host, port) = split_authority(authority)?;
        let default = if https { 443 } else { 80 };
        Some(Url {
            https,
            host,
            port: port.unwrap_or(default),
            explicit_port: port.is_some(),
            path: remove_dot_segments(path),
        })
    }

    fn path_only(&self) -> &str {
        self.path.split('?').next().unwrap_or_default()
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.authority(), self.path)
    }
}

fn is_scheme(s: &str) -> bool {
    !s.is_empty()
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        && !s.contains('/')
}

fn split_authority(a: &str) -> Option<(String, Option<u16>)> {
    let a = a.rsplit('@').next().unwrap_or_default();
    let (host, port) = if let Some(rest) = a.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match a.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (a, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port.filter(|p| !p.is_empty()) {
        Some(p) => Some(p.parse().ok()?),
        None => None,
    };
    Some((host.to_string(), port))
}

fn remove_dot_segments(path: &str) -> String {
    let (path, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    let mut out: Vec<&str> = vec![];
    let segments: Vec<&str> = path.split('/').collect();
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *seg {
            "." => {
                if last {
                    out.push("");
                }
            }
            ".." => {
                if out.len() > 1 {
                    out.pop();
                }
                if last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    let mut p = out.join("/");
    if !path.is_empty() && !p.starts_with('/') {
        p.insert(0, '/');
    }
    match query {
        Some(q) => format!("{p}?{q}"),
        None => p,
    }
}

/// The request's headers: the spec's plus upstream's defaults
/// (`User-Agent: kube-<purpose>/<version>`, `Accept: */*`), and the `Host`
/// header the spec asks for, if any.
pub fn request_headers(
    spec: &[(String, String)],
    purpose: &str,
) -> (Vec<(String, String)>, Option<String>) {
    let mut headers: Vec<(String, String)> = spec.to_vec();
    let first = |headers: &[(String, String)], name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    if first(&headers, "User-Agent").is_none() {
        headers.push((
            "User-Agent".into(),
            format!("kube-{purpose}/{KUBE_VERSION}"),
        ));
    }
    match first(&headers, "Accept") {
        None => headers.push(("Accept".into(), "*/*".into())),
        Some(v) if v.is_empty() => headers.retain(|(k, _)| !k.eq_ignore_ascii_case("Accept")),
        Some(_) => {}
    }
    let host = first(&headers, "Host").filter(|h| !h.is_empty());
    headers.retain(|(k, _)| !k.eq_ignore_ascii_case("Host"));
    (headers, host)
}

/// One response: its status, `Location` and the start of its body.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// The `Location` header.
    pub location: Option<String>,
    /// At most [`MAX_BODY`] bytes of the body.
    pub body: Vec<u8>,
}

/// Why one request failed.
#[derive(Debug)]
pub enum Failure {
    /// The server answered an HTTPS request in plain HTTP.
    HttpResponseToHttps,
    /// Anything else, with Go's wording where it matters.
    Other(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::HttpResponseToHttps => {
                f.write_str("http: server gave HTTP response to HTTPS client")
            }
            Failure::Other(m) => f.write_str(m),
        }
    }
}

/// How a GET ended: the last reply (a redirect elsewhere is returned as is),
/// or upstream's error message.
#[derive(Debug)]
pub enum Fetched {
    /// A response.
    Reply(Reply),
    /// The first request failed this way (`Get "url": ...` in `message`).
    Failed { failure: Failure, message: String },
}

/// GETs `url`, following redirects to the same host name as Go's client with
/// upstream's redirect checker does.
pub async fn get(url: &Url, headers: &[(String, String)], host: Option<&str>) -> Fetched {
    let mut current = url.clone();
    let mut host_header = host.map(str::to_string);
    let mut n = 0;
    loop {
        n += 1;
        let sent_host = host_header.clone().unwrap_or_else(|| current.authority());
        let reply = match once(&current, headers, &sent_host).await {
            Ok(r) => r,
            Err(failure) => {
                let message = format!("Get \"{current}\": {failure}");
                return Fetched::Failed { failure, message };
            }
        };
        if !matches!(reply.status, 301 | 302 | 303 | 307 | 308) {
            return Fetched::Reply(reply);
        }
        let Some(loc) = reply.location.clone().filter(|l| !l.is_empty()) else {
            return Fetched::Reply(reply);
        };
        let Some(next) = current.resolve(&loc) else {
            let message = format!("Get \"{current}\": failed to parse Location header \"{loc}\"");
            return Fetched::Failed {
                failure: Failure::Other(message.clone()),
                message,
            };
        };
        if next.host != url.host {
            return Fetched::Reply(reply);
        }
        if n >= MAX_REDIRECTS {
            let message = format!("Get \"{loc}\": stopped after {MAX_REDIRECTS} redirects");
            return Fetched::Failed {
                failure: Failure::Other(message.clone()),
                message,
            };
        }
        // A custom Host header survives only relative redirects (as Go).
        let absolute = loc.contains("://") || loc.starts_with("//");
        if absolute {
            host_header = None;
        }
        current = next;
    }
}

async fn dial(url: &Url) -> Result<TcpStream, Failure> {
    let addr = match url.host.parse::<IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, url.port),
        Err(_) => tokio::net::lookup_host((url.host.as_str(), url.port))
            .await
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| {
                Failure::Other(format!("dial tcp: lookup {}: no such host", url.host))
            })?,
    };
    TcpStream::connect(addr).await.map_err(|e| {
        Failure::Other(format!(
            "dial tcp {addr}: connect: {}",
            super::os_message(&e)
        ))
    })
}

async fn once(url: &Url, headers: &[(String, String)], host: &str) -> Result<Reply, Failure> {
    let other = |e: &dyn fmt::Display| Failure::Other(e.to_string());
    let mut req = hyper::Request::get(url.target()).header(HOST, host);
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let req = req
        .header(CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| other(&e))?;
    let tcp = dial(url).await?;
    if url.https {
        let stream = tls::connect(tcp, &url.host).await.map_err(|e| match e {
            TlsFailure::HttpResponse => Failure::HttpResponseToHttps,
            TlsFailure::Other(m) => Failure::Other(m),
        })?;
        exchange(stream, req).await
    } else {
        exchange(tcp, req).await
    }
}

/// Stops a spawned task when dropped (a timed-out probe leaves nothing behind).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn exchange<S>(stream: S, req: hyper::Request<Empty<Bytes>>) -> Result<Reply, Failure>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let other = |e: hyper::Error| Failure::Other(e.to_string());
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(other)?;
    let _conn = AbortOnDrop(tokio::spawn(async move {
        let _ = conn.await;
    }));
    let resp = sender.send_request(req).await.map_err(other)?;
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut body = Vec::new();
    let mut incoming = resp.into_body();
    while body.len() < MAX_BODY {
        match incoming.frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    body.extend_from_slice(&data);
                }
            }
            _ => break,
        }
    }
    body.truncate(MAX_BODY);
    Ok(Reply {
        status,
        location,
        body,
    })
}

/// Waits at most `timeout` for `get`, with Go's `Client.Timeout` message.
pub async fn get_within(
    url: &Url,
    headers: &[(String, String)],
    host: Option<&str>,
    timeout: Duration,
) -> Fetched {
    match tokio::time::timeout(timeout, get(url, headers, host)).await {
        Ok(f) => f,
        Err(_) => {
            let message = format!(
                "Get \"{url}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
            );
            Fetched::Failed {
                failure: Failure::Other(message.clone()),
                message,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::new(false, "10.0.0.1", 8080, "/a/b?x=1")
    }

    #[test]
    fn urls_like_go() {
        assert_eq!(base().to_string(), "http://10.0.0.1:8080/a/b?x=1");
        assert_eq!(
            Url::new(true, "fd00::1", 443, "").to_string(),
            "https://[fd00::1]:443"
        );
        assert_eq!(Url::new(false, "h", 1, "").target(), "/");
        assert_eq!(Url::new(false, "h", 1, "healthz").target(), "/healthz");
        let r = |l: &str| base().resolve(l).unwrap().to_string();
        assert_eq!(r("/c"), "http://10.0.0.1:8080/c");
        assert_eq!(r("c"), "http://10.0.0.1:8080/a/c");
        assert_eq!(r("../c?y"), "http://10.0.0.1:8080/c?y");
        assert_eq!(r("?y=2"), "http://10.0.0.1:8080/a/b?y=2");
        assert_eq!(r("https://10.0.0.1/z"), "https://10.0.0.1/z");
        assert_eq!(base().resolve("https://10.0.0.1/z").unwrap().port, 443);
        assert_eq!(r("//other:81/"), "http://other:81/");
        assert!(base().resolve("ftp://x/").is_none());
    }

    #[test]
    fn default_headers_like_upstream() {
        let (h, host) = request_headers(&[], "probe");
        assert_eq!(
            h,
            [
                ("User-Agent".to_string(), "kube-probe/1.33".to_string()),
                ("Accept".to_string(), "*/*".to_string())
            ]
        );
        assert_eq!(host, None);
        let spec = [
            ("host".to_string(), "example.com".to_string()),
            ("accept".to_string(), String::new()),
            ("user-agent".to_string(), "me".to_string()),
        ];
        let (h, host) = request_headers(&spec, "lifecycle");
        assert_eq!(h, [("user-agent".to_string(), "me".to_string())]);
        assert_eq!(host.as_deref(), Some("example.com"));
    }
}
