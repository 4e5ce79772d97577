//! Memory-backed volumes with real containers: an `emptyDir` with
//! `medium: Memory` and a Secret volume are tmpfs mounts inside the container
//! (sized by `sizeLimit`), and the agent unmounts them when the pod goes.
//! Skipped, with a message, when no container runtime answers.

use std::path::Path;
use std::time::{Duration, Instant};

use rkube_cri::CriClient;
use rkube_e2e::Cluster;
use rkube_e2e::cluster::NodeAgent;

const POD: &str = r#"
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {password: s3cret}
---
apiVersion: v1
kind: Pod
metadata: {name: mem}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "grep /cache /proc/mounts; grep /creds /proc/mounts; cat /creds/password; echo; sleep 3600"]
    volumeMounts:
    - {name: cache, mountPath: /cache}
    - {name: creds, mountPath: /creds}
  volumes:
  - {name: cache, emptyDir: {medium: Memory, sizeLimit: 16Mi}}
  - {name: creds, secret: {secretName: creds}}
"#;

fn socket() -> String {
    std::env::var("RKUBE_CONTAINERD_SOCKET")
        .unwrap_or_else(|_| "/run/containerd/containerd.sock".into())
        .trim_start_matches("unix://")
        .to_string()
}

/// Whether a runtime answers on the CRI socket (says why not).
fn runtime_answers() -> bool {
    let path = socket();
    if !Path::new(&path).exists() {
        eprintln!("skipped: no CRI socket at {path} (scripts/node-services.sh start)");
        return false;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let ok = rt.block_on(async {
        let cri = CriClient::connect(&format!("unix://{path}")).await?;
        cri.version().await
    });
    if let Err(e) = ok {
        eprintln!("skipped: the runtime at {path} does not answer: {e}");
        return false;
    }
    true
}

/// Polls `f` every 200 ms for at most `secs`.
fn wait_for<T>(what: &str, secs: u64, agent: &NodeAgent, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}\nagent log:\n{}",
            agent.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn kubectl(cluster: &Cluster, args: &[&str]) -> String {
    let out = cluster.kubectl(args);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn memory_empty_dir_and_secret_volumes_are_tmpfs() {
    if !runtime_answers() {
        return;
    }
    for cidr in ["10.42.0.0/16", "10.43.0.0/16"] {
        let _ = std::process::Command::new("ip")
            .args(["route", "replace", "unreachable", cidr])
            .status();
    }
    let cluster = Cluster::start();
    let name = format!("e2e-memvol-{}", std::process::id());
    let mut agent = cluster.start_node_agent(&name, &[]);
    wait_for("the node to be Ready", 60, &agent, || {
        let s = kubectl(
            &cluster,
            &["get", "node", &name, "-o", "jsonpath={.spec.podCIDR}"],
        );
        (!s.trim().is_empty()).then_some(())
    });
    let out = cluster.kubectl_stdin(&["apply", "-f", "-"], Some(POD));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let log = wait_for("the pod's output", 90, &agent, || {
        let log = kubectl(&cluster, &["logs", "mem"]);
        log.contains("s3cret").then_some(log)
    });
    let cache = log.lines().find(|l| l.contains(" /cache ")).unwrap_or("");
    assert!(cache.starts_with("tmpfs /cache tmpfs "), "{log}");
    assert!(cache.contains("size=16384k"), "{log}");
    let creds = log.lines().find(|l| l.contains(" /creds ")).unwrap_or("");
    assert!(creds.starts_with("tmpfs /creds tmpfs "), "{log}");

    // On the node: tmpfs mounts under the pod's directory, gone with the pod.
    let uid = kubectl(
        &cluster,
        &["get", "pod", "mem", "-o", "jsonpath={.metadata.uid}"],
    );
    let pod_dir = agent.data_dir.join("agent/pods").join(uid.trim());
    let mounted = || {
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let prefix = format!("{}/", pod_dir.display());
        info.lines()
            .filter(|l| l.split(' ').nth(4).is_some_and(|p| p.starts_with(&prefix)))
            .count()
    };
    assert_eq!(mounted(), 2, "agent log:\n{}", agent.log_text());
    let out = cluster.kubectl(&["delete", "pod", "mem", "--wait=false"]);
    assert!(out.status.success());
    wait_for("the pod to go", 60, &agent, || {
        let out = cluster.kubectl(&["get", "pod", "mem"]);
        (!out.status.success()).then_some(())
    });
    assert_eq!(mounted(), 0, "agent log:\n{}", agent.log_text());
    assert!(!pod_dir.exists());
    agent.stop();
}
