//! The actions that lifecycle hooks and probes run: exec in the container
//! (CRI ExecSync), HTTP GET and TCP connect to the pod, sleep; with
//! upstream's success rules and failure messages.
//!
//! HTTP and TCP checks go to the pod's own IP (the node's bridge) unless the
//! spec names a host; HTTPS skips certificate checks, as upstream.

mod http;
#[cfg(test)]
mod tests_https;
mod tls;

use std::time::Duration;

use k8s_openapi::api::core::v1::{
    Container, HTTPGetAction, LifecycleHandler, Probe, TCPSocketAction,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::net::TcpStream;

use crate::runtime::Runtime;

/// One action of a hook or probe.
#[derive(Debug, Clone, Copy)]
pub enum Action<'a> {
    /// Run a command in the container.
    Exec(&'a [String]),
    /// GET a URL of the pod.
    HttpGet(&'a HTTPGetAction),
    /// Open a TCP connection to the pod.
    Tcp(&'a TCPSocketAction),
    /// Wait (hooks only).
    Sleep(i64),
    /// Something rkube does not run yet (gRPC probes).
    Unsupported(&'static str),
}

impl<'a> Action<'a> {
    /// The action of a lifecycle hook.
    pub fn of_hook(h: &'a LifecycleHandler) -> Option<Self> {
        if let Some(e) = &h.exec {
            return Some(Action::Exec(e.command.as_deref().unwrap_or(&[])));
        }
        if let Some(g) = &h.http_get {
            return Some(Action::HttpGet(g));
        }
        if let Some(t) = &h.tcp_socket {
            return Some(Action::Tcp(t));
        }
        h.sleep.as_ref().map(|s| Action::Sleep(s.seconds))
    }

    /// The action of a probe.
    pub fn of_probe(p: &'a Probe) -> Option<Self> {
        if let Some(e) = &p.exec {
            return Some(Action::Exec(e.command.as_deref().unwrap_or(&[])));
        }
        if let Some(g) = &p.http_get {
            return Some(Action::HttpGet(g));
        }
        if let Some(t) = &p.tcp_socket {
            return Some(Action::Tcp(t));
        }
        p.grpc.as_ref().map(|_| Action::Unsupported("gRPC probes"))
    }
}

/// Where an action runs.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The container's runtime id.
    pub container_id: &'a str,
    /// Its spec (named ports).
    pub container: &'a Container,
    /// The pod's IP.
    pub pod_ip: &'a str,
}

/// A port number, or a named port of the container.
pub fn resolve_port(port: &IntOrString, c: &Container) -> Result<u16, String> {
    let n = match port {
        IntOrString::Int(n) => *n,
        IntOrString::String(s) => match s.parse::<i32>() {
            Ok(n) => n,
            Err(_) => c
                .ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(s))
                .map(|p| p.container_port)
                .ok_or_else(|| format!("couldn't find port: {s} in {}", c.name))?,
        },
    };
    u16::try_from(n)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("invalid port number: {n}"))
}

/// How a probe's check ended (upstream's `probe.Result`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Passed.
    Success,
    /// Passed, with a warning for a `ProbeWarning` event (a redirect to
    /// another host: "Probe terminated redirects, Response body: …").
    Warning(String),
    /// Failed, with upstream's message.
    Failure(String),
}

impl Outcome {
    /// `Ok` unless it failed (warnings pass).
    pub fn into_result(self) -> Result<(), String> {
        match self {
            Outcome::Failure(m) => Err(m),
            _ => Ok(()),
        }
    }
}

/// The URL an `httpGet` action asks for.
fn http_url(g: &HTTPGetAction, target: &Target<'_>) -> Result<http::Url, String> {
    let port = resolve_port(&g.port, target.container)?;
    let host = g
        .host
        .as_deref()
        .filter(|h| !h.is_empty())
        .unwrap_or(target.pod_ip);
    let https = g
        .scheme
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case("HTTPS"));
    Ok(http::Url::new(
        https,
        host,
        port,
        g.path.as_deref().unwrap_or(""),
    ))
}

