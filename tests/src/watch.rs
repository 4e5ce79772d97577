//! A `kubectl get … -w` running in the background, its output lines collected as they come.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::cluster::{Cluster, send_signal};
use crate::kubectl_scenario::eventually;

/// A background `kubectl get -w`; stopped (SIGTERM, by PID) when dropped.
pub struct KubectlWatch {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl KubectlWatch {
    /// The lines printed so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Waits until the printed lines satisfy `pred`; returns whether they did in time.
    pub fn wait_for(&self, within: Duration, mut pred: impl FnMut(&[String]) -> bool) -> bool {
        eventually(within, || pred(&self.lines()))
    }
}

impl Drop for KubectlWatch {
    fn drop(&mut self) {
        send_signal(self.child.id(), libc::SIGTERM);
        let _ = self.child.wait();
    }
}

impl Cluster {
    /// Starts `kubectl ARGS` (which should include `-w`) in the background.
    pub fn watch(&self, args: &[&str]) -> KubectlWatch {
        let mut child = Command::new("kubectl")
            .env("KUBECONFIG", &self.kubeconfig)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("kubectl -w");
        let lines = Arc::new(Mutex::new(Vec::new()));
        if let Some(out) = child.stdout.take() {
            let sink = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if let Ok(mut l) = sink.lock() {
                        l.push(line);
                    }
                }
            });
        }
        KubectlWatch { child, lines }
    }
}
