//! A real etcd (Debian's etcd-server) on loopback for tests; killed by PID when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::cluster::free_port;

/// A running etcd.
pub struct Etcd {
    child: Child,
    pub endpoint: String,
    _dir: tempfile::TempDir,
}

/// The etcd binary: `$ETCD_BIN` or Debian's.
fn etcd_bin() -> PathBuf {
    std::env::var_os("ETCD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/etcd"))
}

impl Etcd {
    /// Starts etcd and waits until it answers.
    pub fn start() -> Etcd {
        let bin = etcd_bin();
        assert!(
            bin.exists(),
            "etcd not found at {}: install Debian's etcd-server (scripts/setup.sh does)",
            bin.display()
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let client = free_port();
        let peer = free_port();
        let endpoint = format!("http://127.0.0.1:{client}");
        let log = std::fs::File::create(dir.path().join("etcd.log")).expect("log");
        let child = Command::new(bin)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--listen-client-urls")
            .arg(&endpoint)
            .arg("--advertise-client-urls")
            .arg(&endpoint)
            .arg("--listen-peer-urls")
            .arg(format!("http://127.0.0.1:{peer}"))
            .arg("--initial-advertise-peer-urls")
            .arg(format!("http://127.0.0.1:{peer}"))
            .arg("--initial-cluster")
            .arg(format!("default=http://127.0.0.1:{peer}"))
            .env("ETCD_UNSUPPORTED_ARCH", "")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start etcd");
        let e = Etcd {
            child,
            endpoint,
            _dir: dir,
        };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            let ok = Command::new("curl")
                .args(["-s", "--max-time", "1"])
                .arg(format!("{}/health", e.endpoint))
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).contains("true"))
                .unwrap_or(false);
            if ok {
                return e;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("etcd did not become healthy");
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
