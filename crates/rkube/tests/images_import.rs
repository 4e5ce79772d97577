//! `rkube images import` against the node's real containerd: a tiny image
//! archive made here (one layer with a static file, a config, a manifest), in
//! `docker save` form and as a gzipped OCI layout, is imported; CRI then sees
//! it under its name; the test removes it through CRI. Skipped when
//! containerd's socket is absent.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

const SOCKET: &str = "/run/containerd/containerd.sock";

fn sha256(b: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, b);
    let hex: String = d.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

fn append(t: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_cksum();
    t.append_data(&mut h, path, data)
        .expect("building the archive");
}

/// (layer tar, config JSON) of an image with one file, unique to `tag`.
fn image_parts(tag: &str) -> (Vec<u8>, Vec<u8>) {
    let mut layer = tar::Builder::new(Vec::new());
    append(
        &mut layer,
        "hello.txt",
        format!("hello from {tag}\n").as_bytes(),
    );
    let layer = layer.into_inner().expect("building the archive");
    let config = json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/hello.txt"]},
        "rootfs": {"type": "layers", "diff_ids": [sha256(&layer)]},
    });
    (
        layer,
        serde_json::to_vec(&config).expect("building the archive"),
    )
}

fn docker_save_archive(name: &str) -> (Vec<u8>, String) {
    let (layer, config) = image_parts(name);
    let manifest = json!([{"Config": "cfg.json", "RepoTags": [name], "Layers": ["l1/layer.tar"]}]);
    let mut t = tar::Builder::new(Vec::new());
    append(&mut t, "cfg.json", &config);
    append(&mut t, "l1/layer.tar", &layer);
    append(
        &mut t,
        "manifest.json",
        &serde_json::to_vec(&manifest).expect("building the archive"),
    );
    (
        t.into_inner().expect("building the archive"),
        sha256(&config),
    )
}

fn oci_archive_gz(name: &str) -> (Vec<u8>, String) {
    let (layer, config) = image_parts(name);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&layer).expect("building the archive");
    let layer_gz = gz.finish().expect("building the archive");
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha256(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": sha256(&layer_gz), "size": layer_gz.len()}],
    }))
    .expect("building the archive");
    let index = json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": sha256(&manifest), "size": manifest.len(),
        "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": "v1"},
    }]});
    let mut t = tar::Builder::new(Vec::new());
    append(&mut t, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    append(
        &mut t,
        "index.json",
        &serde_json::to_vec(&index).expect("building the archive"),
    );
    for blob in [&config, &layer_gz, &manifest] {
        let path = format!("blobs/sha256/{}", &sha256(blob)["sha256:".len()..]);
        append(&mut t, &path, blob);
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&t.into_inner().expect("building the archive"))
        .expect("building the archive");
    (gz.finish().expect("building the archive"), sha256(&config))
}

/// Runs `rkube images import FILE` with a deadline; returns its stdout.
fn import(file: &Path) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rkube"))
        .args(["images", "import"])
        .arg(file)
        .args(["--address", SOCKET, "--namespace", "k8s.io"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("running rkube");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if child.try_wait().expect("waiting for rkube").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("rkube images import did not finish");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("rkube output");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "import failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

async fn check_and_remove(full_name: &str, image_id: &str) {
    let cri = rkube_cri::CriClient::connect(&format!("unix://{SOCKET}"))
        .await
        .expect("CRI connect")
        .with_timeout(Duration::from_secs(10));
    // CRI learns about new images from containerd's events: wait (with a deadline).
    let deadline = Instant::now() + Duration::from_secs(30);
    let image = loop {
        if let Some(i) = cri.image_status(full_name).await.expect("ImageStatus") {
            break i;
        }
        assert!(Instant::now() < deadline, "CRI never saw {full_name}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(image.id, image_id);
    assert!(image.repo_tags.iter().any(|t| t == full_name), "{image:?}");
    let listed = cri.list_images(None).await.expect("ListImages");
    assert!(
        listed
            .iter()
            .any(|i| i.repo_tags.iter().any(|t| t == full_name))
    );
    cri.remove_image(image_id).await.expect("RemoveImage");
    assert!(
        cri.image_status(full_name)
            .await
            .expect("ImageStatus")
            .is_none()
    );
}

fn containerd_present() -> bool {
    if Path::new(SOCKET).exists() {
        return true;
    }
    eprintln!("skipping: no containerd socket at {SOCKET}");
    false
}

#[tokio::test]
async fn imports_a_docker_save_archive() {
    if !containerd_present() {
        return;
    }
    let short = format!("rkube-test/import-docker:p{}", std::process::id());
    let (archive, config_digest) = docker_save_archive(&short);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("image.tar");
    std::fs::write(&file, archive).unwrap();
    let full = format!("docker.io/{short}");
    let out = import(&file);
    assert!(out.contains(&format!("imported {full}")), "{out}");
    // Importing again is fine.
    import(&file);
    check_and_remove(&full, &config_digest).await;
}

#[tokio::test]
async fn imports_a_gzipped_oci_layout() {
    if !containerd_present() {
        return;
    }
    let full = format!("docker.io/rkube-test/import-oci:p{}", std::process::id());
    let (archive, config_digest) = oci_archive_gz(&full);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("image.tar.gz");
    std::fs::write(&file, archive).unwrap();
    let out = import(&file);
    assert!(out.contains(&format!("imported {full}")), "{out}");
    check_and_remove(&full, &config_digest).await;
}
