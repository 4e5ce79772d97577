//! A pod's volumes on the node: emptyDir, hostPath, configMap, secret,
//! downwardAPI and projected (configMap, secret, downwardAPI sources) under
//! `DIR/agent/pods/<uid>/volumes/`, written as upstream's atomic writer does
//! (`..data` → a timestamped directory, each key a symlink through it), so
//! updates of a ConfigMap appear in running containers at once; and the
//! containers' bind mounts. `emptyDir` with `medium: Memory`, secret and
//! projected volumes are tmpfs mounts ([`tmpfs`]), unmounted by
//! [`unmount_all`] before the pod's directory is removed.

pub mod size_limit;
mod tmpfs;
pub mod token;

use std::collections::BTreeMap;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Container, DownwardAPIVolumeFile, KeyToPath, Pod, Volume};

use crate::env::{EnvObjects, NodeFacts, field_ref, resource_ref};
use crate::podutil;
use crate::runtime::proto;

/// Upstream's default mode of configMap, secret and downwardAPI files (0644).
const DEFAULT_MODE: u32 = 0o644;

/// A volume set up on the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mounted {
    /// Its directory (or file) on the node.
    pub path: PathBuf,
    /// Containers see it read-only whatever their volumeMount says
    /// (configMap, secret, downwardAPI, projected).
    pub read_only: bool,
}

/// The ConfigMaps and Secrets the pod's volumes refer to: (config maps, secrets).
pub fn references(pod: &Pod) -> (Vec<String>, Vec<String>) {
    let (mut cms, mut secrets) = (vec![], vec![]);
    for v in pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.as_ref())
        .into_iter()
        .flatten()
    {
        if let Some(cm) = &v.config_map {
            cms.push(cm.name.clone());
        }
        if let Some(s) = v.secret.as_ref().and_then(|s| s.secret_name.clone()) {
            secrets.push(s);
        }
        for src in v
            .projected
            .as_ref()
            .and_then(|p| p.sources.as_ref())
            .into_iter()
            .flatten()
        {
            if let Some(cm) = &src.config_map {
                cms.push(cm.name.clone());
            }
            if let Some(s) = &src.secret {
                secrets.push(s.name.clone());
            }
        }
    }
    cms.sort();
    cms.dedup();
    secrets.sort();
    secrets.dedup();
    (cms, secrets)
}

/// The files of one volume: relative path → (content, mode).
type Files = BTreeMap<String, (Vec<u8>, u32)>;

fn mode_of(m: Option<i32>, default: u32) -> u32 {
    m.and_then(|m| u32::try_from(m).ok()).unwrap_or(default) & 0o7777
}

