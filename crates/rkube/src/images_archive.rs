//! Reading image archives: `docker save` output (`manifest.json` with
//! `RepoTags`, a config file and layer tars) and OCI image layouts
//! (`oci-layout`, `index.json`, `blobs/sha256/…`), plain or gzipped. The
//! result is the list of blobs to put in containerd's content store, each with
//! the garbage-collection labels that tie manifests to their config and
//! layers, and the image names with their target descriptors.

use std::collections::{HashMap, HashSet};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::images_containerd::{Blob, pb::Descriptor};

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// What an archive holds.
#[derive(Debug, Default)]
pub struct Plan {
    /// Blobs in an order where every blob comes after those it refers to.
    pub blobs: Vec<Blob>,
    /// (normalized image name, target).
    pub images: Vec<(String, Descriptor)>,
}

/// The archive unpacked into a temporary directory.
pub struct Unpacked {
    dir: tempfile::TempDir,
}

impl Unpacked {
    /// Unpacks the (possibly gzipped) tar at `file`.
    pub fn new(file: &Path) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("rkube-import-")
            .tempdir()
            .context("creating a temporary directory")?;
        let mut f =
            std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
        let mut magic = [0u8; 2];
        let gzipped = f.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
        let f = std::fs::File::open(file)?;
        let reader: Box<dyn Read> = if gzipped {
            Box::new(flate2::read::GzDecoder::new(BufReader::new(f)))
        } else {
            Box::new(BufReader::new(f))
        };
        tar::Archive::new(reader)
            .unpack(dir.path())
            .with_context(|| format!("unpacking {}", file.display()))?;
        Ok(Unpacked { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// `sha256:<hex>` of the file at `path`, and its size.
pub fn digest_file(path: &Path) -> Result<(String, i64)> {
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hex_digest(ctx.finish()), i64::try_from(size)?))
}

fn hex_digest(d: ring::digest::Digest) -> String {
    let hex: String = d.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The full name of an image reference as containerd's CRI stores it:
/// `busybox` → `docker.io/library/busybox:latest`.
pub fn normalize(name: &str) -> Option<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().any(char::is_whitespace) {
        return None;
    }
    let (repo, digest) = match name.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (name, None),
    };
    let (domain, path) = match repo.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => ("docker.io".to_string(), repo.to_string()),
    };
    let path = if domain == "docker.io" && !path.contains('/') {
        format!("library/{path}")
    } else {
        path
    };
    let last = path.rsplit('/').next().unwrap_or(&path);
    let mut out = format!("{domain}/{path}");
    if digest.is_none() && !last.contains(':') {
        out.push_str(":latest");
    }
    if let Some(d) = digest {
        out.push('@');
        out.push_str(d);
    }
    Some(out)
}

#[derive(Deserialize)]
struct JsonDescriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    size: i64,
    #[serde(default)]
    annotations: HashMap<String, String>,
}

impl JsonDescriptor {
    fn to_pb(&self, media_type: &str) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest: self.digest.clone(),
            size: self.size,
            annotations: HashMap::new(),
        }
    }
}

#[derive(Deserialize)]
struct JsonIndex {
    #[serde(default)]
    manifests: Vec<JsonDescriptor>,
}

#[derive(Deserialize)]
struct JsonManifest {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    config: Option<JsonDescriptor>,
    #[serde(default)]
    layers: Vec<JsonDescriptor>,
}

/// Reads the unpacked archive at `root`.
pub fn plan(root: &Path) -> Result<Plan> {
    if root.join("index.json").is_file() {
        let plan = oci_plan(root)?;
        if !plan.images.is_empty() {
            return Ok(plan);
        }
    }
    if root.join("manifest.json").is_file() {
        return docker_plan(root);
    }
    if root.join("index.json").is_file() {
        bail!(
            "the OCI layout names no image (no io.containerd.image.name or \
             org.opencontainers.image.ref.name annotation with a repository)"
        );
    }
    bail!("not an image archive: neither manifest.json (docker save) nor index.json (OCI layout)")
}

fn blob_path(root: &Path, digest: &str) -> Result<PathBuf> {
    let (alg, hex) = digest
        .split_once(':')
        .with_context(|| format!("invalid digest {digest:?}"))?;
    if alg != "sha256" || hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("unsupported digest {digest:?}");
    }
    Ok(root.join("blobs").join(alg).join(hex))
}

