//! The kubectl acceptance scenario, run against any datastore.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::cluster::{Cluster, workspace_root};

/// `../shared/manifests` beside the repository.
pub fn manifests_dir() -> PathBuf {
    let d = workspace_root().join("../shared/manifests");
    assert!(
        d.exists(),
        "{} is missing: the shared manifests must sit beside the repository",
        d.display()
    );
    d
}

fn contains(hay: &str, needle: &str) {
    assert!(hay.contains(needle), "expected {needle:?} in:\n{hay}");
}

/// Polls `f` until it returns true or `within` passes.
pub fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Discovery, explain and version.
pub fn discovery(c: &Cluster) {
    let v = c.ok(&["version", "-o", "json"]);
    contains(&v, "\"gitVersion\": \"v1.33");
    let r = c.ok(&["api-resources"]);
    for line in [
        "pods ",
        "po ",
        "deployments ",
        "deploy ",
        "apps/v1",
        "cronjobs ",
        "cj ",
        "horizontalpodautoscalers",
        "leases",
        "endpointslices",
        "networkpolicies",
        "priorityclasses",
        "storageclasses",
        "clusterroles",
    ] {
        contains(&r, line);
    }
    let av = c.ok(&["api-versions"]);
    for gv in [
        "apps/v1",
        "batch/v1",
        "autoscaling/v2",
        "autoscaling/v1",
        "v1",
        "rbac.authorization.k8s.io/v1",
        "events.k8s.io/v1",
    ] {
        assert!(
            av.lines().any(|l| l.trim() == gv),
            "{gv} missing from api-versions:\n{av}"
        );
    }
    let e = c.ok(&["explain", "pod.spec.containers.livenessProbe"]);
    contains(&e, "livenessProbe");
    contains(&e, "FIELDS:");
    contains(&e, "httpGet");
}

/// Applies every shared manifest; re-applies an edited one; diffs.
pub fn apply_manifests(c: &Cluster) {
    let dir = manifests_dir();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("manifests")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    for f in &files {
        let out = c.ok(&["apply", "-f", f.to_str().unwrap_or_default()]);
        assert!(
            out.contains("created") || out.contains("configured") || out.contains("unchanged"),
            "{out}"
        );
    }
    let pods = c.ok(&["get", "pods", "-A", "--no-headers"]);
    for name in [
        "myapp-pod",
        "probe-demo",
        "lifecycle-demo",
        "games-cm",
        "static-web",
    ] {
        assert!(pods.contains(name), "pod {name} missing:\n{pods}");
    }
    for line in pods.lines() {
        assert!(
            line.contains("Pending"),
            "without a scheduler every pod stays Pending: {line}"
        );
    }
    let all = c.ok(&["get", "deploy,rc,svc,ds,job,cronjob,cm", "-A"]);
    for name in [
        "nginx-deployment",
        "web-rc",
        "myweb-nodeport",
        "probe-demo",
        "node-agent",
        "myjob",
        "parallel",
        "hello-cron",
        "nginx.conf",
    ] {
        contains(&all, name);
    }

    // Re-apply with replicas 2 -> 5.
    let src = std::fs::read_to_string(dir.join("02-deployment-nginx.yaml")).expect("read manifest");
    let edited = src.replace("replicas: 2", "replicas: 5");
    let before = c.ok(&["get", "deploy", "nginx-deployment", "-o", "json"]);
    let diff = c.kubectl_stdin(&["diff", "-f", "-"], Some(&edited));
    assert_eq!(
        diff.status.code(),
        Some(1),
        "kubectl diff should report a difference: {}",
        String::from_utf8_lossy(&diff.stderr)
    );
    contains(&String::from_utf8_lossy(&diff.stdout), "replicas: 5");
    let out = c.kubectl_stdin(&["apply", "-f", "-"], Some(&edited));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    contains(
        &String::from_utf8_lossy(&out.stdout),
        "deployment.apps/nginx-deployment configured",
    );
    let after = c.ok(&["get", "deploy", "nginx-deployment", "-o", "json"]);
    let b: serde_json::Value = serde_json::from_str(&before).expect("json");
    let a: serde_json::Value = serde_json::from_str(&after).expect("json");
    assert_eq!(a["spec"]["replicas"], 5);
    assert_eq!(
        a["metadata"]["generation"].as_i64(),
        b["metadata"]["generation"].as_i64().map(|g| g + 1)
    );
    let mut a2 = a.clone();
    let mut b2 = b.clone();
    for v in [&mut a2, &mut b2] {
        v["spec"]["replicas"] = serde_json::Value::Null;
        v["metadata"]["resourceVersion"] = serde_json::Value::Null;
        v["metadata"]["generation"] = serde_json::Value::Null;
        v["metadata"]["annotations"] = serde_json::Value::Null;
        v["metadata"]["managedFields"] = serde_json::Value::Null;
    }
    assert_eq!(a2["spec"], b2["spec"], "apply changed more than replicas");
    let same = c.kubectl_stdin(&["apply", "-f", "-"], Some(&edited));
    contains(&String::from_utf8_lossy(&same.stdout), "unchanged");
    let nodiff = c.kubectl_stdin(&["diff", "-f", "-"], Some(&edited));
    assert_eq!(
        nodiff.status.code(),
        Some(0),
        "no diff expected: {}",
        String::from_utf8_lossy(&nodiff.stdout)
    );
}