/// The files for `data` (all keys, or `items`).
fn key_files(
    data: &BTreeMap<String, Vec<u8>>,
    items: Option<&Vec<KeyToPath>>,
    mode: u32,
    what: &str,
    optional: bool,
    files: &mut Files,
) -> Result<(), String> {
    match items {
        None => {
            for (k, v) in data {
                files.insert(k.clone(), (v.clone(), mode));
            }
        }
        Some(items) => {
            for i in items {
                match data.get(&i.key) {
                    Some(v) => {
                        files.insert(i.path.clone(), (v.clone(), mode_of(i.mode, mode)));
                    }
                    None if optional => {}
                    None => {
                        return Err(format!(
                            "configuration error: the key {} does not exist in {what}",
                            i.key
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

fn config_map_data(objects: &EnvObjects, name: &str) -> Option<BTreeMap<String, Vec<u8>>> {
    let cm = objects.config_maps.get(name).cloned().flatten()?;
    let mut data: BTreeMap<String, Vec<u8>> = cm
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.into_bytes()))
        .collect();
    for (k, v) in cm.binary_data.unwrap_or_default() {
        data.insert(k, v.0);
    }
    Some(data)
}

fn secret_data(objects: &EnvObjects, name: &str) -> Option<BTreeMap<String, Vec<u8>>> {
    let s = objects.secrets.get(name).cloned().flatten()?;
    Some(crate::env::secret_bytes(&s))
}

fn quoted_map(m: &Option<BTreeMap<String, String>>) -> String {
    m.iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn downward_files(
    pod: &Pod,
    items: &[DownwardAPIVolumeFile],
    mode: u32,
    facts: &NodeFacts,
    files: &mut Files,
) -> Result<(), String> {
    for i in items {
        let value = if let Some(f) = &i.field_ref {
            match f.field_path.as_str() {
                "metadata.labels" => quoted_map(&pod.metadata.labels),
                "metadata.annotations" => quoted_map(&pod.metadata.annotations),
                p => field_ref(pod, p, facts)?,
            }
        } else if let Some(r) = &i.resource_field_ref {
            let c = r
                .container_name
                .as_deref()
                .and_then(|n| podutil::containers(pod).iter().find(|c| c.name == n))
                .ok_or_else(|| format!("resourceFieldRef {}: no such container", r.resource))?;
            resource_ref(
                c,
                &r.resource,
                r.divisor.as_ref().map(|d| d.0.as_str()),
                facts,
            )?
        } else {
            String::new()
        };
        files.insert(i.path.clone(), (value.into_bytes(), mode_of(i.mode, mode)));
    }
    Ok(())
}

/// The files of a configMap, secret, downwardAPI or projected volume; `None`
/// for other kinds.
fn volume_files(
    pod: &Pod,
    v: &Volume,
    objects: &EnvObjects,
    facts: &NodeFacts,
) -> Option<Result<Files, String>> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let mut files = Files::new();
    let result = if let Some(cm) = &v.config_map {
        let mode = mode_of(cm.default_mode, DEFAULT_MODE);
        let optional = cm.optional == Some(true);
        match config_map_data(objects, &cm.name) {
            Some(data) => key_files(
                &data,
                cm.items.as_ref(),
                mode,
                &format!("ConfigMap {ns}/{}", cm.name),
                optional,
                &mut files,
            ),
            None if optional => Ok(()),
            None => Err(format!("configmap \"{}\" not found", cm.name)),
        }
    } else if let Some(s) = &v.secret {
        let name = s.secret_name.clone().unwrap_or_default();
        let mode = mode_of(s.default_mode, DEFAULT_MODE);
        let optional = s.optional == Some(true);
        match secret_data(objects, &name) {
            Some(data) => key_files(
                &data,
                s.items.as_ref(),
                mode,
                &format!("Secret {ns}/{name}"),
                optional,
                &mut files,
            ),
            None if optional => Ok(()),
            None => Err(format!("secret \"{name}\" not found")),
        }
    } else if let Some(d) = &v.downward_api {
        let mode = mode_of(d.default_mode, DEFAULT_MODE);
        downward_files(
            pod,
            d.items.as_deref().unwrap_or(&[]),
            mode,
            facts,
            &mut files,
        )
    } else if let Some(p) = &v.projected {
        let mode = mode_of(p.default_mode, DEFAULT_MODE);
        let mut result = Ok(());
        for src in p.sources.iter().flatten() {
            let r = if let Some(cm) = &src.config_map {
                let optional = cm.optional == Some(true);
                match config_map_data(objects, &cm.name) {
                    Some(data) => key_files(
                        &data,
                        cm.items.as_ref(),
                        mode,
                        &format!("ConfigMap {ns}/{}", cm.name),
                        optional,
                        &mut files,
                    ),
                    None if optional => Ok(()),
                    None => Err(format!("configmap \"{}\" not found", cm.name)),
                }
            } else if let Some(s) = &src.secret {
                let optional = s.optional == Some(true);
                match secret_data(objects, &s.name) {
                    Some(data) => key_files(
                        &data,
                        s.items.as_ref(),
                        mode,
                        &format!("Secret {ns}/{}", s.name),
                        optional,
                        &mut files,
                    ),
                    None if optional => Ok(()),
                    None => Err(format!("secret \"{}\" not found", s.name)),
                }
            } else if let Some(d) = &src.downward_api {
                downward_files(
                    pod,
                    d.items.as_deref().unwrap_or(&[]),
                    mode,
                    facts,
                    &mut files,
                )
            } else if let Some(t) = &src.service_account_token {
                let k = token::key(t.audience.as_deref(), t.expiration_seconds);
                match objects.tokens.get(&k) {
                    Some(Ok(tok)) => {
                        files.insert(t.path.clone(), (tok.clone().into_bytes(), mode));
                        Ok(())
                    }
                    Some(Err(e)) => Err(format!("failed to fetch token: {e}")),
                    None => Err("failed to fetch token: not requested".into()),
                }
            } else {
                Err("projected source not supported by rkube yet (clusterTrustBundle)".into())
            };
            if r.is_err() {
                result = r;
                break;
            }
        }
        result
    } else {
        return None;
    };
    Some(result.map(|()| files))
}

fn io(what: &str, path: &Path, e: std::io::Error) -> String {
    format!("{what} {}: {e}", path.display())
}

/// Whether `dir/..data` already holds exactly `files`.
fn unchanged(dir: &Path, files: &Files) -> bool {
    let data = dir.join("..data");
    if !data.exists() {
        return false;
    }
    let mut count = 0;
    for (rel, (content, mode)) in files {
        let p = data.join(rel);
        match (std::fs::read(&p), std::fs::metadata(&p)) {
            (Ok(c), Ok(m)) if &c == content && m.permissions().mode() & 0o7777 == *mode => {}
            _ => return false,
        }
        count += 1;
    }
    // No extra top-level entries.
    let tops: std::collections::BTreeSet<&str> = files
        .keys()
        .map(|k| k.split('/').next().unwrap_or(k))
        .collect();
    let listed = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| !e.file_name().to_string_lossy().starts_with(".."))
                .count()
        })
        .unwrap_or(usize::MAX);
    count == files.len() && listed == tops.len()
}

/// Writes `files` into `dir` atomically: a new timestamped directory, then
/// `..data` swapped to it, then the top-level symlinks.
pub fn write_atomic(dir: &Path, files: &Files) -> Result<bool, String> {
    if unchanged(dir, files) {
        return Ok(false);
    }
    std::fs::create_dir_all(dir).map_err(|e| io("creating", dir, e))?;
    let stamp = format!(
        "..{}",
        jiff::Timestamp::now().strftime("%Y_%m_%d_%H_%M_%S.%f")
    );
    let ts_dir = dir.join(&stamp);
    for (rel, (content, mode)) in files {
        if rel
            .split('/')
            .any(|p| p.is_empty() || p == ".." || p.starts_with(".."))
        {
            return Err(format!("invalid path {rel:?}"));
        }
        let p = ts_dir.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io("creating", parent, e))?;
        }
        std::fs::write(&p, content).map_err(|e| io("writing", &p, e))?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode))
            .map_err(|e| io("chmod", &p, e))?;
    }
    std::fs::create_dir_all(&ts_dir).map_err(|e| io("creating", &ts_dir, e))?;
    let old = std::fs::read_link(dir.join("..data")).ok();
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    symlink(&stamp, &tmp).map_err(|e| io("linking", &tmp, e))?;
    std::fs::rename(&tmp, dir.join("..data")).map_err(|e| io("renaming", &tmp, e))?;
    let tops: std::collections::BTreeSet<&str> = files
        .keys()
        .map(|k| k.split('/').next().unwrap_or(k))
        .collect();
    // Entries that are gone, then the new ones.
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with("..") && !tops.contains(name.as_str()) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    for top in tops {
        let link = dir.join(top);
        if std::fs::symlink_metadata(&link).is_err() {
            symlink(format!("..data/{top}"), &link).map_err(|e| io("linking", &link, e))?;
        }
    }
    if let Some(old) = old.filter(|o| o.as_os_str() != stamp.as_str()) {
        let _ = std::fs::remove_dir_all(dir.join(old));
    }
    Ok(true)
}

