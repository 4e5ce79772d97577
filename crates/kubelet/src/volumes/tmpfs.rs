//! Memory-backed volumes: `emptyDir` with `medium: Memory`, and the secret
//! and projected volumes, which upstream's kubelet keeps off the disk. Each is
//! a tmpfs mounted on the volume's directory, sized as upstream does: the
//! smallest of the node's allocatable memory, the pod's memory limit (when
//! every app container has one) and the emptyDir's `sizeLimit`. The mounts go
//! away with the pod ([`unmount_under`]), also when an earlier run of the agent
//! left them behind.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Pod;
use nix::mount::{MntFlags, MsFlags};

use crate::quantity;

/// Whether `dir` is a mount point (another device than its parent).
pub fn is_mount_point(dir: &Path) -> bool {
    let (Ok(me), Some(Ok(parent))) = (
        std::fs::symlink_metadata(dir),
        dir.parent().map(std::fs::symlink_metadata),
    ) else {
        return false;
    };
    me.dev() != parent.dev() || me.ino() == parent.ino()
}

/// The pod's memory limit: the sum of its app containers' limits when every
/// one has a limit, else `None` (upstream's pod-level limit).
fn pod_memory_limit(pod: &Pod) -> Option<i64> {
    let spec = pod.spec.as_ref()?;
    let mut sum = 0i64;
    for c in &spec.containers {
        let limit = c
            .resources
            .as_ref()
            .and_then(|r| r.limits.as_ref())
            .and_then(|l| l.get("memory"))
            .and_then(|q| quantity::bytes(&q.0))?;
        sum = sum.saturating_add(limit);
    }
    Some(sum)
}

/// The tmpfs size in bytes for a memory-backed volume of `pod` with `size_limit`.
pub fn size(pod: &Pod, size_limit: Option<&str>, node_allocatable: i64) -> Option<i64> {
    let mut size = (node_allocatable > 0).then_some(node_allocatable);
    if let Some(l) = pod_memory_limit(pod).filter(|l| *l > 0) {
        size = Some(size.map_or(l, |s| s.min(l)));
    }
    if let Some(l) = size_limit.and_then(quantity::bytes).filter(|l| *l > 0) {
        size = Some(size.map_or(l, |s| s.min(l)));
    }
    size
}

/// Mounts a tmpfs of `size` bytes on `dir` (created if needed) unless one is there already.
pub fn ensure(dir: &Path, size: Option<i64>) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    if is_mount_point(dir) {
        return Ok(());
    }
    let data = size.map(|s| format!("size={s}"));
    nix::mount::mount(
        Some("tmpfs"),
        dir,
        Some("tmpfs"),
        MsFlags::empty(),
        data.as_deref(),
    )
    .map_err(|e| format!("mount failed: tmpfs on {}: {e}", dir.display()))?;
    tracing::debug!(path = %dir.display(), ?size, "mounted tmpfs");
    Ok(())
}

/// Decodes the octal escapes (`\040` for a space) of a path in `/proc/self/mountinfo`.
fn unescape(field: &str) -> PathBuf {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .is_some_and(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        if b[i] == b'\\' && octal {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(out))
}

/// The mount points strictly under `dir` in `mountinfo`, deepest first.
fn mounts_under(mountinfo: &str, dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape)
        .filter(|p| p != dir && p.starts_with(dir))
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found.dedup();
    found
}

/// Unmounts every mount under `dir` (the pod's directory) before it is removed.
pub fn unmount_under(dir: &Path) {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    for m in mounts_under(&info, dir) {
        match nix::mount::umount2(&m, MntFlags::MNT_DETACH) {
            Ok(()) => tracing::debug!(path = %m.display(), "unmounted"),
            Err(e) => tracing::warn!(path = %m.display(), error = %e, "unmounting a volume"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(limits: &[Option<&str>]) -> Pod {
        let containers: Vec<_> = limits
            .iter()
            .enumerate()
            .map(|(i, l)| match l {
                Some(l) => json!({"name": format!("c{i}"), "resources": {"limits": {"memory": l}}}),
                None => json!({"name": format!("c{i}")}),
            })
            .collect();
        serde_json::from_value(json!({"spec": {"containers": containers}})).unwrap()
    }

    #[test]
    fn sizes_as_upstream() {
        let gi = 1 << 30;
        // Node allocatable without limits.
        assert_eq!(size(&pod(&[None]), None, 4 * gi), Some(4 * gi));
        // sizeLimit below it.
        assert_eq!(size(&pod(&[None]), Some("64Mi"), 4 * gi), Some(64 << 20));
        // Every container limited: the pod's limit.
        assert_eq!(
            size(&pod(&[Some("1Gi"), Some("512Mi")]), None, 4 * gi),
            Some(gi + (512 << 20))
        );
        // One container without a limit: no pod limit.
        assert_eq!(size(&pod(&[Some("1Gi"), None]), None, 4 * gi), Some(4 * gi));
        assert_eq!(size(&pod(&[Some("1Gi")]), Some("2Gi"), 4 * gi), Some(gi));
    }

    #[test]
    fn mountinfo_parsing() {
        let info = "\
22 1 0:21 / / rw - ext4 /dev/sda1 rw
90 22 0:50 / /var/lib/rkube/agent/pods/u1/volumes/kubernetes.io~empty-dir/cache rw - tmpfs tmpfs rw
91 22 0:51 / /var/lib/rkube/agent/pods/u1/volumes/kubernetes.io~secret/my\\040secret rw - tmpfs tmpfs rw
92 22 0:52 / /var/lib/rkube/agent/pods/u10/volumes/kubernetes.io~secret/s rw - tmpfs tmpfs rw
";
        let found = mounts_under(info, Path::new("/var/lib/rkube/agent/pods/u1"));
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found.contains(&PathBuf::from(
            "/var/lib/rkube/agent/pods/u1/volumes/kubernetes.io~secret/my secret"
        )));
    }

    /// Real mounts need root (as the agent runs); skipped otherwise.
    #[test]
    fn mounts_and_unmounts_a_tmpfs() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipping: not root");
            return;
        }
        let pod_dir = tempfile::tempdir().unwrap();
        let dir = pod_dir.path().join("volumes/kubernetes.io~empty-dir/cache");
        ensure(&dir, Some(1 << 20)).unwrap();
        assert!(is_mount_point(&dir));
        // Idempotent.
        ensure(&dir, Some(1 << 20)).unwrap();
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let line = info
            .lines()
            .find(|l| l.contains(dir.to_str().unwrap()))
            .unwrap();
        assert!(line.contains(" - tmpfs "), "{line}");
        assert!(line.contains("size=1024k"), "{line}");
        unmount_under(pod_dir.path());
        assert!(!is_mount_point(&dir));
        std::fs::remove_dir_all(pod_dir.path()).unwrap();
    }
}