struct Walker<'a> {
    root: &'a Path,
    seen: HashSet<String>,
    plan: Plan,
}

impl Walker<'_> {
    fn add(&mut self, d: &JsonDescriptor, labels: HashMap<String, String>) -> Result<()> {
        if !self.seen.insert(d.digest.clone()) {
            return Ok(());
        }
        let path = blob_path(self.root, &d.digest)?;
        if !path.is_file() {
            bail!("blob {} is missing from the archive", d.digest);
        }
        self.plan.blobs.push(Blob {
            digest: d.digest.clone(),
            size: d.size,
            path,
            labels,
        });
        Ok(())
    }

    /// Adds `d` and what it refers to; returns its media type, or `None` when
    /// the archive does not hold it (another platform of an index).
    fn walk(&mut self, d: &JsonDescriptor) -> Result<Option<String>> {
        let path = blob_path(self.root, &d.digest)?;
        if !path.is_file() {
            return Ok(None);
        }
        let mut media_type = d.media_type.clone();
        let is_json = media_type.is_empty()
            || [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST]
                .contains(&media_type.as_str());
        if !is_json {
            self.add(d, HashMap::new())?;
            return Ok(Some(media_type));
        }
        let bytes = std::fs::read(&path)?;
        let mut labels = HashMap::new();
        let manifest: JsonManifest = serde_json::from_slice(&bytes)
            .with_context(|| format!("parsing manifest {}", d.digest))?;
        if media_type.is_empty() {
            media_type = if !manifest.media_type.is_empty() {
                manifest.media_type.clone()
            } else if manifest.config.is_some() {
                OCI_MANIFEST.to_string()
            } else {
                OCI_INDEX.to_string()
            };
        }
        if media_type == OCI_INDEX || media_type == DOCKER_LIST {
            let index: JsonIndex = serde_json::from_slice(&bytes)?;
            for (i, child) in index.manifests.iter().enumerate() {
                if self.walk(child)?.is_some() {
                    labels.insert(
                        format!("containerd.io/gc.ref.content.m.{i}"),
                        child.digest.clone(),
                    );
                }
            }
        } else {
            let config = manifest
                .config
                .as_ref()
                .with_context(|| format!("manifest {} has no config", d.digest))?;
            self.add(config, HashMap::new())?;
            labels.insert(
                "containerd.io/gc.ref.content.config".to_string(),
                config.digest.clone(),
            );
            for (i, layer) in manifest.layers.iter().enumerate() {
                self.add(layer, HashMap::new())?;
                labels.insert(
                    format!("containerd.io/gc.ref.content.l.{i}"),
                    layer.digest.clone(),
                );
            }
        }
        self.add(d, labels)?;
        Ok(Some(media_type))
    }
}

/// The image name an OCI index entry carries, if it names a repository.
fn oci_name(annotations: &HashMap<String, String>) -> Option<String> {
    if let Some(n) = annotations.get("io.containerd.image.name") {
        return normalize(n);
    }
    let r = annotations.get("org.opencontainers.image.ref.name")?;
    // A bare tag ("latest") names no repository.
    (r.contains('/') || r.contains(':'))
        .then(|| normalize(r))
        .flatten()
}

fn oci_plan(root: &Path) -> Result<Plan> {
    let index: JsonIndex = serde_json::from_slice(&std::fs::read(root.join("index.json"))?)
        .context("parsing index.json")?;
    let mut w = Walker {
        root,
        seen: HashSet::new(),
        plan: Plan::default(),
    };
    for d in &index.manifests {
        let Some(media_type) = w.walk(d)? else {
            bail!("blob {} is missing from the archive", d.digest);
        };
        if let Some(name) = oci_name(&d.annotations) {
            w.plan.images.push((name, d.to_pb(&media_type)));
        }
    }
    Ok(w.plan)
}

#[derive(Deserialize)]
struct DockerEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

/// A path inside the archive, refusing `..` and absolute paths.
fn inside(root: &Path, rel: &str) -> Result<PathBuf> {
    let p = Path::new(rel);
    if p.is_absolute() || p.components().any(|c| c == std::path::Component::ParentDir) {
        bail!("invalid path {rel:?} in manifest.json");
    }
    Ok(root.join(p))
}