fn host_path_check(path: &Path, kind: &str) -> Result<(), String> {
    use std::os::unix::fs::FileTypeExt;
    let meta = std::fs::metadata(path);
    let fail = |what: &str| {
        Err(format!(
            "hostPath type check failed: {} is not a {what}",
            path.display()
        ))
    };
    match kind {
        "" => Ok(()),
        "DirectoryOrCreate" => {
            if !path.exists() {
                std::fs::create_dir_all(path).map_err(|e| io("creating", path, e))?;
                let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755));
            }
            host_path_check(path, "Directory")
        }
        "FileOrCreate" => {
            if !path.exists() {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| io("creating", parent, e))?;
                }
                std::fs::write(path, b"").map_err(|e| io("creating", path, e))?;
                let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644));
            }
            host_path_check(path, "File")
        }
        "Directory" => match meta {
            Ok(m) if m.is_dir() => Ok(()),
            _ => fail("directory"),
        },
        "File" => match meta {
            Ok(m) if m.is_file() => Ok(()),
            _ => fail("file"),
        },
        "Socket" => match meta {
            Ok(m) if m.file_type().is_socket() => Ok(()),
            _ => fail("socket"),
        },
        "CharDevice" => match meta {
            Ok(m) if m.file_type().is_char_device() => Ok(()),
            _ => fail("character device"),
        },
        "BlockDevice" => match meta {
            Ok(m) if m.file_type().is_block_device() => Ok(()),
            _ => fail("block device"),
        },
        other => Err(format!("hostPath type {other:?} is not supported")),
    }
}

