//! Starting `rkube server`, simulated-node agents and etcd on loopback; readiness, RSS, CPU time; stopped by PID on drop.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Resident set size of `pid` in bytes (VmRSS from `/proc/<pid>/status`).
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Makes `pid` the first process the kernel's OOM killer picks (best effort), so a bench
/// that outgrows the machine's memory loses its own server, not a neighbour's work.
fn prefer_oom_kill(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/oom_score_adj"), "1000");
}

/// Bytes the kernel deems available for new allocations (`MemAvailable` of `/proc/meminfo`).
pub fn mem_available() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = s.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Sends SIGKILL to one process we started.
pub fn kill_now(pid: u32) {
    signal(pid, "KILL");
}

/// Sends `signal` (e.g. "TERM") to one process we started.
fn signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Stops a child: SIGTERM, up to `grace`, then SIGKILL.
fn stop_child(child: &mut Child, grace: Duration) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    signal(child.id(), "TERM");
    let t0 = Instant::now();
    while t0.elapsed() < grace {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A running `rkube server`.
pub struct Server {
    child: Option<Child>,
    pub port: u16,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    /// Spawn → `/readyz` answered `ok`.
    pub ready_after: Duration,
}

impl Server {
    /// Starts `bin server` on 127.0.0.1 with `data_dir` and waits (polling every ~5 ms) for
    /// `/readyz` to answer `ok` and the kubeconfig to exist. The API server runs alone
    /// (`--disable-scheduler --disable-controller-manager`).
    pub async fn start(
        bin: &Path,
        data_dir: &Path,
        datastore: Option<&str>,
        within: Duration,
    ) -> Result<Server> {
        let alone = ["--disable-scheduler", "--disable-controller-manager"].map(String::from);
        Self::spawn(bin, data_dir, datastore, within, &alone).await
    }

    /// Like [`Server::start`], with the scheduler and controllers running in the server
    /// (the whole control plane; `--disable-agent` still), plus `extra` flags.
    pub async fn start_control_plane(
        bin: &Path,
        data_dir: &Path,
        within: Duration,
        extra: &[String],
    ) -> Result<Server> {
        Self::spawn(bin, data_dir, None, within, extra).await
    }

    async fn spawn(
        bin: &Path,
        data_dir: &Path,
        datastore: Option<&str>,
        within: Duration,
        extra: &[String],
    ) -> Result<Server> {
        let port = free_port()?;
        std::fs::create_dir_all(data_dir)?;
        let log = data_dir.join(format!("server-{port}.log"));
        let logf = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)?;
        let mut cmd = Command::new(bin);
        cmd.arg("server")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--bind-address")
            .arg("127.0.0.1")
            .arg("--https-listen-port")
            .arg(port.to_string())
            .arg("--disable-agent")
            .stdin(Stdio::null())
            .stdout(logf.try_clone()?)
            .stderr(logf);
        cmd.args(extra);
        if let Some(ep) = datastore {
            cmd.arg("--datastore-endpoint").arg(ep);
        }
        let probe = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .timeout(Duration::from_secs(1))
            .build()?;
        let url = format!("https://127.0.0.1:{port}/readyz");
        let kubeconfig = data_dir.join("kubeconfig.yaml");
        let t0 = Instant::now();
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        prefer_oom_kill(child.id());
        let mut s = Server {
            child: Some(child),
            port,
            data_dir: data_dir.to_path_buf(),
            log,
            ready_after: Duration::ZERO,
        };
        while t0.elapsed() < within {
            if let Some(Ok(Some(status))) = s.child.as_mut().map(Child::try_wait) {
                bail!(
                    "rkube server exited early ({status}); log:\n{}",
                    s.log_tail()
                );
            }
            if let Ok(r) = probe.get(&url).send().await
                && r.status().is_success()
                && r.bytes().await.map(|b| &b[..] == b"ok").unwrap_or(false)
            {
                s.ready_after = t0.elapsed();
                if kubeconfig.exists() {
                    return Ok(s);
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        bail!(
            "rkube server not ready after {within:?}; log:\n{}",
            s.log_tail()
        )
    }

    /// The server's PID.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// The kubeconfig it wrote.
    pub fn kubeconfig(&self) -> PathBuf {
        self.data_dir.join("kubeconfig.yaml")
    }

    /// The last lines of its log.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log)
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// The node join token it wrote.
    pub fn token(&self) -> Result<String> {
        let path = self.data_dir.join("token");
        Ok(std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?
            .trim()
            .to_string())
    }

    /// SIGTERM, then SIGKILL after 20 s.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            stop_child(&mut c, Duration::from_secs(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The last 30 lines of a log file.
fn log_tail(path: &Path) -> String {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// CPU time (user + system) a process has used so far, from `/proc/<pid>/stat`.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = s.get(s.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 1000 / CLK_TCK))
}

/// Kernel clock ticks per second (`getconf CLK_TCK`: 100 on Linux).
const CLK_TCK: u64 = 100;

/// A running `rkube agent --simulate N` (simulated nodes), stopped by PID on drop.
pub struct Agent {
    child: Option<Child>,
    pub log: PathBuf,
}

impl Agent {
    /// Starts `bin agent --simulate nodes` against `server` with `token`, logging to `log`.
    /// `extra` are further agent flags (e.g. `--sim-pods 110`).
    pub fn start(
        bin: &Path,
        server: &str,
        token: &str,
        nodes: u32,
        log: &Path,
        extra: &[String],
    ) -> Result<Agent> {
        let logf = std::fs::File::create(log)?;
        let child = Command::new(bin)
            .arg("agent")
            .arg("--server")
            .arg(server)
            .arg("--simulate")
            .arg(nodes.to_string())
            .args(extra)
            .env("RKUBE_TOKEN", token)
            .stdin(Stdio::null())
            .stdout(logf.try_clone()?)
            .stderr(logf)
            .spawn()
            .with_context(|| format!("starting {} agent", bin.display()))?;
        prefer_oom_kill(child.id());
        Ok(Agent {
            child: Some(child),
            log: log.to_path_buf(),
        })
    }

    /// The agent's PID.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// Fails if the agent has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
            bail!("rkube agent exited ({status}); log:\n{}", self.log_tail());
        }
        Ok(())
    }

    /// The last lines of its log.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log)
    }

    /// SIGTERM, then SIGKILL after 10 s.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            stop_child(&mut c, Duration::from_secs(10));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A real etcd (Debian's `/usr/bin/etcd`, or `$ETCD_BIN`) on free loopback ports.
pub struct Etcd {
    child: Child,
    pub endpoint: String,
    _dir: tempfile::TempDir,
}

impl Etcd {
    /// The etcd binary.
    pub fn bin() -> PathBuf {
        std::env::var_os("ETCD_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/bin/etcd"))
    }

    /// Starts etcd in a temporary data dir (under `$RKUBE_BENCH_ETCD_DIR` when
    /// set, e.g. `/dev/shm` to take the disk's fsync out) and waits until
    /// `/health` says true.
    pub async fn start() -> Result<Etcd> {
        let bin = Self::bin();
        if !bin.exists() {
            bail!(
                "etcd not found at {}: install Debian's etcd-server",
                bin.display()
            );
        }
        let mut builder = tempfile::Builder::new();
        builder.prefix("rkube-bench-etcd");
        let dir = match std::env::var_os("RKUBE_BENCH_ETCD_DIR") {
            Some(parent) => builder.tempdir_in(parent)?,
            None => builder.tempdir()?,
        };
        let (client, peer) = (free_port()?, free_port()?);
        let endpoint = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let log = std::fs::File::create(dir.path().join("etcd.log"))?;
        let child = Command::new(bin)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args([
                "--listen-client-urls",
                &endpoint,
                "--advertise-client-urls",
                &endpoint,
            ])
            .args([
                "--listen-peer-urls",
                &peer_url,
                "--initial-advertise-peer-urls",
                &peer_url,
            ])
            .arg("--initial-cluster")
            .arg(format!("default={peer_url}"))
            .args(["--quota-backend-bytes", "8589934592"])
            .env("ETCD_UNSUPPORTED_ARCH", "")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting etcd")?;
        let e = Etcd {
            child,
            endpoint,
            _dir: dir,
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .build()?;
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(30) {
            if let Ok(r) = http.get(format!("{}/health", e.endpoint)).send().await
                && r.text().await.map(|t| t.contains("true")).unwrap_or(false)
            {
                return Ok(e);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("etcd did not become healthy within 30s")
    }

    /// etcd's PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        stop_child(&mut self.child, Duration::from_secs(10));
    }
}
