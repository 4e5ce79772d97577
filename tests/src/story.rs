//! Helpers for the acceptance stories: object views from `kubectl -o json`, waits that dump
//! the cluster when they give up, and manifests written to a temporary directory.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::cluster::Cluster;
use crate::kubectl_scenario::eventually;

/// What a story needs to know about one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodView {
    pub name: String,
    pub node: String,
    pub phase: String,
    /// `metadata.deletionTimestamp` is set (kubectl prints Terminating).
    pub deleting: bool,
    pub ready: bool,
    pub labels: BTreeMap<String, String>,
    pub image: String,
    pub created: String,
    /// `kind/name` of the controller owner, if any.
    pub owner: Option<String>,
    pub ip: String,
}

impl PodView {
    fn from_json(p: &Value) -> PodView {
        let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let labels = p["metadata"]["labels"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), s(v))).collect())
            .unwrap_or_default();
        let ready = p["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        });
        let owner = p["metadata"]["ownerReferences"].as_array().and_then(|os| {
            os.iter()
                .find(|o| o["controller"] == true)
                .map(|o| format!("{}/{}", s(&o["kind"]), s(&o["name"])))
        });
        PodView {
            name: s(&p["metadata"]["name"]),
            node: s(&p["spec"]["nodeName"]),
            phase: s(&p["status"]["phase"]),
            deleting: !p["metadata"]["deletionTimestamp"].is_null(),
            ready,
            labels,
            image: s(&p["spec"]["containers"][0]["image"]),
            created: s(&p["metadata"]["creationTimestamp"]),
            owner,
            ip: s(&p["status"]["podIP"]),
        }
    }

    /// Not being deleted and not finished.
    pub fn active(&self) -> bool {
        !self.deleting && self.phase != "Succeeded" && self.phase != "Failed"
    }
}

/// `kubectl ARGS -o json`, parsed.
pub fn get_json(c: &Cluster, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.extend(["-o", "json"]);
    let out = c.ok(&a);
    serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("kubectl {args:?}: bad JSON ({e}):\n{out}"))
}