fn layer_media_type(path: &Path) -> Result<&'static str> {
    let mut magic = [0u8; 2];
    let mut f = std::fs::File::open(path)?;
    let gz = f.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
    Ok(if gz { DOCKER_LAYER_GZIP } else { DOCKER_LAYER })
}

fn docker_plan(root: &Path) -> Result<Plan> {
    let entries: Vec<DockerEntry> =
        serde_json::from_slice(&std::fs::read(root.join("manifest.json"))?)
            .context("parsing manifest.json")?;
    let mut plan = Plan::default();
    let mut seen = HashSet::new();
    let mut push = |plan: &mut Plan, blob: Blob| {
        if seen.insert(blob.digest.clone()) {
            plan.blobs.push(blob);
        }
    };
    for (n, e) in entries.iter().enumerate() {
        let config_path = inside(root, &e.config)?;
        let (config_digest, config_size) = digest_file(&config_path)?;
        push(
            &mut plan,
            Blob {
                digest: config_digest.clone(),
                size: config_size,
                path: config_path,
                labels: HashMap::new(),
            },
        );
        let mut labels = HashMap::from([(
            "containerd.io/gc.ref.content.config".to_string(),
            config_digest.clone(),
        )]);
        let mut layers = vec![];
        for (i, l) in e.layers.iter().enumerate() {
            let path = inside(root, l)?;
            let (digest, size) = digest_file(&path)?;
            let media_type = layer_media_type(&path)?;
            layers
                .push(serde_json::json!({"mediaType": media_type, "size": size, "digest": digest}));
            labels.insert(
                format!("containerd.io/gc.ref.content.l.{i}"),
                digest.clone(),
            );
            push(
                &mut plan,
                Blob {
                    digest,
                    size,
                    path,
                    labels: HashMap::new(),
                },
            );
        }
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": DOCKER_CONFIG, "size": config_size, "digest": config_digest},
            "layers": layers,
        });
        let manifest_path = root.join(format!(".rkube-manifest-{n}.json"));
        std::fs::write(&manifest_path, serde_json::to_vec(&manifest)?)?;
        let (digest, size) = digest_file(&manifest_path)?;
        push(
            &mut plan,
            Blob {
                digest: digest.clone(),
                size,
                path: manifest_path,
                labels,
            },
        );
        let target = Descriptor {
            media_type: DOCKER_MANIFEST.to_string(),
            digest,
            size,
            annotations: HashMap::new(),
        };
        for tag in e.repo_tags.iter().flatten() {
            let name = normalize(tag).with_context(|| format!("invalid image name {tag:?}"))?;
            plan.images.push((name, target.clone()));
        }
    }
    if plan.images.is_empty() {
        bail!("manifest.json names no image (RepoTags is empty)");
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalized_as_containerd_stores_them() {
        for (short, full) in [
            ("busybox", "docker.io/library/busybox:latest"),
            ("busybox:1.36", "docker.io/library/busybox:1.36"),
            ("rancher/pause:3.6", "docker.io/rancher/pause:3.6"),
            ("registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10"),
            ("localhost:5000/x", "localhost:5000/x:latest"),
            ("localhost/x:v1", "localhost/x:v1"),
            (
                "busybox@sha256:0000000000000000000000000000000000000000000000000000000000000000",
                "docker.io/library/busybox@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            ),
        ] {
            assert_eq!(normalize(short).as_deref(), Some(full), "{short}");
        }
        assert_eq!(normalize(""), None);
    }

    #[test]
    fn oci_names_need_a_repository() {
        let a = |k: &str, v: &str| HashMap::from([(k.to_string(), v.to_string())]);
        assert_eq!(
            oci_name(&a(
                "io.containerd.image.name",
                "docker.io/library/nginx:latest"
            ))
            .as_deref(),
            Some("docker.io/library/nginx:latest")
        );
        assert_eq!(
            oci_name(&a("org.opencontainers.image.ref.name", "nginx:1.0")).as_deref(),
            Some("docker.io/library/nginx:1.0")
        );
        assert_eq!(
            oci_name(&a("org.opencontainers.image.ref.name", "latest")),
            None
        );
    }
}