/// Sets up (or refreshes) every volume of `pod` under `pod_dir`; returns them
/// by name, or the `MountVolume.SetUp failed …` message of the first failure.
pub fn setup(
    pod: &Pod,
    pod_dir: &Path,
    objects: &EnvObjects,
    facts: &NodeFacts,
) -> Result<BTreeMap<String, Mounted>, String> {
    let mut out = BTreeMap::new();
    let volumes = pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.as_ref())
        .cloned()
        .unwrap_or_default();
    for v in &volumes {
        let fail =
            |why: String| format!("MountVolume.SetUp failed for volume \"{}\" : {why}", v.name);
        let mounted = if let Some(ed) = &v.empty_dir {
            let dir = pod_dir
                .join("volumes/kubernetes.io~empty-dir")
                .join(&v.name);
            if ed.medium.as_deref() == Some("Memory") {
                let limit = ed.size_limit.as_ref().map(|q| q.0.as_str());
                let size = tmpfs::size(pod, limit, facts.allocatable_memory);
                tmpfs::ensure(&dir, size).map_err(fail)?;
            } else if !dir.exists() {
                std::fs::create_dir_all(&dir).map_err(|e| fail(io("creating", &dir, e)))?;
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))
                    .map_err(|e| fail(io("chmod", &dir, e)))?;
            }
            Mounted {
                path: dir,
                read_only: false,
            }
        } else if let Some(h) = &v.host_path {
            let path = PathBuf::from(&h.path);
            host_path_check(&path, h.type_.as_deref().unwrap_or("")).map_err(fail)?;
            Mounted {
                path,
                read_only: false,
            }
        } else if let Some(files) = volume_files(pod, v, objects, facts) {
            let plugin = if v.config_map.is_some() {
                "kubernetes.io~configmap"
            } else if v.secret.is_some() {
                "kubernetes.io~secret"
            } else if v.downward_api.is_some() {
                "kubernetes.io~downward-api"
            } else {
                "kubernetes.io~projected"
            };
            let dir = pod_dir.join("volumes").join(plugin).join(&v.name);
            let files = files.map_err(fail)?;
            if v.secret.is_some() || v.projected.is_some() {
                // Kept off the disk, as upstream does.
                let size = tmpfs::size(pod, None, facts.allocatable_memory);
                tmpfs::ensure(&dir, size).map_err(fail)?;
            }
            write_atomic(&dir, &files).map_err(fail)?;
            Mounted {
                path: dir,
                read_only: true,
            }
        } else {
            return Err(fail(
                "this volume type is not supported by rkube yet".into(),
            ));
        };
        out.insert(v.name.clone(), mounted);
    }
    Ok(out)
}