/// The many shapes of `kubectl get`.
pub fn get_variants(c: &Cluster) {
    let wide = c.ok(&["get", "pods", "-o", "wide"]);
    for col in [
        "NAME",
        "READY",
        "STATUS",
        "RESTARTS",
        "AGE",
        "IP",
        "NODE",
        "NOMINATED NODE",
        "READINESS GATES",
    ] {
        contains(&wide, col);
    }
    contains(&wide, "0/1");
    let y = c.ok(&["get", "pod", "myapp-pod", "-o", "yaml"]);
    for f in [
        "restartPolicy: Always",
        "dnsPolicy: ClusterFirst",
        "terminationGracePeriodSeconds: 30",
        "schedulerName: default-scheduler",
        "imagePullPolicy: Always",
        "uid:",
        "creationTimestamp:",
        "resourceVersion:",
    ] {
        contains(&y, f);
    }
    let j = c.ok(&["get", "deploy", "nginx-deployment", "-o", "json"]);
    for f in [
        "\"revisionHistoryLimit\": 10",
        "\"progressDeadlineSeconds\": 600",
        "\"maxSurge\": \"25%\"",
        "\"type\": \"RollingUpdate\"",
    ] {
        contains(&j, f);
    }
    let jp = c.ok(&[
        "get",
        "pod",
        "myapp-pod",
        "-o",
        "jsonpath={.spec.containers[0].image}",
    ]);
    assert_eq!(jp.trim(), "busybox");
    let labels = c.ok(&["get", "pods", "--show-labels"]);
    contains(&labels, "app=myapp");
    let sel = c.ok(&["get", "pods", "-l", "app=myapp", "--no-headers"]);
    assert_eq!(sel.lines().count(), 1, "{sel}");
    let sel2 = c.ok(&[
        "get",
        "pods",
        "-l",
        "app in (myapp,other),!missing",
        "-o",
        "name",
    ]);
    assert_eq!(sel2.trim(), "pod/myapp-pod");
    let all_ns = c.ok(&["get", "pods", "-A"]);
    contains(&all_ns, "NAMESPACE");
    contains(&all_ns, "linux");
    let fs = c.ok(&[
        "get",
        "pods",
        "-A",
        "--field-selector",
        "metadata.namespace=linux",
        "-o",
        "name",
    ]);
    assert_eq!(fs.trim(), "pod/games-cm");
    let fs2 = c.ok(&[
        "get",
        "pods",
        "--field-selector",
        "status.phase=Pending,metadata.name=myapp-pod",
        "-o",
        "name",
    ]);
    assert_eq!(fs2.trim(), "pod/myapp-pod");
    let bad = c.fails(&["get", "pods", "--field-selector", "spec.bogus=1"]);
    contains(&bad, "field label not supported");
    let all = c.ok(&["get", "all"]);
    for n in [
        "pod/myapp-pod",
        "service/kubernetes",
        "deployment.apps/nginx-deployment",
        "replicationcontroller/web-rc",
        "daemonset.apps/node-agent",
        "job.batch/myjob",
        "cronjob.batch/hello-cron",
    ] {
        contains(&all, n);
    }
    let svc = c.ok(&["get", "svc", "myweb-nodeport"]);
    contains(&svc, "8888:30080/TCP");
    contains(&svc, "NodePort");
    let k = c.ok(&[
        "get",
        "svc",
        "kubernetes",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    assert_eq!(k.trim(), "10.43.0.1");
    let ns = c.ok(&["get", "ns"]);
    for n in [
        "default",
        "kube-system",
        "kube-public",
        "kube-node-lease",
        "linux",
    ] {
        contains(&ns, n);
    }
}

/// `kubectl get pods -w` sees a change made by another kubectl.
pub fn watch_sees_change(c: &Cluster) {
    let child = Command::new("kubectl")
        .env("KUBECONFIG", &c.kubeconfig)
        .args(["get", "pods", "-w", "--request-timeout=20s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl -w");
    std::thread::sleep(Duration::from_millis(1500));
    c.ok(&[
        "run",
        "watched",
        "--image=busybox",
        "--restart=Never",
        "--",
        "sleep",
        "1",
    ]);
    std::thread::sleep(Duration::from_millis(1500));
    crate::cluster::send_signal(child.id(), libc::SIGTERM);
    let out = child.wait_with_output().expect("watch output");
    let text = String::from_utf8_lossy(&out.stdout);
    contains(&text, "watched");
    contains(&text, "myapp-pod");
}

/// describe of pod, service, deployment, namespace (with events).
pub fn describe(c: &Cluster) {
    // An event about the pod, as the scheduler or kubelet would post it.
    let uid = c.ok(&["get", "pod", "myapp-pod", "-o", "jsonpath={.metadata.uid}"]);
    let now = c.ok(&[
        "get",
        "pod",
        "myapp-pod",
        "-o",
        "jsonpath={.metadata.creationTimestamp}",
    ]);
    let ev = format!(
        r#"{{"apiVersion":"v1","kind":"Event","metadata":{{"name":"myapp-pod.1","namespace":"default"}},
        "involvedObject":{{"kind":"Pod","name":"myapp-pod","namespace":"default","apiVersion":"v1","uid":"{uid}"}},
        "reason":"TestReason","message":"something happened to the pod","type":"Normal","count":1,
        "firstTimestamp":"{now}","lastTimestamp":"{now}","source":{{"component":"e2e"}}}}"#
    );
    let out = c.kubectl_stdin(&["create", "-f", "-"], Some(&ev));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p = c.ok(&["describe", "pod", "myapp-pod"]);
    for s in [
        "Name:",
        "myapp-pod",
        "Namespace:",
        "default",
        "Labels:",
        "app=myapp",
        "Status:",
        "Pending",
        "Containers:",
        "myapp-container",
        "busybox",
        "Events:",
        "TestReason",
        "something happened to the pod",
    ] {
        contains(&p, s);
    }
    let s = c.ok(&["describe", "svc", "myweb-nodeport"]);
    for x in [
        "Type:",
        "NodePort",
        "NodePort:",
        "30080/TCP",
        "Selector:",
        "apps=web",
    ] {
        contains(&s, x);
    }
    let d = c.ok(&["describe", "deploy", "nginx-deployment"]);
    for x in [
        "Replicas:",
        "StrategyType:",
        "RollingUpdate",
        "Pod Template:",
        "nginx",
    ] {
        contains(&d, x);
    }
    let n = c.ok(&["describe", "ns", "linux"]);
    for x in ["Name:", "linux", "Status:", "Active"] {
        contains(&n, x);
    }
}

/// label, annotate, patch (three types), edit, scale.
pub fn mutate(c: &Cluster) {
    contains(
        &c.ok(&["label", "pod", "myapp-pod", "tier=frontend"]),
        "labeled",
    );
    contains(
        &c.ok(&["get", "pod", "myapp-pod", "--show-labels"]),
        "tier=frontend",
    );
    contains(&c.ok(&["label", "pod", "myapp-pod", "tier-"]), "unlabeled");
    contains(
        &c.ok(&["annotate", "pod", "myapp-pod", "note=hello"]),
        "annotated",
    );
    assert_eq!(
        c.ok(&[
            "get",
            "pod",
            "myapp-pod",
            "-o",
            "jsonpath={.metadata.annotations.note}"
        ])
        .trim(),
        "hello"
    );

    c.ok(&[
        "patch",
        "deploy",
        "nginx-deployment",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.25"}]}}}}"#,
    ]);
    assert_eq!(
        c.ok(&[
            "get",
            "deploy",
            "nginx-deployment",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}"
        ])
        .trim(),
        "nginx:1.25"
    );
    c.ok(&[
        "patch",
        "deploy",
        "nginx-deployment",
        "--type=merge",
        "-p",
        r#"{"metadata":{"labels":{"patched":"merge"}}}"#,
    ]);
    assert_eq!(
        c.ok(&[
            "get",
            "deploy",
            "nginx-deployment",
            "-o",
            "jsonpath={.metadata.labels.patched}"
        ])
        .trim(),
        "merge"
    );
    c.ok(&[
        "patch",
        "deploy",
        "nginx-deployment",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/replicas","value":4}]"#,
    ]);
    assert_eq!(
        c.ok(&[
            "get",
            "deploy",
            "nginx-deployment",
            "-o",
            "jsonpath={.spec.replicas}"
        ])
        .trim(),
        "4"
    );
    let bad = c.fails(&[
        "patch",
        "deploy",
        "nginx-deployment",
        "--type=json",
        "-p",
        r#"[{"op":"test","path":"/spec/replicas","value":99}]"#,
    ]);
    assert!(!bad.is_empty());

    // edit with a non-interactive editor.
    let dir = tempfile::tempdir().expect("tempdir");
    let editor = dir.path().join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nsed -i 's/note: hello/note: edited/' \"$1\"\n",
    )
    .expect("editor");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let out = Command::new("kubectl")
        .env("KUBECONFIG", &c.kubeconfig)
        .env("KUBE_EDITOR", &editor)
        .args(["edit", "pod", "myapp-pod"])
        .output()
        .expect("edit");
    assert!(
        out.status.success(),
        "edit: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    contains(&String::from_utf8_lossy(&out.stdout), "edited");
    assert_eq!(
        c.ok(&[
            "get",
            "pod",
            "myapp-pod",
            "-o",
            "jsonpath={.metadata.annotations.note}"
        ])
        .trim(),
        "edited"
    );

    contains(
        &c.ok(&["scale", "deploy", "nginx-deployment", "--replicas=3"]),
        "scaled",
    );
    assert_eq!(
        c.ok(&[
            "get",
            "deploy",
            "nginx-deployment",
            "-o",
            "jsonpath={.spec.replicas}"
        ])
        .trim(),
        "3"
    );
    contains(&c.ok(&["scale", "rc", "web-rc", "--replicas=2"]), "scaled");
}

