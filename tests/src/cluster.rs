//! Starting and stopping an `rkube server` in a temporary data directory.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The workspace root (parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The `rkube` binary under test: `$RKUBE_BIN` or `target/{debug,release}/rkube`.
pub fn rkube_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("RKUBE_BIN") {
        return PathBuf::from(p);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    for profile in ["debug", "release"] {
        let p = target.join(profile).join("rkube");
        if p.exists() {
            return p;
        }
    }
    panic!("rkube binary not found: run `cargo build -p rkube` first or set RKUBE_BIN");
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Options for a server under test.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    pub datastore_endpoint: Option<String>,
    /// Reuse this data dir (for restarts) instead of a fresh one.
    pub data_dir: Option<PathBuf>,
    pub port: Option<u16>,
    /// More `rkube server` flags (e.g. `--node-monitor-grace-period 5`).
    pub extra_args: Vec<String>,
}

/// A running `rkube server`; stopped (by PID) when dropped.
pub struct Cluster {
    child: Option<Child>,
    pub data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    pub port: u16,
    pub kubeconfig: PathBuf,
    pub log: PathBuf,
}

impl Cluster {
    /// Starts a server with default options and waits for `/readyz`.
    pub fn start() -> Cluster {
        Self::start_with(ServerOptions::default())
    }

    pub fn start_with(opts: ServerOptions) -> Cluster {
        let (tmp, data_dir) = match opts.data_dir {
            Some(d) => (None, d),
            None => {
                let t = tempfile::tempdir().expect("tempdir");
                let d = t.path().to_path_buf();
                (Some(t), d)
            }
        };
        let port = opts.port.unwrap_or_else(free_port);
        let log = data_dir.join(format!("server-{port}.log"));
        std::fs::create_dir_all(&data_dir).expect("data dir");
        let logf = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let mut cmd = Command::new(rkube_bin());
        cmd.arg("server")
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("--bind-address")
            .arg("127.0.0.1")
            .arg("--https-listen-port")
            .arg(port.to_string())
            .arg("--disable-agent")
            .stdin(Stdio::null())
            .stdout(logf.try_clone().expect("log"))
            .stderr(logf);
        if let Some(ep) = &opts.datastore_endpoint {
            cmd.arg("--datastore-endpoint").arg(ep);
        }
        cmd.args(&opts.extra_args);
        let child = cmd.spawn().expect("start rkube server");
        let mut c = Cluster {
            child: Some(child),
            kubeconfig: data_dir.join("kubeconfig.yaml"),
            data_dir,
            _tmp: tmp,
            port,
            log,
        };
        c.wait_ready(Duration::from_secs(60));
        c
    }

    /// The server's PID.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    fn wait_ready(&mut self, within: Duration) {
        let start = Instant::now();
        while start.elapsed() < within {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "rkube server exited early ({status}); log:\n{}",
                    self.log_text()
                );
            }
            let ok = Command::new("curl")
                .args(["-sk", "--max-time", "1"])
                .arg(format!("https://127.0.0.1:{}/readyz", self.port))
                .output()
                .map(|o| o.stdout == b"ok")
                .unwrap_or(false);
            if ok && self.kubeconfig.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "rkube server not ready after {within:?}; log:\n{}",
            self.log_text()
        );
    }

    /// The server's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The admin bearer token.
    pub fn token(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("tls/admin.token"))
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    /// Runs kubectl with this cluster's kubeconfig.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_stdin(args, None)
    }

    /// Runs kubectl with `stdin` fed to it.
    pub fn kubectl_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new("kubectl");
        cmd.env("KUBECONFIG", &self.kubeconfig)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = cmd.spawn().expect("run kubectl");
        let watchdog = Watchdog::arm(child.id(), kubectl_limit(), args);
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input.as_bytes()).expect("write stdin");
        }
        let out = child.wait_with_output().expect("kubectl output");
        watchdog.disarm();
        out
    }

    /// Runs kubectl and returns stdout, panicking with both streams when it fails.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {} failed ({}):\nstdout: {}\nstderr: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs kubectl expecting failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            !out.status.success(),
            "kubectl {} unexpectedly succeeded:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Sends SIGKILL and waits for the process to end.
    pub fn kill_hard(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM and waits up to 10 s; returns whether it exited cleanly.
    pub fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        send_signal(child.id(), libc::SIGTERM);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }
}

