//! The actions that lifecycle hooks and probes run: exec in the container
//! (CRI ExecSync), HTTP GET and TCP connect to the pod, sleep; with
//! upstream's success rules and failure messages.
//!
//! HTTP and TCP checks go to the pod's own IP (the node's bridge) unless the
//! spec names a host.

use std::time::Duration;

use k8s_openapi::api::core::v1::{
    Container, HTTPGetAction, LifecycleHandler, Probe, TCPSocketAction,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
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

async fn http_get(g: &HTTPGetAction, target: &Target<'_>, timeout: Duration) -> Result<(), String> {
    let port = resolve_port(&g.port, target.container)?;
    let host = g
        .host
        .clone()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| target.pod_ip.to_string());
    let path = g.path.clone().unwrap_or_else(|| "/".into());
    let path = if path.starts_with('/') {
        path
    } else {
        format!("/{path}")
    };
    let scheme = g.scheme.as_deref().unwrap_or("HTTP");
    let url = format!("{}://{host}:{port}{path}", scheme.to_lowercase());
    if scheme.eq_ignore_ascii_case("HTTPS") {
        return Err(format!(
            "Get \"{url}\": HTTPS checks are not supported by rkube yet"
        ));
    }
    let attempt = async {
        let mut s = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| {
                format!(
                    "Get \"{url}\": dial tcp {host}:{port}: connect: {}",
                    os_message(&e)
                )
            })?;
        let mut req = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: kube-probe/1.33\r\nAccept: */*\r\nConnection: close\r\n"
        );
        for h in g.http_headers.iter().flatten() {
            req.push_str(&format!("{}: {}\r\n", h.name, h.value));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes())
            .await
            .map_err(|e| format!("Get \"{url}\": {e}"))?;
        let mut head = [0u8; 64];
        let mut n = 0;
        while n < 12 {
            let m = s
                .read(&mut head[n..])
                .await
                .map_err(|e| format!("Get \"{url}\": {e}"))?;
            if m == 0 {
                break;
            }
            n += m;
        }
        let line = String::from_utf8_lossy(&head[..n]);
        let code: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("Get \"{url}\": malformed HTTP response"))?;
        if (200..400).contains(&code) {
            Ok(())
        } else {
            Err(format!("HTTP probe failed with statuscode: {code}"))
        }
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "Get \"{url}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
        )),
    }
}

fn os_message(e: &std::io::Error) -> String {
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

/// Runs `action` against `target`: `Ok` on success, else upstream's message.
pub async fn run<R: Runtime>(
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
        Action::HttpGet(g) => http_get(g, target, timeout).await,
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
