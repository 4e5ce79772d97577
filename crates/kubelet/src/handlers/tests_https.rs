//! HTTPS, redirects and hook fallbacks against small loopback servers (one
//! with a self-signed certificate).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, HTTPGetAction, HTTPHeader};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::{Action, Outcome, Target, probe, run_hook};
use crate::runtime::fake::FakeRuntime;

/// What the server saw: SNI (TLS only) and the request head.
type Seen = Arc<Mutex<Vec<(Option<String>, String)>>>;

fn acceptor() -> TlsAcceptor {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["self-signed.test".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let private = rustls::pki_types::PrivateKeyDer::Pkcs8(
        rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der()),
    );
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], private)
        .unwrap();
    TlsAcceptor::from(Arc::new(cfg))
}

async fn answer<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, port: u16) -> String {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    // A TLS ClientHello (0x16) gets a plain HTTP answer, as from an HTTP server.
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.first() != Some(&0x16) {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let (status, location, body) = match path.as_str() {
        "/ok" => ("200 OK", None, "fine".to_string()),
        "/redirect" => ("302 Found", Some("/ok".to_string()), String::new()),
        "/loop" => ("302 Found", Some("/loop".to_string()), String::new()),
        "/away" => (
            "301 Moved Permanently",
            Some(format!("http://localhost:{port}/ok")),
            "moved".to_string(),
        ),
        _ => ("500 Internal Server Error", None, String::new()),
    };
    let mut resp = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
    if let Some(l) = location {
        resp.push_str(&format!("Location: {l}\r\n"));
    }
    resp.push_str("\r\n");
    resp.push_str(&body);
    let _ = s.write_all(resp.as_bytes()).await;
    let _ = s.shutdown().await;
    head
}

/// A server on 127.0.0.1: HTTPS with a self-signed certificate when `tls`.
async fn server(tls: bool) -> (u16, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let acceptor = tls.then(acceptor);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let log = log.clone();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let entry = match acceptor {
                    Some(a) => {
                        let Ok(s) = a.accept(tcp).await else { return };
                        let sni = s.get_ref().1.server_name().map(str::to_string);
                        (sni, answer(s, port).await)
                    }
                    None => (None, answer(tcp, port).await),
                };
                log.lock().unwrap().push(entry);
            });
        }
    });
    (port, seen)
}

fn get(scheme: &str, host: Option<&str>, port: u16, path: &str) -> HTTPGetAction {
    HTTPGetAction {
        scheme: Some(scheme.into()),
        host: host.map(str::to_string),
        path: Some(path.into()),
        port: IntOrString::Int(i32::from(port)),
        http_headers: None,
    }
}

async fn check(g: &HTTPGetAction) -> Outcome {
    let c = Container {
        name: "web".into(),
        ..Default::default()
    };
    let target = Target {
        container_id: "x",
        container: &c,
        pod_ip: "127.0.0.1",
    };
    probe(
        &FakeRuntime::new(),
        Action::HttpGet(g),
        &target,
        Duration::from_secs(5),
    )
    .await
}

async fn hook(g: &HTTPGetAction) -> Result<(), String> {
    let c = Container {
        name: "web".into(),
        ..Default::default()
    };
    let target = Target {
        container_id: "x",
        container: &c,
        pod_ip: "127.0.0.1",
    };
    run_hook(
        &FakeRuntime::new(),
        Action::HttpGet(g),
        &target,
        Duration::ZERO,
    )
    .await
}

#[tokio::test]
async fn https_probes_skip_certificate_checks() {
    let (port, seen) = server(true).await;
    let mut g = get("HTTPS", None, port, "/ok");
    g.http_headers = Some(vec![HTTPHeader {
        name: "Host".into(),
        value: "example.test".into(),
    }]);
    assert_eq!(check(&g).await, Outcome::Success);
    // An IP address sends no SNI; the Host header is the spec's.
    let (sni, head) = seen.lock().unwrap().pop().unwrap();
    assert_eq!(sni, None);
    assert!(head.starts_with("GET /ok HTTP/1.1\r\n"), "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("\r\nhost: example.test\r\n"), "{head}");
    assert!(
        lower.contains("\r\nuser-agent: kube-probe/1.33\r\n"),
        "{head}"
    );
    assert!(lower.contains("\r\naccept: */*\r\n"), "{head}");

    // A host name is sent as SNI.
    let g = get("HTTPS", Some("localhost"), port, "/ok");
    assert_eq!(check(&g).await, Outcome::Success);
    let (sni, head) = seen.lock().unwrap().pop().unwrap();
    assert_eq!(sni.as_deref(), Some("localhost"));
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("\r\nhost: localhost:{port}\r\n")),
        "{head}"
    );

    assert_eq!(
        check(&get("HTTPS", None, port, "/nope")).await,
        Outcome::Failure("HTTP probe failed with statuscode: 500".into())
    );
}

#[tokio::test]
async fn redirects_like_upstream() {
    let (port, seen) = server(true).await;
    // Same host: followed.
    assert_eq!(
        check(&get("HTTPS", None, port, "/redirect")).await,
        Outcome::Success
    );
    assert_eq!(seen.lock().unwrap().len(), 2);
    // Another host name: not followed, a warning with the body.
    assert_eq!(
        check(&get("HTTPS", None, port, "/away")).await,
        Outcome::Warning("Probe terminated redirects, Response body: moved".into())
    );
    assert_eq!(seen.lock().unwrap().len(), 3);
    // Ten requests, then Go's error.
    assert_eq!(
        check(&get("HTTPS", None, port, "/loop")).await,
        Outcome::Failure("Get \"/loop\": stopped after 10 redirects".into())
    );
    assert_eq!(seen.lock().unwrap().len(), 13);
}

#[tokio::test]
async fn https_against_plain_http() {
    let (port, seen) = server(false).await;
    assert_eq!(
        check(&get("HTTPS", None, port, "/ok")).await,
        Outcome::Failure(format!(
            "Get \"https://127.0.0.1:{port}/ok\": http: server gave HTTP response to HTTPS client"
        ))
    );
    // A hook retries over HTTP, without the Authorization header.
    let mut g = get("HTTPS", None, port, "/ok");
    g.http_headers = Some(vec![
        HTTPHeader {
            name: "Authorization".into(),
            value: "Bearer x".into(),
        },
        HTTPHeader {
            name: "X-Kept".into(),
            value: "y".into(),
        },
    ]);
    seen.lock().unwrap().clear();
    assert_eq!(hook(&g).await, Ok(()));
    let (_, head) = seen.lock().unwrap().pop().unwrap();
    let lower = head.to_ascii_lowercase();
    assert!(!lower.contains("authorization"), "{head}");
    assert!(lower.contains("\r\nx-kept: y\r\n"), "{head}");
    assert!(
        lower.contains("\r\nuser-agent: kube-lifecycle/1.33\r\n"),
        "{head}"
    );
    // Hooks pass on any status.
    assert_eq!(hook(&get("HTTP", None, port, "/nope")).await, Ok(()));
}

#[tokio::test]
async fn refused_connections_fail_with_gos_message() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    assert_eq!(
        check(&get("HTTPS", None, port, "")).await,
        Outcome::Failure(format!(
            "Get \"https://127.0.0.1:{port}\": dial tcp 127.0.0.1:{port}: connect: connection refused"
        ))
    );
    assert!(hook(&get("HTTP", None, port, "/")).await.is_err());
}
