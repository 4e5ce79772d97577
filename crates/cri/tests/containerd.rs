//! Runs real containers through containerd's CRI: busybox, nginx and testapp
//! pulled from the local registry mirror (scripts/node-services.sh start;
//! images/build.sh). Skipped, with a message, when the socket is absent.
//!
//! The sandboxes use the host's network namespace, so no CNI network is needed;
//! servers listen on free loopback ports.

use anyhow::{Context, bail, ensure};
use rkube_cri::log::{Stream, parse_line};
use rkube_cri::proto;
use rkube_cri::{CriClient, DEFAULT_ENDPOINT};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
        // A socket file left behind by a runtime that was killed.
        Err(e @ rkube_cri::Error::Connect { .. }) => {
            eprintln!(
                "skipped: nothing answers on {path}: {:#}",
                anyhow::Error::from(e)
            );
            None
        }
        Err(e) => panic!("{e}"),
    }
}

/// One pod sandbox in the host network namespace, with a log directory.
struct Pod {
    id: String,
    config: proto::PodSandboxConfig,
    logs: tempfile::TempDir,
}

fn host_namespaces() -> proto::NamespaceOption {
    proto::NamespaceOption {
        network: proto::NamespaceMode::Node as i32,
        pid: proto::NamespaceMode::Container as i32,
        ipc: proto::NamespaceMode::Pod as i32,
        ..Default::default()
    }
}

