//! The server side of SPDY/3.1 against the real kubectl (Go's spdystream):
//! a tiny stand-in for the API server answers `GET pod` and upgrades
//! `POST …/exec` to a [`Session::server`] that plays the runtime (remotecommand
//! v4). Skipped, with a message, when /usr/bin/kubectl is absent.

use anyhow::{Context, bail, ensure};
use http::{HeaderMap, HeaderName, HeaderValue};
use rkube_spdy::{Session, Stream, upgrade};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const KUBECTL: &str = "/usr/bin/kubectl";
/// Every wait in these tests ends within this.
const DEADLINE: Duration = Duration::from_secs(60);

async fn within<T>(what: &str, f: impl Future<Output = T>) -> anyhow::Result<T> {
    tokio::time::timeout(DEADLINE, f)
        .await
        .with_context(|| format!("{what}: nothing within {DEADLINE:?}"))
}

struct Request {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    headers: HeaderMap,
}

/// Reads one request head (and skips its body); `None` at EOF.
async fn read_request(tcp: &mut TcpStream) -> anyhow::Result<Option<Request>> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        ensure!(head.len() < 64 * 1024, "request head too long");
        match tcp.read_u8().await {
            Ok(b) => head.push(b),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && head.is_empty() => {
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        }
    }
    let text = String::from_utf8(head)?;
    let mut lines = text.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_string();
    let target = first.next().unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), unescape(v)))
        .collect();
    let mut headers = HeaderMap::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').context("bad header")?;
        headers.append(
            HeaderName::from_bytes(name.trim().as_bytes())?,
            HeaderValue::from_str(value.trim())?,
        );
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    tcp.read_exact(&mut body).await?;
    Ok(Some(Request {
        method,
        path: path.to_string(),
        query,
        headers,
    }))
}

/// Percent-decoding of a query value (`+` is a space).
fn unescape(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn respond(tcp: &mut TcpStream, status: &str, body: &str) -> anyhow::Result<()> {
    let answer = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(answer.as_bytes()).await?;
    Ok(())
}

const API: &str = r#"{"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"127.0.0.1"}]}"#;
const APIS: &str = r#"{"kind":"APIGroupList","apiVersion":"v1","groups":[]}"#;
const API_V1: &str = r#"{"kind":"APIResourceList","groupVersion":"v1","resources":[{"name":"pods","singularName":"pod","namespaced":true,"kind":"Pod","verbs":["get","list"],"shortNames":["po"]},{"name":"pods/exec","singularName":"","namespaced":true,"kind":"PodExecOptions","verbs":["create","get"]}]}"#;
const POD: &str = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"fake","namespace":"default","uid":"1"},"spec":{"containers":[{"name":"main","image":"busybox"}]},"status":{"phase":"Running"}}"#;

/// Serves one client connection of kubectl.
async fn serve(mut tcp: TcpStream) -> anyhow::Result<()> {
    while let Some(req) = read_request(&mut tcp).await? {
        let discovery = match req.path.as_str() {
            "/api" => Some(API),
            "/apis" => Some(APIS),
            "/api/v1" => Some(API_V1),
            _ => None,
        };
        if let Some(body) = discovery {
            respond(&mut tcp, "200 OK", body).await?;
        } else if req.method == "GET" && req.path == "/api/v1/namespaces/default/pods/fake" {
            respond(&mut tcp, "200 OK", POD).await?;
        } else if req.path.ends_with("/exec") && upgrade::is_spdy_upgrade(&req.headers) {
            return exec(tcp, req).await;
        } else {
            let status = r#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}"#;
            respond(&mut tcp, "404 Not Found", status).await?;
        }
    }
    Ok(())
}

