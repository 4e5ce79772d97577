//! `sizeLimit` of disk-backed emptyDir volumes, as upstream's eviction manager
//! enforces it: a running pod whose emptyDir holds more than its limit is
//! evicted ("Usage of EmptyDir volume "x" exceeds the limit "y".").
//! Memory-backed emptyDirs are sized tmpfs mounts instead (see `tmpfs`).

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use k8s_openapi::api::core::v1::Pod;

use crate::quantity;

/// The disk-backed emptyDirs of `pod` that have a `sizeLimit`: (name, limit text, bytes).
pub fn limited(pod: &Pod) -> Vec<(String, String, i64)> {
    pod.spec
        .as_ref()
        .and_then(|s| s.volumes.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|v| {
            let ed = v.empty_dir.as_ref()?;
            if ed.medium.as_deref() == Some("Memory") {
                return None;
            }
            let text = ed.size_limit.as_ref()?.0.clone();
            let bytes = quantity::bytes(&text)?;
            Some((v.name.clone(), text, bytes))
        })
        .collect()
}

/// Bytes the files under `dir` take on disk (as `du`: allocated blocks).
pub fn usage(dir: &Path) -> u64 {
    let mut total = 0u64;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(meta) = e.path().symlink_metadata() else {
                continue;
            };
            total = total.saturating_add(meta.blocks().saturating_mul(512));
            if meta.is_dir() {
                stack.push(e.path());
            }
        }
    }
    total
}

/// Upstream's eviction message for the first emptyDir of `pod` (under
/// `pod_dir`) over its limit, if any.
pub fn exceeded(pod: &Pod, pod_dir: &Path) -> Option<String> {
    limited(pod).into_iter().find_map(|(name, text, bytes)| {
        let dir = pod_dir.join("volumes/kubernetes.io~empty-dir").join(&name);
        let used = usage(&dir);
        (used > u64::try_from(bytes).unwrap_or(0))
            .then(|| format!("Usage of EmptyDir volume \"{name}\" exceeds the limit \"{text}\". "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "uid": "u"},
            "spec": {"containers": [{"name": "c", "image": "busybox"}], "volumes": [
                {"name": "cache", "emptyDir": {"sizeLimit": "1Mi"}},
                {"name": "mem", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
                {"name": "free", "emptyDir": {}},
            ]},
        }))
        .expect("pod")
    }

    #[test]
    fn only_disk_backed_limits_count() {
        assert_eq!(
            limited(&pod()),
            vec![("cache".to_string(), "1Mi".to_string(), 1 << 20)]
        );
    }

    #[test]
    fn usage_over_the_limit_is_reported_as_upstream() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("volumes/kubernetes.io~empty-dir/cache/sub");
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("small"), vec![1u8; 4096]).expect("write");
        assert_eq!(exceeded(&pod(), tmp.path()), None);
        std::fs::write(dir.join("big"), vec![1u8; 2 << 20]).expect("write");
        assert!(usage(&tmp.path().join("volumes")) >= 2 << 20);
        assert_eq!(
            exceeded(&pod(), tmp.path()).as_deref(),
            Some("Usage of EmptyDir volume \"cache\" exceeds the limit \"1Mi\". ")
        );
    }
}