/// create …, run, expose.
pub fn create_commands(c: &Cluster) {
    contains(
        &c.ok(&["create", "namespace", "team-a"]),
        "namespace/team-a created",
    );
    contains(
        &c.ok(&[
            "create",
            "configmap",
            "cfg",
            "-n",
            "team-a",
            "--from-literal=k=v",
            "--from-literal=x=y",
        ]),
        "created",
    );
    assert_eq!(
        c.ok(&[
            "get",
            "cm",
            "cfg",
            "-n",
            "team-a",
            "-o",
            "jsonpath={.data.k}"
        ])
        .trim(),
        "v"
    );
    contains(
        &c.ok(&[
            "create",
            "secret",
            "generic",
            "s1",
            "-n",
            "team-a",
            "--from-literal=password=hunter2",
        ]),
        "created",
    );
    assert_eq!(
        c.ok(&[
            "get",
            "secret",
            "s1",
            "-n",
            "team-a",
            "-o",
            "jsonpath={.type}"
        ])
        .trim(),
        "Opaque"
    );
    contains(
        &c.ok(&[
            "create",
            "deployment",
            "web",
            "-n",
            "team-a",
            "--image=nginx",
            "--replicas=2",
        ]),
        "created",
    );
    contains(
        &c.ok(&[
            "run",
            "one",
            "-n",
            "team-a",
            "--image=busybox",
            "--",
            "sleep",
            "100",
        ]),
        "created",
    );
    contains(
        &c.ok(&[
            "expose",
            "deployment",
            "web",
            "-n",
            "team-a",
            "--port=80",
            "--target-port=8080",
        ]),
        "exposed",
    );
    let svc = c.ok(&["get", "svc", "web", "-n", "team-a", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&svc).expect("json");
    assert_eq!(v["spec"]["selector"]["app"], "web");
    assert!(
        v["spec"]["clusterIP"]
            .as_str()
            .is_some_and(|ip| ip.starts_with("10.43."))
    );
    let dup = c.fails(&["create", "namespace", "team-a"]);
    contains(&dup, "AlreadyExists");
}

/// delete by name, -f, -l, --all, --grace-period=0 --force.
pub fn deletes(c: &Cluster) {
    contains(
        &c.ok(&["delete", "pod", "one", "-n", "team-a"]),
        "pod \"one\" deleted",
    );
    let f = manifests_dir().join("08-jobs.yaml");
    let out = c.ok(&["delete", "-f", f.to_str().unwrap_or_default()]);
    contains(&out, "job.batch \"myjob\" deleted");
    contains(&out, "cronjob.batch \"hello-cron\" deleted");
    c.ok(&["label", "pod", "watched", "gone=yes"]);
    contains(
        &c.ok(&["delete", "pods", "-l", "gone=yes"]),
        "pod \"watched\" deleted",
    );
    contains(&c.ok(&["delete", "cm", "--all", "-n", "team-a"]), "deleted");
    assert!(
        !c.ok(&["get", "cm", "-n", "team-a", "-o", "name"])
            .contains("configmap/cfg")
    );
    let out = c.kubectl(&["delete", "pod", "myapp-pod", "--grace-period=0", "--force"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    contains(
        &String::from_utf8_lossy(&out.stderr),
        "Immediate deletion does not wait",
    );
    let gone = c.fails(&["get", "pod", "myapp-pod"]);
    contains(&gone, "NotFound");
    // A terminating namespace refuses new objects. An object with a finalizer holds the
    // namespace in Terminating until the finalizer goes; then the namespace controller removes it.
    let held = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"held","namespace":"team-a","finalizers":["example.com/hold"]}}"#;
    let out = c.kubectl_stdin(&["create", "-f", "-"], Some(held));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    c.ok(&["delete", "ns", "team-a", "--wait=false"]);
    assert_eq!(
        c.ok(&["get", "ns", "team-a", "-o", "jsonpath={.status.phase}"])
            .trim(),
        "Terminating"
    );
    let refused = c.fails(&[
        "create",
        "configmap",
        "late",
        "-n",
        "team-a",
        "--from-literal=a=b",
    ]);
    contains(&refused, "because it is being terminated");
    c.ok(&[
        "patch",
        "configmap",
        "held",
        "-n",
        "team-a",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    assert!(
        eventually(Duration::from_secs(30), || !c
            .kubectl(&["get", "ns", "team-a"])
            .status
            .success()),
        "namespace team-a should be removed once emptied"
    );
    let missing = c.fails(&[
        "create",
        "configmap",
        "x",
        "-n",
        "nowhere",
        "--from-literal=a=b",
    ]);
    contains(&missing, "namespaces \"nowhere\" not found");
}

/// The whole scenario in order.
/// `kubectl create token`: a TokenRequest answered with a token the server accepts
/// as a bearer token; bad requests answered as upstream.
pub fn service_account_tokens(c: &Cluster) {
    assert!(
        eventually(Duration::from_secs(30), || {
            c.kubectl(&["get", "serviceaccount", "default"])
                .status
                .success()
        }),
        "no default service account"
    );
    let token = c.ok(&["create", "token", "default"]);
    let token = token.trim();
    assert_eq!(token.split('.').count(), 3, "not a JWT: {token}");
    let ns = c.ok(&[
        "--token",
        token,
        "get",
        "namespace",
        "default",
        "-o",
        "name",
    ]);
    assert_eq!(ns.trim(), "namespace/default");
    let vault = c.ok(&["create", "token", "default", "--audience", "vault"]);
    let refused = c.fails(&["--token", vault.trim(), "get", "namespace", "default"]);
    assert!(refused.contains("Unauthorized"), "{refused}");
    let short = c.fails(&["create", "token", "default", "--duration", "5m"]);
    assert!(
        short.contains("TokenRequest.authentication.k8s.io \"default\" is invalid: spec.expirationSeconds: Invalid value: 300: may not specify a duration less than 10 minutes"),
        "{short}"
    );
    let missing = c.fails(&["create", "token", "nosuch"]);
    assert!(
        missing.contains("serviceaccounts \"nosuch\" not found"),
        "{missing}"
    );
}

pub fn run_all(c: &Cluster) {
    discovery(c);
    apply_manifests(c);
    get_variants(c);
    watch_sees_change(c);
    describe(c);
    mutate(c);
    create_commands(c);
    service_account_tokens(c);
    deletes(c);
}
