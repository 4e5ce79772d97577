//! Static pods: Pod manifests in `DIR/agent/manifests/` that the agent runs
//! without the API server, and their mirror pods (`<name>-<node>`) through
//! which the API shows them. A mirror pod deleted through the API comes back;
//! removing the file stops the pod and removes its mirror.

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

/// Where a pod came from.
pub const CONFIG_SOURCE: &str = "kubernetes.io/config.source";
/// The static pod's hash (also its UID on the node).
pub const CONFIG_HASH: &str = "kubernetes.io/config.hash";
/// Marks a mirror pod, with the hash of its static pod.
pub const CONFIG_MIRROR: &str = "kubernetes.io/config.mirror";
/// When the agent first saw the manifest.
pub const CONFIG_SEEN: &str = "kubernetes.io/config.seen";

/// True for a pod the agent runs from a file.
pub fn is_static(pod: &Pod) -> bool {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(CONFIG_SOURCE))
        .is_some_and(|s| s == "file")
}

/// True for a mirror pod (the API's view of a static pod).
pub fn is_mirror(pod: &Pod) -> bool {
    mirror_hash(pod).is_some()
}

/// The hash a mirror pod carries.
pub fn mirror_hash(pod: &Pod) -> Option<&str> {
    pod.metadata
        .annotations
        .as_ref()?
        .get(CONFIG_MIRROR)
        .map(String::as_str)
}

fn hash_of(parts: &[&[u8]]) -> String {
    // Two independent 64-bit hashes, 32 hex characters like upstream's md5.
    let mut a = DefaultHasher::new();
    parts.hash(&mut a);
    let mut b = DefaultHasher::new();
    (parts, 0x5eedu32).hash(&mut b);
    format!("{:016x}{:016x}", a.finish(), b.finish())
}

/// Turns a manifest into the static pod the agent runs: named
/// `<name>-<node>`, bound to the node, with a UID that depends only on the
/// file and the node (so a restarted agent finds its containers again).
pub fn prepare(mut pod: Pod, file: &Path, content: &[u8], node: &str, seen: &str) -> Pod {
    let uid = hash_of(&[
        file.as_os_str().as_encoded_bytes(),
        content,
        node.as_bytes(),
    ]);
    let name = pod.metadata.name.clone().unwrap_or_default();
    pod.metadata.name = Some(format!("{name}-{node}"));
    if pod.metadata.namespace.as_deref().is_none_or(str::is_empty) {
        pod.metadata.namespace = Some("default".into());
    }
    pod.metadata.uid = Some(uid.clone());
    pod.metadata.resource_version = None;
    let a = pod.metadata.annotations.get_or_insert_with(BTreeMap::new);
    a.insert(CONFIG_SOURCE.into(), "file".into());
    a.insert(CONFIG_HASH.into(), uid);
    a.insert(CONFIG_SEEN.into(), seen.into());
    let spec = pod.spec.get_or_insert_with(Default::default);
    spec.node_name = Some(node.to_string());
    pod.status = None;
    pod
}

/// The mirror pod of a static pod, owned by the Node.
pub fn mirror_of(pod: &Pod, node: &str, node_uid: &str) -> Pod {
    let mut m = pod.clone();
    let hash = pod.metadata.uid.clone().unwrap_or_default();
    m.metadata.uid = None;
    m.metadata.resource_version = None;
    m.metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(CONFIG_MIRROR.into(), hash);
    if !node_uid.is_empty() {
        m.metadata.owner_references = Some(vec![OwnerReference {
            api_version: "v1".into(),
            kind: "Node".into(),
            name: node.to_string(),
            uid: node_uid.to_string(),
            controller: Some(true),
            ..Default::default()
        }]);
    }
    m.status = None;
    m
}

/// The static pods in `dir` (`*.yaml`, `*.yml`, `*.json`; one Pod each), by
/// UID. Files that do not parse are skipped with a warning (once per content).
pub fn load_dir(
    dir: &Path,
    node: &str,
    seen: &str,
    warned: &mut HashMap<String, String>,
) -> BTreeMap<String, Pod> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut files: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    files.sort();
    for path in files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let ext_ok = [".yaml", ".yml", ".json"].iter().any(|e| name.ends_with(e));
        if name.starts_with('.') || !ext_ok || !path.is_file() {
            continue;
        }
        let Ok(content) = std::fs::read(&path) else {
            continue;
        };
        let parsed: Result<Pod, String> = serde_yaml::from_slice::<serde_json::Value>(&content)
            .map_err(|e| e.to_string())
            .and_then(|v| {
                if v["kind"] != "Pod" {
                    return Err(format!("kind {} is not Pod", v["kind"]));
                }
                serde_json::from_value(v).map_err(|e| e.to_string())
            })
            .and_then(|p: Pod| {
                if p.metadata.name.as_deref().is_none_or(str::is_empty) {
                    Err("metadata.name is missing".into())
                } else {
                    Ok(p)
                }
            });
        match parsed {
            Ok(pod) => {
                warned.remove(&name);
                let pod = prepare(pod, &path, &content, node, seen);
                out.insert(pod.metadata.uid.clone().unwrap_or_default(), pod);
            }
            Err(e) => {
                let key = e.clone();
                if warned.get(&name) != Some(&key) {
                    tracing::warn!(file = %path.display(), error = %e, "skipping a static pod manifest");
                    warned.insert(name, key);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_become_static_and_mirror_pods() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("web.yaml"),
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: static-web\nspec:\n  containers:\n  - name: web\n    image: nginx\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        std::fs::write(dir.path().join("bad.yaml"), "kind: Service\n").unwrap();
        let mut warned = HashMap::new();
        let pods = load_dir(dir.path(), "n1", "t", &mut warned);
        assert_eq!(pods.len(), 1);
        assert!(warned.contains_key("bad.yaml"));
        let (uid, pod) = pods.iter().next().unwrap();
        assert_eq!(uid.len(), 32);
        assert_eq!(pod.metadata.name.as_deref(), Some("static-web-n1"));
        assert_eq!(pod.metadata.namespace.as_deref(), Some("default"));
        assert_eq!(pod.spec.as_ref().unwrap().node_name.as_deref(), Some("n1"));
        assert!(is_static(pod) && !is_mirror(pod));
        // The same file gives the same UID; another node another.
        assert_eq!(
            load_dir(dir.path(), "n1", "t", &mut warned).keys().next(),
            Some(uid)
        );
        assert_ne!(
            load_dir(dir.path(), "n2", "t", &mut warned).keys().next(),
            Some(uid)
        );

        let m = mirror_of(pod, "n1", "node-uid");
        assert!(is_mirror(&m));
        assert_eq!(mirror_hash(&m), Some(uid.as_str()));
        assert_eq!(m.metadata.uid, None);
        assert_eq!(m.metadata.owner_references.unwrap()[0].kind, "Node");
    }
}
