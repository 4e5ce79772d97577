//! Memory-backed volumes with real containers: an `emptyDir` with
//! `medium: Memory` and a Secret volume are tmpfs mounts inside the container
//! (sized by `sizeLimit`), and the agent unmounts them when the pod goes.
//! Skipped, with a message, when no container runtime answers.

use rkube_e2e::real_node::RealNode;

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

/// kubectl's stdout, whether or not it succeeded.
fn stdout(node: &RealNode, args: &[&str]) -> String {
    let out = node.cluster.kubectl(args);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn memory_empty_dir_and_secret_volumes_are_tmpfs() {
    let Some(node) = RealNode::start("memvol") else {
        return;
    };
    let out = node.cluster.kubectl_stdin(&["apply", "-f", "-"], Some(POD));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let log = node.wait_for("the pod's output", 90, || {
        let log = stdout(&node, &["logs", "mem"]);
        log.contains("s3cret").then_some(log)
    });
    let cache = log.lines().find(|l| l.contains(" /cache ")).unwrap_or("");
    assert!(cache.starts_with("tmpfs /cache tmpfs "), "{log}");
    assert!(cache.contains("size=16384k"), "{log}");
    let creds = log.lines().find(|l| l.contains(" /creds ")).unwrap_or("");
    assert!(creds.starts_with("tmpfs /creds tmpfs "), "{log}");

    // On the node: tmpfs mounts under the pod's directory, gone with the pod.
    let uid = stdout(
        &node,
        &["get", "pod", "mem", "-o", "jsonpath={.metadata.uid}"],
    );
    let pod_dir = node.agent.data_dir.join("agent/pods").join(uid.trim());
    let mounted = || {
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let prefix = format!("{}/", pod_dir.display());
        info.lines()
            .filter(|l| l.split(' ').nth(4).is_some_and(|p| p.starts_with(&prefix)))
            .count()
    };
    assert_eq!(mounted(), 2, "agent log:\n{}", node.agent.log_text());
    let out = node
        .cluster
        .kubectl(&["delete", "pod", "mem", "--wait=false"]);
    assert!(out.status.success());
    node.wait_for("the pod to go", 60, || {
        let out = node.cluster.kubectl(&["get", "pod", "mem"]);
        (!out.status.success()).then_some(())
    });
    assert_eq!(mounted(), 0, "agent log:\n{}", node.agent.log_text());
    assert!(!pod_dir.exists());
}

const HOG: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: hog}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "dd if=/dev/zero of=/cache/fill bs=1M count=8; sleep 3600"]
    volumeMounts:
    - {name: cache, mountPath: /cache}
  volumes:
  - {name: cache, emptyDir: {sizeLimit: 2Mi}}
"#;

#[test]
fn disk_empty_dir_over_its_size_limit_evicts_the_pod() {
    let Some(node) = RealNode::start("evict") else {
        return;
    };
    let out = node.cluster.kubectl_stdin(&["apply", "-f", "-"], Some(HOG));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The agent looks at the volume every 10 s, as upstream's eviction manager.
    let pod = node.wait_phase("hog", "Failed", 90);
    let message = "Usage of EmptyDir volume \"cache\" exceeds the limit \"2Mi\". ";
    assert_eq!(pod["status"]["reason"], "Evicted", "{pod}");
    assert_eq!(pod["status"]["message"], message, "{pod}");
    let disruption = pod["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "DisruptionTarget")
        .cloned()
        .unwrap_or_default();
    assert_eq!(disruption["reason"], "TerminationByKubelet", "{pod}");
    let want = format!("Evicted {message}");
    node.wait_for("the Evicted event", 30, || {
        node.event_messages("hog").contains(&want).then_some(())
    });
}