fn spec_headers(g: &HTTPGetAction) -> Vec<(String, String)> {
    g.http_headers
        .iter()
        .flatten()
        .map(|h| (h.name.clone(), h.value.clone()))
        .collect()
}

/// An HTTP probe: 2xx passes, 3xx (a redirect not followed) passes with a
/// warning, anything else fails.
async fn http_probe(g: &HTTPGetAction, target: &Target<'_>, timeout: Duration) -> Outcome {
    let url = match http_url(g, target) {
        Ok(u) => u,
        Err(e) => return Outcome::Failure(e),
    };
    let (headers, host) = http::request_headers(&spec_headers(g), "probe");
    match http::get_within(&url, &headers, host.as_deref(), timeout).await {
        http::Fetched::Failed { message, .. } => Outcome::Failure(message),
        http::Fetched::Reply(r) if (200..300).contains(&r.status) => Outcome::Success,
        http::Fetched::Reply(r) if (300..400).contains(&r.status) => Outcome::Warning(format!(
            "Probe terminated redirects, Response body: {}",
            String::from_utf8_lossy(&r.body)
        )),
        http::Fetched::Reply(r) => {
            Outcome::Failure(format!("HTTP probe failed with statuscode: {}", r.status))
        }
    }
}

/// An HTTP lifecycle hook: any response will do (upstream looks at errors
/// only); an HTTPS hook answered in plain HTTP is retried over HTTP without
/// the `Authorization` header, as upstream does.
async fn http_hook(g: &HTTPGetAction, target: &Target<'_>) -> Result<(), String> {
    let url = http_url(g, target)?;
    let (headers, host) = http::request_headers(&spec_headers(g), "lifecycle");
    match http::get(&url, &headers, host.as_deref()).await {
        http::Fetched::Reply(_) => Ok(()),
        http::Fetched::Failed {
            failure: http::Failure::HttpResponseToHttps,
            message,
        } => {
            let plain = http::Url {
                https: false,
                ..url.clone()
            };
            let mut headers = headers;
            headers.retain(|(k, _)| !k.eq_ignore_ascii_case("Authorization"));
            match http::get(&plain, &headers, host.as_deref()).await {
                http::Fetched::Reply(_) => {
                    tracing::warn!(
                        host = %url.authority(),
                        "request to HTTPS lifecycle hook got HTTP response, retry with HTTP succeeded"
                    );
                    Ok(())
                }
                http::Fetched::Failed { .. } => Err(message),
            }
        }
        http::Fetched::Failed { message, .. } => Err(message),
    }
}

pub(crate) fn os_message(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        _ => e.to_string(),
    }
}

async fn tcp(t: &TCPSocketAction, target: &Target<'_>, timeout: Duration) -> Result<(), String> {
    let port = resolve_port(&t.port, target.container)?;
    let host = t
        .host
        .clone()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| target.pod_ip.to_string());
    match tokio::time::timeout(timeout, TcpStream::connect((host.as_str(), port))).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!(
            "dial tcp {host}:{port}: connect: {}",
            os_message(&e)
        )),
        Err(_) => Err(format!("dial tcp {host}:{port}: i/o timeout")),
    }
}

/// Runs a probe's `action` against `target` within `timeout`, with
/// upstream's prober semantics.
pub async fn probe<R: Runtime>(
    runtime: &R,
    action: Action<'_>,
    target: &Target<'_>,
    timeout: Duration,
) -> Outcome {
    match action {
        Action::HttpGet(g) => http_probe(g, target, timeout).await,
        other => match common(runtime, other, target, timeout).await {
            Ok(()) => Outcome::Success,
            Err(m) => Outcome::Failure(m),
        },
    }
}

/// Runs a probe's `action` against `target`: `Ok` on success (warnings
/// included), else upstream's message.
pub async fn run<R: Runtime>(
    runtime: &R,
    action: Action<'_>,
    target: &Target<'_>,
    timeout: Duration,
) -> Result<(), String> {
    probe(runtime, action, target, timeout).await.into_result()
}

