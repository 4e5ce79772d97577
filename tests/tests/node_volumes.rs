//! Volumes with real containers: an `emptyDir` with `medium: Memory` and a
//! Secret volume are tmpfs mounts inside the container (sized by `sizeLimit`),
//! and the agent unmounts them when the pod goes; a disk emptyDir over its
//! sizeLimit evicts the pod; a projected service-account token authenticates
//! to the API server. Skipped, with a message, when no container runtime answers.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rkube_e2e::real_node::RealNode;
use serde_json::Value;

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

const TOKEN_POD: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: tok}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
    volumeMounts:
    - {name: api, mountPath: /var/run/secrets/tokens}
  volumes:
  - name: api
    projected:
      sources:
      - serviceAccountToken: {path: token, expirationSeconds: 3600}
      - configMap: {name: kube-root-ca.crt, items: [{key: ca.crt, path: ca.crt}]}
      - downwardAPI: {items: [{path: namespace, fieldRef: {fieldPath: metadata.namespace}}]}
"#;

#[test]
fn projected_service_account_token_authenticates_as_the_pod_s_account() {
    let Some(node) = RealNode::start("satoken") else {
        return;
    };
    node.ok_env(&[], &["apply", "-f", "-"], Some(TOKEN_POD.as_bytes()));
    let pod = node.wait_phase("tok", "Running", 90);
    let dir = "/var/run/secrets/tokens";
    let token = node.ok(&["exec", "tok", "--", "cat", &format!("{dir}/token")]);
    let token = token.trim();
    let listing = node.ok(&["exec", "tok", "--", "ls", "-lL", dir]);
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with("-rw-r--r--") && l.ends_with(" token")),
        "{listing}"
    );
    assert_eq!(
        node.ok(&["exec", "tok", "--", "cat", &format!("{dir}/namespace")]),
        "default"
    );
    // Upstream's layout: the cluster CA from the kube-root-ca.crt ConfigMap beside it.
    let ca = node.ok(&["exec", "tok", "--", "cat", &format!("{dir}/ca.crt")]);
    let published = node.ok(&[
        "get",
        "configmap",
        "kube-root-ca.crt",
        "-o",
        "jsonpath={.data.ca\\.crt}",
    ]);
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");
    assert_eq!(ca.trim(), published.trim());

    // The claims name the pod's service account and bind the token to the pod.
    let payload = token.split('.').nth(1).expect("a JWT");
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64")).expect("JSON");
    assert_eq!(claims["sub"], "system:serviceaccount:default:default");
    assert_eq!(claims["kubernetes.io"]["pod"]["name"], "tok");
    assert_eq!(
        claims["kubernetes.io"]["pod"]["uid"],
        pod["metadata"]["uid"]
    );
    let lifetime = claims["exp"].as_i64().unwrap_or(0) - claims["iat"].as_i64().unwrap_or(0);
    assert_eq!(lifetime, 3600, "{claims}");

    // The API server takes it as a bearer token; a tampered one is refused.
    let out = node
        .cluster
        .kubectl(&["--token", token, "get", "pod", "tok", "-o", "name"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "pod/tok");
    let tampered = format!("{}x", &token[..token.len() - 1]);
    let out = node
        .cluster
        .kubectl(&["--token", &tampered, "get", "pod", "tok"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Unauthorized"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
