//! Test support: a real `rkube server` (API server only) in a temp dir, killed by PID on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::future::Future;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::PostParams;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};
use rkube_controllers::{ControllersConfig, run};
use tokio_util::sync::CancellationToken;

/// The `rkube` binary: `$RKUBE_BIN` or `target/{debug,release}/rkube`.
fn rkube_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("RKUBE_BIN") {
        return PathBuf::from(p);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    for profile in ["debug", "release"] {
        let p = target.join(profile).join("rkube");
        if p.exists() {
            return p;
        }
    }
    panic!("rkube binary not found: run `cargo build -p rkube` first or set RKUBE_BIN");
}

/// A running API server (its own scheduler and controllers off) and an admin client.
pub struct Server {
    child: Child,
    _dir: tempfile::TempDir,
    pub client: Client,
}

impl Server {
    /// Starts the server and waits until the client can reach it.
    pub async fn start() -> Result<Server> {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let log = std::fs::File::create(dir.path().join("server.log"))?;
        let child = Command::new(rkube_bin())
            .arg("server")
            .arg("--data-dir")
            .arg(dir.path())
            .args([
                "--bind-address",
                "127.0.0.1",
                "--https-listen-port",
                &port.to_string(),
            ])
            .args([
                "--disable-agent",
                "--disable-controller-manager",
                "--disable-scheduler",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("start rkube server")?;
        let mut server = Server {
            child,
            _dir: dir,
            client: placeholder_client()?,
        };
        let kc = server._dir.path().join("kubeconfig.yaml");
        let start = Instant::now();
        server.client = loop {
            if start.elapsed() > Duration::from_secs(60) {
                let log = std::fs::read_to_string(server._dir.path().join("server.log"))
                    .unwrap_or_default();
                bail!("server not ready; log:\n{log}");
            }
            if kc.exists()
                && let Ok(k) = Kubeconfig::read_from(&kc)
                && let Ok(cfg) =
                    kube::Config::from_custom_kubeconfig(k, &KubeConfigOptions::default()).await
                && let Ok(client) = Client::try_from(cfg)
                && client.apiserver_version().await.is_ok()
            {
                break client;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        Ok(server)
    }
}

impl Server {
    /// The admin kubeconfig the server wrote, for the real `kubectl`.
    pub fn kubeconfig(&self) -> PathBuf {
        self._dir.path().join("kubeconfig.yaml")
    }
}

/// A client that is replaced before use (lets `Drop` own the child from the start).
fn placeholder_client() -> Result<Client> {
    let cfg = kube::Config::new("https://127.0.0.1:1".parse().context("uri")?);
    Client::try_from(cfg).context("client")
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server plus the controllers (and whatever else the test spawns on `stop`); the
/// server is killed by PID and the tasks cancelled on drop.
pub struct Env {
    _server: Server,
    pub client: Client,
    pub stop: CancellationToken,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Env {
    /// Starts a server and the controllers with `config`.
    pub async fn start(config: ControllersConfig) -> Result<Env> {
        let server = Server::start().await?;
        let client = server.client.clone();
        let stop = CancellationToken::new();
        tokio::spawn(run(client.clone(), config, stop.clone()));
        Ok(Env {
            _server: server,
            client,
            stop,
        })
    }

    /// The admin kubeconfig, for the real `kubectl`.
    pub fn kubeconfig(&self) -> PathBuf {
        self._server.kubeconfig()
    }
}

/// Polls `f` until it yields `Some`, for up to 40 s.
pub async fn wait_for<T, F, Fut>(what: &str, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await? {
            return Ok(v);
        }
        if start.elapsed() > Duration::from_secs(40) {
            bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Creates namespace `name` (already there is fine).
pub async fn make_ns(client: &Client, name: &str) -> Result<()> {
    let ns: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": name}}))?;
    match Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}
