//! SPDY/3.1 against the real CRI streaming server of containerd: exec with
//! the remotecommand v4 protocol, and port-forward. The containers run from
//! the local registry mirror (scripts/node-services.sh start;
//! images/build.sh). Skipped, with a message, when the socket is absent.
//!
//! The sandbox shares the host's network namespace (no CNI needed); the
//! streaming server and the forwarded port are on loopback.

use anyhow::{Context, bail, ensure};
use http::{HeaderMap, Method, Uri};
use rkube_cri::proto;
use rkube_cri::{CriClient, DEFAULT_ENDPOINT};
use rkube_spdy::{Headers, Session, Stream, upgrade};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Every network wait in these tests ends within this.
const DEADLINE: Duration = Duration::from_secs(60);

async fn within<T>(what: &str, f: impl Future<Output = T>) -> anyhow::Result<T> {
    tokio::time::timeout(DEADLINE, f)
        .await
        .with_context(|| format!("{what}: no answer within {DEADLINE:?}"))
}

/// The client, or `None` (after saying why) when no runtime is there.
async fn runtime() -> Option<CriClient> {
    let endpoint =
        std::env::var("RKUBE_CRI_ENDPOINT").unwrap_or_else(|_| DEFAULT_ENDPOINT.to_string());
    let path = endpoint.trim_start_matches("unix://");
    if !Path::new(path).exists() {
        eprintln!(
            "skipped: no CRI socket at {path} (start containerd with scripts/node-services.sh start)"
        );
        return None;
    }
    match CriClient::connect(&endpoint).await {
        Ok(cri) => Some(cri.with_pull_timeout(Some(Duration::from_secs(120)))),
        Err(e @ rkube_cri::Error::Connect { .. }) => {
            eprintln!("skipped: nothing answers on {path}: {e}");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

fn host_namespaces() -> proto::NamespaceOption {
    proto::NamespaceOption {
        network: proto::NamespaceMode::Node as i32,
        pid: proto::NamespaceMode::Container as i32,
        ipc: proto::NamespaceMode::Pod as i32,
        ..Default::default()
    }
}

/// A host-network sandbox, removed by [`with_pod`] whatever happens.
struct Pod {
    id: String,
    config: proto::PodSandboxConfig,
    _logs: tempfile::TempDir,
}

async fn run_pod(cri: &CriClient, name: &str) -> anyhow::Result<Pod> {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let logs = tempfile::tempdir()?;
    let config = proto::PodSandboxConfig {
        metadata: Some(proto::PodSandboxMetadata {
            name: format!("{name}-{nanos}"),
            uid: format!("spdy-test-{}-{nanos}", std::process::id()),
            namespace: "rkube-spdy-test".into(),
            attempt: 0,
        }),
        log_directory: logs.path().display().to_string(),
        linux: Some(proto::LinuxPodSandboxConfig {
            security_context: Some(proto::LinuxSandboxSecurityContext {
                namespace_options: Some(host_namespaces()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let id = cri.run_pod_sandbox(config.clone(), "").await?;
    Ok(Pod {
        id,
        config,
        _logs: logs,
    })
}

impl Pod {
    async fn start(
        &self,
        cri: &CriClient,
        name: &str,
        image: &str,
        args: &[&str],
    ) -> anyhow::Result<String> {
        let image_ref = cri.pull_image(image, Some(&self.config)).await?;
        let config = proto::ContainerConfig {
            metadata: Some(proto::ContainerMetadata {
                name: name.into(),
                attempt: 0,
            }),
            image: Some(proto::ImageSpec {
                image: image_ref,
                user_specified_image: image.into(),
                ..Default::default()
            }),
            args: args.iter().map(|s| s.to_string()).collect(),
            log_path: format!("{name}/0.log"),
            linux: Some(proto::LinuxContainerConfig {
                security_context: Some(proto::LinuxContainerSecurityContext {
                    namespace_options: Some(host_namespaces()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let id = cri
            .create_container(&self.id, config, self.config.clone())
            .await?;
        cri.start_container(&id).await?;
        Ok(id)
    }
}

async fn with_pod(
    cri: &CriClient,
    name: &str,
    body: impl AsyncFnOnce(&Pod) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let pod = run_pod(cri, name).await?;
    let result = body(&pod).await;
    let stop = cri.stop_pod_sandbox(&pod.id).await;
    let remove = cri.remove_pod_sandbox(&pod.id).await;
    result?;
    stop?;
    remove?;
    Ok(())
}

/// Connects to a streaming URL of the runtime and upgrades to SPDY/3.1
/// offering `protocol`.
async fn upgrade_to(url: &str, protocol: &str) -> anyhow::Result<Session> {
    let uri: Uri = url
        .parse()
        .with_context(|| format!("streaming URL {url}"))?;
    ensure!(uri.scheme_str() == Some("http"), "unexpected URL {url}");
    let host = uri.host().context("URL without host")?;
    let port = uri.port_u16().unwrap_or(80);
    ensure!(
        host == "127.0.0.1" || host == "localhost" || host == "[::1]",
        "streaming server off loopback: {url}"
    );
    let mut tcp = within("connect", TcpStream::connect((host, port))).await??;
    let chosen = within(
        "upgrade",
        upgrade::client_handshake(
            &mut tcp,
            &Method::POST,
            &uri,
            &HeaderMap::new(),
            &[protocol],
        ),
    )
    .await??;
    ensure!(
        chosen.as_deref() == Some(protocol),
        "server chose {chosen:?}"
    );
    Ok(Session::client(tcp)?)
}

async fn open(session: &Session, headers: Headers) -> anyhow::Result<Stream> {
    Ok(within("SYN_REPLY", session.open(headers)).await??)
}

async fn read_all(mut stream: Stream) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    within("reading a stream", stream.read_to_end(&mut out)).await??;
    Ok(out)
}

/// Runs `cmd` in `container` as kubectl does with remotecommand v4 (error
/// stream first, then stdin, stdout, stderr); returns stdout, stderr and the
/// final Status of the error stream.
async fn exec_v4(
    cri: &CriClient,
    container: &str,
    cmd: &[&str],
    stdin: Option<Vec<u8>>,
) -> anyhow::Result<(Vec<u8>, Vec<u8>, serde_json::Value)> {
    let url = cri
        .exec(proto::ExecRequest {
            container_id: container.into(),
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            tty: false,
            stdin: stdin.is_some(),
            stdout: true,
            stderr: true,
        })
        .await?;
    let session = upgrade_to(&url, "v4.channel.k8s.io").await?;
    let stream = |kind: &str| Headers::new().with("streamType", kind);
    // kubectl leaves its side of the error stream open: a FIN there makes
    // upstream's server end the exec at once, without output or status.
    let error = open(&session, stream("error")).await?;
    let stdin_stream = match stdin {
        Some(_) => Some(open(&session, stream("stdin")).await?),
        None => None,
    };
    let stdout = open(&session, stream("stdout")).await?;
    let stderr = open(&session, stream("stderr")).await?;
    let feed = async {
        if let (Some(mut s), Some(data)) = (stdin_stream, stdin) {
            within("writing stdin", s.write_all(&data)).await??;
            s.close_write().await?;
        }
        anyhow::Ok(())
    };
    let (fed, out, err, status) =
        tokio::join!(feed, read_all(stdout), read_all(stderr), read_all(error));
    fed?;
    let status = status?;
    let status: serde_json::Value = serde_json::from_slice(&status)
        .with_context(|| format!("error stream: {:?}", String::from_utf8_lossy(&status)))?;
    Ok((out?, err?, status))
}

#[tokio::test]
async fn exec_streams_stdin_stdout_stderr_and_status() -> anyhow::Result<()> {
    let Some(cri) = runtime().await else {
        return Ok(());
    };
    with_pod(&cri, "spdy-exec", async |pod| {
        let sleeper = pod
            .start(&cri, "sleeper", "busybox", &["sleep", "3600"])
            .await?;

        // Far more than one 64 KiB window each way: upstream's SPDY peer
        // does no flow control, so neither side may wait for WINDOW_UPDATE.
        let input: Vec<u8> = (0..200_000u32)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        let (out, err, status) = exec_v4(
            &cri,
            &sleeper,
            &["sh", "-c", "cat; echo done >&2"],
            Some(input.clone()),
        )
        .await?;
        ensure!(
            out == input,
            "stdout: {} bytes of {}",
            out.len(),
            input.len()
        );
        assert_eq!(String::from_utf8_lossy(&err), "done\n");
        assert_eq!(status["status"], "Success", "{status}");

        // A failing command: v4 reports the exit code in the Status.
        let (out, err, status) =
            exec_v4(&cri, &sleeper, &["sh", "-c", "echo out; exit 3"], None).await?;
        assert_eq!(out, b"out\n");
        assert!(err.is_empty());
        assert_eq!(status["status"], "Failure", "{status}");
        assert_eq!(status["reason"], "NonZeroExitCode", "{status}");
        let causes = status["details"]["causes"]
            .as_array()
            .context("no causes")?;
        ensure!(
            causes
                .iter()
                .any(|c| c["reason"] == "ExitCode" && c["message"] == "3"),
            "{status}"
        );
        Ok(())
    })
    .await
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

#[tokio::test]
async fn port_forward_reaches_a_server_in_the_pod() -> anyhow::Result<()> {
    let Some(cri) = runtime().await else {
        return Ok(());
    };
    let port = free_port()?;
    with_pod(&cri, "spdy-pf", async |pod| {
        let port_arg = port.to_string();
        pod.start(&cri, "app", "testapp", &["serve", "--port", &port_arg])
            .await?;
        let url = cri.port_forward(&pod.id, vec![i32::from(port)]).await?;
        // The server may still be starting: one request per attempt, as
        // kubectl opens a pair of streams per connection.
        let session = upgrade_to(&url, "portforward.k8s.io").await?;
        let deadline = tokio::time::Instant::now() + DEADLINE;
        for request_id in 0u32.. {
            let pair = |kind: &str| {
                Headers::new()
                    .with("streamType", kind)
                    .with("port", port_arg.clone())
                    .with("requestID", request_id.to_string())
            };
            let mut error = open(&session, pair("error")).await?;
            error.close_write().await?;
            let mut data = open(&session, pair("data")).await?;
            data.write_all(b"GET /echo?msg=through-spdy HTTP/1.0\r\nHost: pod\r\n\r\n")
                .await?;
            let (answer, failure) = tokio::join!(read_all(data), read_all(error));
            let (answer, failure) = (answer?, failure?);
            let answer = String::from_utf8_lossy(&answer);
            if answer.starts_with("HTTP/1.") {
                ensure!(answer.contains(" 200 "), "answer: {answer}");
                ensure!(answer.ends_with("through-spdy"), "answer: {answer}");
                ensure!(failure.is_empty(), "{}", String::from_utf8_lossy(&failure));
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "no answer through the port forward; error stream: {}",
                    String::from_utf8_lossy(&failure)
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        unreachable!()
    })
    .await
}