/// Unmounts the pod's memory-backed volumes (all mounts under `pod_dir`), so
/// that the directory can be removed.
pub fn unmount_all(pod_dir: &Path) {
    tmpfs::unmount_under(pod_dir);
}

/// The bind mounts of container `c`.
pub fn mounts(
    c: &Container,
    volumes: &BTreeMap<String, Mounted>,
) -> Result<Vec<proto::Mount>, String> {
    let mut out = vec![];
    for m in c.volume_mounts.iter().flatten() {
        let v = volumes
            .get(&m.name)
            .ok_or_else(|| format!("volume \"{}\" not found", m.name))?;
        let mut host = v.path.clone();
        if let Some(sub) = m.sub_path.as_deref().filter(|s| !s.is_empty()) {
            if sub.split('/').any(|p| p == "..") || sub.starts_with('/') {
                return Err(format!("invalid subPath {sub:?}"));
            }
            host = host.join(sub);
            if !host.exists() {
                std::fs::create_dir_all(&host).map_err(|e| io("creating", &host, e))?;
            }
        }
        out.push(proto::Mount {
            container_path: m.mount_path.clone(),
            host_path: host.display().to_string(),
            readonly: v.read_only || m.read_only == Some(true),
            propagation: match m.mount_propagation.as_deref() {
                Some("HostToContainer") => {
                    proto::MountPropagation::PropagationHostToContainer as i32
                }
                Some("Bidirectional") => proto::MountPropagation::PropagationBidirectional as i32,
                _ => proto::MountPropagation::PropagationPrivate as i32,
            },
            ..Default::default()
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(volumes: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u", "labels": {"app": "a"}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}], "volumes": volumes}
        }))
        .unwrap()
    }

    fn objects(data: serde_json::Value) -> EnvObjects {
        let mut o = EnvObjects::default();
        o.config_maps.insert(
            "cfg".into(),
            Some(serde_json::from_value(json!({"data": data})).unwrap()),
        );
        o.secrets.insert(
            "s".into(),
            Some(serde_json::from_value(json!({"data": {"pw": "c2VjcmV0"}})).unwrap()),
        );
        o
    }

    #[test]
    fn config_maps_are_written_atomically_and_updated() {
        let dir = tempfile::tempdir().unwrap();
        let p = pod(json!([
            {"name": "conf", "configMap": {"name": "cfg"}},
            {"name": "one", "configMap": {"name": "cfg", "items": [{"key": "a", "path": "sub/x.conf", "mode": 0o600}]}},
            {"name": "sec", "secret": {"secretName": "s", "defaultMode": 0o400}},
            {"name": "info", "downwardAPI": {"items": [
                {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
                {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
            {"name": "scratch", "emptyDir": {}}
        ]));
        let facts = NodeFacts::default();
        let vols = setup(
            &p,
            dir.path(),
            &objects(json!({"a": "1", "b": "2"})),
            &facts,
        )
        .unwrap();
        let conf = &vols["conf"];
        assert!(conf.read_only);
        assert_eq!(std::fs::read_to_string(conf.path.join("a")).unwrap(), "1");
        assert_eq!(
            std::fs::read_link(conf.path.join("a")).unwrap(),
            PathBuf::from("..data/a")
        );
        let one = &vols["one"].path;
        let x = one.join("sub/x.conf");
        assert_eq!(std::fs::read_to_string(&x).unwrap(), "1");
        assert_eq!(
            std::fs::metadata(&x).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let pw = vols["sec"].path.join("pw");
        assert_eq!(std::fs::read_to_string(&pw).unwrap(), "secret");
        assert_eq!(
            std::fs::metadata(&pw).unwrap().permissions().mode() & 0o777,
            0o400
        );
        let info = &vols["info"].path;
        assert_eq!(std::fs::read_to_string(info.join("name")).unwrap(), "p");
        assert_eq!(
            std::fs::read_to_string(info.join("labels")).unwrap(),
            "app=\"a\""
        );
        assert!(!vols["scratch"].read_only);

        // Unchanged: nothing is rewritten.
        let files: Files = BTreeMap::from([
            ("a".to_string(), (b"1".to_vec(), 0o644)),
            ("b".to_string(), (b"2".to_vec(), 0o644)),
        ]);
        assert!(!write_atomic(&conf.path, &files).unwrap());
        // An update replaces the contents; a removed key disappears.
        let vols = setup(&p, dir.path(), &objects(json!({"a": "9"})), &facts).unwrap();
        assert_eq!(
            std::fs::read_to_string(vols["conf"].path.join("a")).unwrap(),
            "9"
        );
        assert!(!vols["conf"].path.join("b").exists());
        let entries = std::fs::read_dir(&vols["conf"].path).unwrap().count();
        assert_eq!(entries, 3, "a, ..data and one timestamped directory");
        unmount_all(dir.path());
    }

    /// Memory-backed volumes are tmpfs mounts (needs root, as the agent).
    #[test]
    fn memory_volumes_are_tmpfs() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipping: not root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let p = pod(json!([
            {"name": "cache", "emptyDir": {"medium": "Memory", "sizeLimit": "8Mi"}},
            {"name": "disk", "emptyDir": {}},
            {"name": "sec", "secret": {"secretName": "s"}}
        ]));
        let facts = NodeFacts {
            allocatable_memory: 1 << 30,
            ..NodeFacts::default()
        };
        let vols = setup(&p, dir.path(), &objects(json!({})), &facts).unwrap();
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let line = |name: &str| {
            let path = vols[name].path.display().to_string();
            info.lines()
                .find(|l| l.split(' ').nth(4) == Some(path.as_str()))
                .map(str::to_string)
        };
        let cache = line("cache").expect("cache is mounted");
        assert!(
            cache.contains(" - tmpfs ") && cache.contains("size=8192k"),
            "{cache}"
        );
        assert!(line("disk").is_none());
        let sec = line("sec").expect("the secret is mounted");
        assert!(sec.contains("size=1048576k"), "{sec}");
        assert_eq!(
            std::fs::read_to_string(vols["sec"].path.join("pw")).unwrap(),
            "secret"
        );
        // A refresh keeps the mounts (one each).
        setup(&p, dir.path(), &objects(json!({})), &facts).unwrap();
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let under = info.matches(dir.path().to_str().unwrap()).count();
        assert_eq!(under, 2);
        unmount_all(dir.path());
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(!info.contains(dir.path().to_str().unwrap()));
        std::fs::remove_dir_all(dir.path()).unwrap();
    }

    #[test]
    fn missing_objects_fail_the_mount_as_upstream() {
        let dir = tempfile::tempdir().unwrap();
        let p = pod(json!([{"name": "conf", "configMap": {"name": "nope"}}]));
        let err = setup(
            &p,
            dir.path(),
            &EnvObjects::default(),
            &NodeFacts::default(),
        )
        .unwrap_err();
        assert_eq!(
            err,
            "MountVolume.SetUp failed for volume \"conf\" : configmap \"nope\" not found"
        );
        let p = pod(json!([{"name": "conf", "configMap": {"name": "nope", "optional": true}}]));
        assert!(
            setup(
                &p,
                dir.path(),
                &EnvObjects::default(),
                &NodeFacts::default()
            )
            .is_ok()
        );
    }

    #[test]
    fn container_mounts() {
        let c: Container = serde_json::from_value(json!({"name": "c", "volumeMounts": [
            {"name": "conf", "mountPath": "/etc/x"},
            {"name": "data", "mountPath": "/data", "subPath": "d1"}]}))
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let vols = BTreeMap::from([
            (
                "conf".to_string(),
                Mounted {
                    path: dir.path().join("conf"),
                    read_only: true,
                },
            ),
            (
                "data".to_string(),
                Mounted {
                    path: dir.path().join("data"),
                    read_only: false,
                },
            ),
        ]);
        let m = mounts(&c, &vols).unwrap();
        assert_eq!(m[0].container_path, "/etc/x");
        assert!(m[0].readonly);
        assert!(m[1].host_path.ends_with("data/d1"));
        assert!(!m[1].readonly);
        assert!(dir.path().join("data/d1").is_dir());
    }
}