/// `kubectl ARGS -o json` when it succeeds (`None` for NotFound and other failures).
pub fn try_get_json(c: &Cluster, args: &[&str]) -> Option<Value> {
    let mut a = args.to_vec();
    a.extend(["-o", "json"]);
    let out = c.kubectl(&a);
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// `kubectl ARGS`, trimmed (for `-o jsonpath=…`).
pub fn jp(c: &Cluster, args: &[&str]) -> String {
    c.ok(args).trim().to_owned()
}

/// The pods in `ns` matching the label selector `selector` ("" = all).
pub fn pods_in(c: &Cluster, ns: &str, selector: &str) -> Vec<PodView> {
    let mut args = vec!["get", "pods", "-n", ns];
    if !selector.is_empty() {
        args.extend(["-l", selector]);
    }
    let v = get_json(c, &args);
    v["items"]
        .as_array()
        .map(|items| items.iter().map(PodView::from_json).collect())
        .unwrap_or_default()
}

/// The pods in `default` matching `selector`.
pub fn pods(c: &Cluster, selector: &str) -> Vec<PodView> {
    pods_in(c, "default", selector)
}

/// The active pods in `default` matching `selector`.
pub fn active_pods(c: &Cluster, selector: &str) -> Vec<PodView> {
    pods(c, selector)
        .into_iter()
        .filter(PodView::active)
        .collect()
}

/// What the cluster looks like, for failure messages.
pub fn dump(c: &Cluster) -> String {
    let run = |args: &[&str]| {
        let out = c.kubectl(args);
        format!(
            "$ kubectl {}\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    // describe the (first few) pods that are not simply Running.
    let stuck: Vec<(String, String)> = try_get_json(c, &["get", "pods", "-A"])
        .and_then(|v| v["items"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter(|p| {
            p["status"]["phase"] != "Running" || !p["metadata"]["deletionTimestamp"].is_null()
        })
        .take(3)
        .map(|p| {
            let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (s(&p["metadata"]["namespace"]), s(&p["metadata"]["name"]))
        })
        .collect();
    let described: Vec<String> = stuck
        .iter()
        .map(|(ns, name)| run(&["describe", "pod", "-n", ns, name]))
        .collect();
    let log = strip_ansi(&c.log_text());
    let tail: Vec<&str> = log.lines().rev().take(40).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    format!(
        "{}\n{}\n{}\n{}\n--- server log (tail) ---\n{}",
        run(&["get", "all", "-A", "-o", "wide"]),
        run(&["get", "nodes", "-o", "wide"]),
        run(&["get", "events", "-A", "--sort-by=.lastTimestamp"]),
        described.join("\n"),
        tail.join("\n")
    )
}

/// `text` without ANSI colour sequences (`ESC [ … m`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(ch) = chars.next() {
        if ch == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(ch);
        }
    }
    out
}

/// Polls `f` for up to `secs` seconds; panics with `what`, `detail` and a cluster dump if it
/// never holds.
pub fn wait_until(c: &Cluster, secs: u64, what: &str, f: impl FnMut() -> bool) {
    if !eventually(Duration::from_secs(secs), f) {
        panic!("timed out after {secs}s waiting for {what}\n{}", dump(c));
    }
}

/// Waits until every named node reports Ready=True.
pub fn wait_nodes_ready(c: &Cluster, names: &[&str]) {
    for n in names {
        wait_until(c, 60, &format!("node {n} Ready"), || {
            node_ready(c, n) == "True"
        });
    }
}

/// The status of a node's Ready condition ("" when the node is missing).
pub fn node_ready(c: &Cluster, node: &str) -> String {
    let out = c.kubectl(&[
        "get",
        "node",
        node,
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
    ]);
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `key:effect` of each taint on a node.
pub fn node_taints(c: &Cluster, node: &str) -> Vec<String> {
    try_get_json(c, &["get", "node", node])
        .and_then(|v| v["spec"]["taints"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .map(|t| {
            format!(
                "{}:{}",
                t["key"].as_str().unwrap_or_default(),
                t["effect"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

/// Waits until the Deployment has `n` ready, updated replicas, is fully rolled out and has
/// exactly `n` active pods matching `selector`.
pub fn wait_deploy_ready(c: &Cluster, name: &str, selector: &str, n: usize) {
    wait_until(
        c,
        90,
        &format!("deployment {name} with {n} ready pods"),
        || {
            let Some(d) = try_get_json(c, &["get", "deploy", name]) else {
                return false;
            };
            let st = &d["status"];
            let num = |v: &Value| v.as_u64().unwrap_or(0) as usize;
            d["metadata"]["generation"] == st["observedGeneration"]
                && num(&st["readyReplicas"]) == n
                && num(&st["updatedReplicas"]) == n
                && num(&st["replicas"]) == n
                && active_pods(c, selector).len() == n
        },
    );
}

/// A temporary directory holding manifests written by a story.
pub struct ManifestDir {
    dir: tempfile::TempDir,
}

impl ManifestDir {
    pub fn new() -> ManifestDir {
        ManifestDir {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// Writes `text` as `name` and returns its path as a string for `kubectl -f`.
    pub fn write(&self, name: &str, text: &str) -> String {
        let p: PathBuf = self.dir.path().join(name);
        std::fs::write(&p, text).expect("write manifest");
        p.to_string_lossy().into_owned()
    }
}

impl Default for ManifestDir {
    fn default() -> Self {
        Self::new()
    }
}

/// Asserts `hay` contains `needle`, showing both when it does not.
pub fn assert_contains(hay: &str, needle: &str) {
    assert!(hay.contains(needle), "expected {needle:?} in:\n{hay}");
}