/// Plays the runtime: `cat` echoes stdin and says "done" on stderr;
/// `sh -c "exit N"` fails with N.
async fn exec(mut tcp: TcpStream, req: Request) -> anyhow::Result<()> {
    let protocol = upgrade::choose_protocol(&req.headers, &["v4.channel.k8s.io"])
        .context("kubectl offered no v4")?;
    let mut answer = String::from("HTTP/1.1 101 Switching Protocols\r\n");
    for (name, value) in &upgrade::server_response_headers(Some(protocol))? {
        answer.push_str(&format!("{name}: {}\r\n", value.to_str()?));
    }
    answer.push_str("\r\n");
    tcp.write_all(answer.as_bytes()).await?;
    let command: Vec<&str> = req
        .query
        .iter()
        .filter(|(k, _)| k == "command")
        .map(|(_, v)| v.as_str())
        .collect();
    let wants = |name: &str| req.query.iter().any(|(k, v)| k == name && v == "true");

    let session = Session::server(tcp)?;
    let (mut error, mut stdin, mut stdout, mut stderr) = (None, None, None, None);
    let expected = 1 + [wants("stdin"), wants("stdout"), wants("stderr")]
        .iter()
        .filter(|w| **w)
        .count();
    for _ in 0..expected {
        let stream = within("kubectl's streams", session.accept())
            .await?
            .context("session ended before all streams came")?;
        let slot = match stream.headers().get("streamType") {
            Some("error") => &mut error,
            Some("stdin") => &mut stdin,
            Some("stdout") => &mut stdout,
            Some("stderr") => &mut stderr,
            other => bail!("stream type {other:?}"),
        };
        *slot = Some(stream);
    }
    let mut error: Stream = error.context("no error stream")?;
    let status = match command.as_slice() {
        ["cat"] => {
            let (mut input, mut out) = (
                stdin.take().context("no stdin")?,
                stdout.take().context("no stdout")?,
            );
            within("echo", tokio::io::copy(&mut input, &mut out)).await??;
            out.close_write().await?;
            let mut err = stderr.take().context("no stderr")?;
            err.write_all(b"done\n").await?;
            err.close_write().await?;
            r#"{"metadata":{},"status":"Success"}"#.to_string()
        }
        ["sh", "-c", script] if script.starts_with("exit ") => {
            let code = script.trim_start_matches("exit ");
            format!(
                r#"{{"metadata":{{}},"status":"Failure","message":"command terminated with non-zero exit code","reason":"NonZeroExitCode","details":{{"causes":[{{"reason":"ExitCode","message":"{code}"}}]}}}}"#
            )
        }
        other => bail!("unexpected command {other:?}"),
    };
    drop((stdout, stderr));
    error.write_all(status.as_bytes()).await?;
    error.close_write().await?;
    Ok(())
}

/// Starts the stand-in API server; returns its URL.
async fn api_server() -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Err(e) = serve(tcp).await {
                    eprintln!("stand-in API server: {e:#}");
                }
            });
        }
    });
    Ok(url)
}

async fn kubectl(
    server: &str,
    args: &[&str],
    stdin: &[u8],
) -> anyhow::Result<std::process::Output> {
    let config = tempfile::NamedTempFile::new()?;
    let mut child = tokio::process::Command::new(KUBECTL)
        .arg(format!("--server={server}"))
        .arg("--request-timeout=30s")
        .args(args)
        .env("KUBECONFIG", config.path())
        // kubectl 1.30+ tries WebSocket first; this suite is about SPDY.
        .env("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut input = child.stdin.take().context("stdin")?;
    let data = stdin.to_vec();
    let feed = tokio::spawn(async move {
        let _ = input.write_all(&data).await;
    });
    let output = within("kubectl", child.wait_with_output()).await??;
    feed.await?;
    Ok(output)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_execs_through_our_spdy_server() -> anyhow::Result<()> {
    if !Path::new(KUBECTL).exists() {
        eprintln!("skipped: no {KUBECTL}");
        return Ok(());
    }
    let server = api_server().await?;
    // Several MB from a peer without flow control, and back.
    let input: Vec<u8> = (0..400_000u32)
        .flat_map(|i| format!("line {i}\n").into_bytes())
        .collect();
    let out = kubectl(&server, &["exec", "-i", "fake", "--", "cat"], &input).await?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(out.status.success(), "kubectl failed: {stderr}");
    ensure!(
        out.stdout == input,
        "stdout: {} bytes of {}",
        out.stdout.len(),
        input.len()
    );
    assert_eq!(stderr, "done\n");

    let out = kubectl(&server, &["exec", "fake", "--", "sh", "-c", "exit 3"], b"").await?;
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}