async fn run_pod(cri: &CriClient, name: &str) -> anyhow::Result<Pod> {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let uid = format!("cri-test-{}-{nanos}", std::process::id());
    let logs = tempfile::tempdir()?;
    let config = proto::PodSandboxConfig {
        metadata: Some(proto::PodSandboxMetadata {
            name: format!("{name}-{nanos}"),
            uid,
            namespace: "rkube-cri-test".into(),
            attempt: 0,
        }),
        // As the kubelet does for hostNetwork pods: runc cannot set a
        // hostname without a private UTS namespace.
        hostname: String::new(),
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
    Ok(Pod { id, config, logs })
}

impl Pod {
    /// Pulls `image` and creates and starts a container running it.
    async fn start(
        &self,
        cri: &CriClient,
        name: &str,
        image: &str,
        command: &[&str],
        args: &[&str],
        mounts: Vec<proto::Mount>,
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
            command: command.iter().map(|s| s.to_string()).collect(),
            args: args.iter().map(|s| s.to_string()).collect(),
            log_path: format!("{name}/0.log"),
            mounts,
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

    fn log_path(&self, container: &str) -> PathBuf {
        self.logs.path().join(container).join("0.log")
    }

    async fn remove(self, cri: &CriClient) -> anyhow::Result<()> {
        cri.stop_pod_sandbox(&self.id).await?;
        cri.remove_pod_sandbox(&self.id).await?;
        Ok(())
    }
}

/// Runs `body` against a fresh sandbox and removes the sandbox whatever happens.
async fn with_pod(
    cri: &CriClient,
    name: &str,
    body: impl AsyncFnOnce(&Pod) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let pod = run_pod(cri, name).await?;
    let result = body(&pod).await;
    let cleanup = pod.remove(cri).await;
    result?;
    cleanup
}

async fn wait_exited(cri: &CriClient, id: &str) -> anyhow::Result<proto::ContainerStatus> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = cri.container_status(id).await?;
        if status.state == proto::ContainerState::ContainerExited as i32 {
            return Ok(status);
        }
        if Instant::now() > deadline {
            bail!("container {id} still {:?} after 60 s", status.state());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the log file holds `text` (the runtime writes it asynchronously).
async fn wait_for_log(path: &Path, text: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = std::fs::read_to_string(path).unwrap_or_default();
        if log.contains(text) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{} lacks {text:?}:\n{log}", path.display());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// GET http://127.0.0.1:port/path, retried until the server answers (10 s).
async fn http_get(port: u16, path: &str) -> anyhow::Result<(u16, String)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match http_get_once(port, path) {
            Ok(answer) => return Ok(answer),
            Err(e) if Instant::now() > deadline => {
                return Err(e).context(format!("GET 127.0.0.1:{port}{path}"));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

fn http_get_once(port: u16, path: &str) -> anyhow::Result<(u16, String)> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .context("no end of headers")?;
    let status = head
        .split(' ')
        .nth(1)
        .context("no status")?
        .parse::<u16>()?;
    Ok((status, body.to_string()))
}

#[tokio::test]
async fn busybox_says_hello_and_execs() -> anyhow::Result<()> {
    let Some(cri) = runtime().await else {
        return Ok(());
    };
    let version = cri.version().await?;
    assert_eq!(version.runtime_api_version, "v1");
    assert_eq!(version.runtime_name, "containerd");

    with_pod(&cri, "hello", async |pod| {
        // The pull always asks the registry (imagePullPolicy Always).
        let hello = pod
            .start(
                &cri,
                "hello",
                "busybox",
                &["sh", "-c", "echo Hello Kubernetes!"],
                &[],
                vec![],
            )
            .await?;
        assert!(cri.image_status("busybox").await?.is_some());
        let status = wait_exited(&cri, &hello).await?;
        assert_eq!(status.exit_code, 0);
        assert_eq!(status.reason, "Completed");
        wait_for_log(&pod.log_path("hello"), "Hello Kubernetes!").await?;
        let log = std::fs::read(pod.log_path("hello"))?;
        let lines: Vec<_> = log
            .split_inclusive(|&b| b == b'\n')
            .filter_map(parse_line)
            .collect();
        ensure!(
            lines
                .iter()
                .any(|l| l.stream == Stream::Stdout && l.message == b"Hello Kubernetes!"),
            "log lacks the greeting: {}",
            String::from_utf8_lossy(&log)
        );

        // A long-running container: exec into it, then stop it. `sleep` as
        // PID 1 ignores SIGTERM, so the stop ends with SIGKILL (137).
        let sleeper = pod
            .start(&cri, "sleeper", "busybox", &["sleep", "3600"], &[], vec![])
            .await?;
        let exec = cri
            .exec_sync(
                &sleeper,
                vec![
                    "sh".into(),
                    "-c".into(),
                    "echo out; echo err >&2; exit 3".into(),
                ],
                Duration::from_secs(10),
            )
            .await?;
        assert_eq!(exec.exit_code, 3);
        assert_eq!(exec.stdout, b"out\n");
        assert_eq!(exec.stderr, b"err\n");
        let containers = cri
            .list_containers(Some(proto::ContainerFilter {
                pod_sandbox_id: pod.id.clone(),
                ..Default::default()
            }))
            .await?;
        assert_eq!(containers.len(), 2);
        cri.stop_container(&sleeper, Duration::from_secs(1)).await?;
        let status = cri.container_status(&sleeper).await?;
        assert_eq!(status.exit_code, 137);
        cri.remove_container(&sleeper).await?;
        let err = cri.container_status(&sleeper).await.unwrap_err();
        assert!(err.is_not_found(), "{err}");
        assert_eq!(
            cri.pod_sandbox_status(&pod.id).await?.state,
            proto::PodSandboxState::SandboxReady as i32
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn nginx_serves_its_page_and_stops() -> anyhow::Result<()> {
    let Some(cri) = runtime().await else {
        return Ok(());
    };
    // The pod shares the host's network: listen on a free port through a
    // mounted conf.d/default.conf, the way a ConfigMap volume replaces it.
    let port = free_port()?;
    let conf = tempfile::tempdir()?;
    std::fs::write(
        conf.path().join("default.conf"),
        format!(
            "server {{\n    listen 127.0.0.1:{port};\n    location / {{ root /usr/share/nginx/html; index index.html; }}\n}}\n"
        ),
    )?;
    let mounts = vec![proto::Mount {
        container_path: "/etc/nginx/conf.d".into(),
        host_path: conf.path().display().to_string(),
        readonly: true,
        ..Default::default()
    }];
    with_pod(&cri, "nginx", async |pod| {
        let web = pod
            .start(&cri, "web", "nginx", &[], &[], mounts.clone())
            .await?;
        let (status, body) = http_get(port, "/").await?;
        assert_eq!(status, 200);
        ensure!(body.contains("Welcome to nginx!"), "page: {body}");
        assert_eq!(http_get(port, "/koten.html").await?.0, 404);
        let exec = cri
            .exec_sync(
                &web,
                vec![
                    "sh".into(),
                    "-c".into(),
                    "echo ok > /usr/share/nginx/html/koten.html".into(),
                ],
                Duration::from_secs(10),
            )
            .await?;
        assert_eq!(exec.exit_code, 0, "{exec:?}");
        assert_eq!(http_get(port, "/koten.html").await?, (200, "ok\n".into()));
        // The access log goes to the container's stdout, so to its CRI log.
        wait_for_log(&pod.log_path("web"), "stdout F 127.0.0.1 - - ").await?;
        wait_for_log(&pod.log_path("web"), "\"GET /koten.html HTTP/1.1\" 200").await?;
        // `nginx -s stop` reaches the master through its pid file.
        let exec = cri
            .exec_sync(
                &web,
                vec!["nginx".into(), "-s".into(), "stop".into()],
                Duration::from_secs(10),
            )
            .await?;
        assert_eq!(exec.exit_code, 0, "{exec:?}");
        let status = wait_exited(&cri, &web).await?;
        assert_eq!(status.exit_code, 0);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn testapp_serves_and_exits_on_sigterm() -> anyhow::Result<()> {
    let Some(cri) = runtime().await else {
        return Ok(());
    };
    let port = free_port()?;
    with_pod(&cri, "testapp", async |pod| {
        let port_arg = port.to_string();
        let app = pod
            .start(
                &cri,
                "app",
                "testapp",
                &[],
                &["serve", "--port", &port_arg],
                vec![],
            )
            .await?;
        let (status, hostname) = http_get(port, "/").await?;
        assert_eq!(status, 200);
        assert!(!hostname.is_empty());
        assert_eq!(http_get(port, "/echo?msg=hi").await?, (200, "hi".into()));
        assert_eq!(http_get(port, "/healthz").await?.0, 200);
        assert_eq!(http_get(port, "/flip").await?.0, 200);
        assert_eq!(http_get(port, "/healthz").await?.0, 500);
        // SIGTERM (the image has no StopSignal) ends it with status 0 well
        // before the grace period.
        let started = Instant::now();
        cri.stop_container(&app, Duration::from_secs(20)).await?;
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(cri.container_status(&app).await?.exit_code, 0);
        wait_for_log(&pod.log_path("app"), "stdout F testapp: serving on port").await?;
        Ok(())
    })
    .await
}