/// Runs a lifecycle hook's `action` against `target`: HTTP hooks have no
/// timeout of their own and pass on any response; `timeout` bounds exec
/// (zero: none).
pub async fn run_hook<R: Runtime>(
    runtime: &R,
    action: Action<'_>,
    target: &Target<'_>,
    timeout: Duration,
) -> Result<(), String> {
    match action {
        Action::HttpGet(g) => http_hook(g, target).await,
        other => common(runtime, other, target, timeout).await,
    }
}

async fn common<R: Runtime>(
    runtime: &R,
    action: Action<'_>,
    target: &Target<'_>,
    timeout: Duration,
) -> Result<(), String> {
    match action {
        Action::Exec(cmd) => {
            match runtime
                .exec_sync(target.container_id, cmd.to_vec(), timeout)
                .await
            {
                Ok((0, _)) => Ok(()),
                Ok((code, out)) => {
                    let out = String::from_utf8_lossy(&out).into_owned();
                    Err(format!(
                        "command '{}' exited with {code}: {out}",
                        cmd.join(" ")
                    ))
                }
                Err(e) => Err(e.user_message()),
            }
        }
        Action::HttpGet(g) => http_probe(g, target, timeout).await.into_result(),
        Action::Tcp(t) => tcp(t, target, timeout).await,
        Action::Sleep(secs) => {
            tokio::time::sleep(Duration::from_secs(u64::try_from(secs).unwrap_or(0))).await;
            Ok(())
        }
        Action::Unsupported(what) => Err(format!("{what} are not supported by rkube yet")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn ports_by_number_or_name() {
        let c: Container = serde_json::from_value(json!({"name": "web",
            "ports": [{"name": "http", "containerPort": 8080}]}))
        .unwrap();
        assert_eq!(resolve_port(&IntOrString::Int(80), &c), Ok(80));
        assert_eq!(
            resolve_port(&IntOrString::String("http".into()), &c),
            Ok(8080)
        );
        assert_eq!(resolve_port(&IntOrString::String("81".into()), &c), Ok(81));
        assert!(resolve_port(&IntOrString::String("nope".into()), &c).is_err());
    }

    #[tokio::test]
    async fn http_and_tcp_checks_on_loopback() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                let mut buf = [0u8; 1024];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).into_owned();
                let code = if req.starts_with("GET /ok ") {
                    "200 OK"
                } else {
                    "404 Not Found"
                };
                let _ = s
                    .write_all(format!("HTTP/1.1 {code}\r\nContent-Length: 0\r\n\r\n").as_bytes())
                    .await;
            }
        });
        let c: Container = serde_json::from_value(json!({"name": "web"})).unwrap();
        let rt = crate::runtime::fake::FakeRuntime::new();
        let target = Target {
            container_id: "x",
            container: &c,
            pod_ip: "127.0.0.1",
        };
        let get = |path: &str| HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::Int(i32::from(port)),
            ..Default::default()
        };
        let t = Duration::from_secs(2);
        assert_eq!(
            run(&rt, Action::HttpGet(&get("/ok")), &target, t).await,
            Ok(())
        );
        assert_eq!(
            run(&rt, Action::HttpGet(&get("/missing")), &target, t).await,
            Err("HTTP probe failed with statuscode: 404".into())
        );
        let tcp_ok = TCPSocketAction {
            host: None,
            port: IntOrString::Int(i32::from(port)),
        };
        assert_eq!(run(&rt, Action::Tcp(&tcp_ok), &target, t).await, Ok(()));
        rt.state()
            .exec_results
            .insert("false".into(), (1, "nope\n".into()));
        let cmd = vec!["false".to_string()];
        assert_eq!(
            run(&rt, Action::Exec(&cmd), &target, t).await,
            Err("command 'false' exited with 1: nope\n".into())
        );
    }
}