/// Sends a signal to one process we started.
pub fn send_signal(pid: u32, sig: i32) {
    let Ok(pid) = i32::try_from(pid) else { return };
    // SAFETY-free: libc::kill is a plain syscall on a PID we own.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(pid, sig);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The answer to a raw HTTP request: status code and parsed JSON body (Null if not JSON).
#[derive(Debug)]
pub struct RawResponse {
    pub code: u16,
    pub body: serde_json::Value,
    pub text: String,
}

impl Cluster {
    /// Sends a raw HTTPS request with curl (`token` None = no Authorization header).
    pub fn raw(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Option<&[u8]>,
        token: Option<&str>,
    ) -> RawResponse {
        let url = format!("https://127.0.0.1:{}{path}", self.port);
        let mut cmd = Command::new("curl");
        cmd.args(["-sk", "-X", method, "-o", "-", "-w", "\n%{http_code}", "-H"])
            .arg(format!("Content-Type: {content_type}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(t) = token {
            cmd.arg("-H").arg(format!("Authorization: Bearer {t}"));
        }
        if body.is_some() {
            cmd.args(["--data-binary", "@-"]);
        }
        cmd.arg(url);
        let mut child = cmd.spawn().expect("curl");
        if let (Some(b), Some(mut pipe)) = (body, child.stdin.take()) {
            pipe.write_all(b).expect("write body");
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().expect("curl output");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (payload, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        RawResponse {
            code: code.trim().parse().unwrap_or(0),
            body: serde_json::from_str(payload).unwrap_or(serde_json::Value::Null),
            text: payload.to_string(),
        }
    }
}

/// A running `rkube agent --simulate N`; stopped (by PID) when dropped.
pub struct SimAgent {
    child: Option<Child>,
    /// The agent's log file.
    pub log: PathBuf,
}

impl SimAgent {
    /// Sends SIGUSR1 (silence every node) or SIGUSR2 (resume).
    pub fn signal(&self, sig: i32) {
        if let Some(c) = &self.child {
            send_signal(c.id(), sig);
        }
    }

    /// The agent's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for SimAgent {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            send_signal(c.id(), libc::SIGTERM);
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(5) {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Cluster {
    /// Starts `rkube agent --simulate n` joined to this server (nodes `sim-0000`, …).
    pub fn simulate_nodes(&self, n: u32) -> SimAgent {
        self.simulate_nodes_with("sim-", n, &[])
    }

    /// Starts `rkube agent --simulate n --sim-name-prefix prefix EXTRA…` (nodes
    /// `{prefix}0000`, …); its log is `agent-{prefix}.log` in the data dir.
    pub fn simulate_nodes_with(&self, prefix: &str, n: u32, extra_args: &[&str]) -> SimAgent {
        let token = std::fs::read_to_string(self.data_dir.join("token")).unwrap_or_default();
        let log_path = self.data_dir.join(format!("agent-{prefix}.log"));
        let log = std::fs::File::create(&log_path).expect("agent log");
        let child = Command::new(rkube_bin())
            .arg("agent")
            .arg("--server")
            .arg(format!("https://127.0.0.1:{}", self.port))
            .arg("--token")
            .arg(token.trim())
            .arg("--simulate")
            .arg(n.to_string())
            .arg("--sim-name-prefix")
            .arg(prefix)
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start rkube agent");
        SimAgent {
            child: Some(child),
            log: log_path,
        }
    }
}

/// A running node agent (`rkube agent` with a real container runtime) with
/// its own data directory; stopped (SIGTERM, by PID) when dropped. The pods'
/// containers keep running when it stops, as a kubelet's do.
pub struct NodeAgent {
    child: Option<Child>,
    /// The Node's name.
    pub node_name: String,
    /// `--data-dir` (the agent keeps its state in `agent/` under it).
    pub data_dir: PathBuf,
    _tmp: tempfile::TempDir,
    /// The agent's log file (appended to across restarts).
    pub log: PathBuf,
    args: Vec<String>,
}

impl NodeAgent {
    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("agent log");
        let child = Command::new(rkube_bin())
            .arg("agent")
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start rkube agent");
        self.child = Some(child);
    }

    /// The agent's PID (0 when stopped).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// The agent's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits up to 10 s (then SIGKILL); returns whether it
    /// exited cleanly.
    pub fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        send_signal(child.id(), libc::SIGTERM);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// Stops the agent and starts it again with the same flags and data.
    pub fn restart(&mut self) -> bool {
        let clean = self.stop();
        self.spawn();
        clean
    }
}

impl Drop for NodeAgent {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Cluster {
    /// Starts `rkube agent --node-name NAME` (a real kubelet on the machine's
    /// container runtime, `$RKUBE_CONTAINERD_SOCKET` or containerd's default
    /// socket) joined to this server, with a fresh data directory.
    pub fn start_node_agent(&self, node_name: &str, extra_args: &[&str]) -> NodeAgent {
        let token = std::fs::read_to_string(self.data_dir.join("token")).unwrap_or_default();
        let tmp = tempfile::tempdir().expect("agent data dir");
        let data_dir = tmp.path().to_path_buf();
        let mut args: Vec<String> = vec![
            "--server".into(),
            format!("https://127.0.0.1:{}", self.port),
            "--token".into(),
            token.trim().into(),
            "--node-name".into(),
            node_name.into(),
            "--data-dir".into(),
            data_dir.display().to_string(),
            // The API server reaches the agent (logs) on loopback only.
            "--node-ip".into(),
            "127.0.0.1".into(),
            "--kubelet-port".into(),
            free_port().to_string(),
        ];
        if let Ok(sock) = std::env::var("RKUBE_CONTAINERD_SOCKET") {
            args.push("--container-runtime-endpoint".into());
            args.push(format!("unix://{}", sock.trim_start_matches("unix://")));
        }
        args.extend(extra_args.iter().map(|s| s.to_string()));
        let mut agent = NodeAgent {
            child: None,
            node_name: node_name.to_string(),
            log: self.data_dir.join(format!("agent-{node_name}.log")),
            data_dir,
            _tmp: tmp,
            args,
        };
        agent.spawn();
        agent
    }
}

/// The longest one kubectl call may take before the tests kill it, so that a
/// hung call fails its test instead of stalling the whole suite.
/// `RKUBE_TEST_KUBECTL_LIMIT` (seconds) overrides it.
fn kubectl_limit() -> Duration {
    let secs = std::env::var("RKUBE_TEST_KUBECTL_LIMIT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(180);
    Duration::from_secs(secs)
}

/// Kills a child process (by PID) unless disarmed within its time limit.
struct Watchdog {
    done: std::sync::mpsc::Sender<()>,
}

impl Watchdog {
    fn arm(pid: u32, limit: Duration, args: &[&str]) -> Self {
        let (done, rx) = std::sync::mpsc::channel::<()>();
        let what = args.join(" ");
        std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                eprintln!("kubectl {what} still runs after {limit:?}: killing pid {pid}");
                send_signal(pid, libc::SIGKILL);
            }
        });
        Self { done }
    }

    fn disarm(self) {
        let _ = self.done.send(());
    }
}
