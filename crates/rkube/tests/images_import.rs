//! `rkube images import` against the node's real containerd: a tiny image
//! archive made here (one layer with a static file, a config, a manifest), in
//! `docker save` form and as a gzipped OCI layout, is imported; CRI then sees
//! it under its name; the test removes it through CRI. One more image, with
//! the host's static busybox, runs as a container (host network, no CNI), so
//! CRI unpacks what was imported. Skipped when containerd's socket is absent.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rkube_cri::{CriClient, proto};
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
    image_parts_with(tag, None)
}

/// Same, with `/bin/busybox` from `busybox` when given.
fn image_parts_with(tag: &str, busybox: Option<&[u8]>) -> (Vec<u8>, Vec<u8>) {
    let mut layer = tar::Builder::new(Vec::new());
    append(
        &mut layer,
        "hello.txt",
        format!("hello from {tag}\n").as_bytes(),
    );
    if let Some(bin) = busybox {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_size(0);
        h.set_mode(0o755);
        h.set_mtime(0);
        h.set_cksum();
        layer
            .append_data(&mut h, "bin/", std::io::empty())
            .expect("building the archive");
        let mut h = tar::Header::new_gnu();
        h.set_size(bin.len() as u64);
        h.set_mode(0o755);
        h.set_mtime(0);
        h.set_cksum();
        layer
            .append_data(&mut h, "bin/busybox", bin)
            .expect("building the archive");
    }
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
    docker_save_archive_with(name, None)
}

fn docker_save_archive_with(name: &str, busybox: Option<&[u8]>) -> (Vec<u8>, String) {
    let (layer, config) = image_parts_with(name, busybox);
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

/// Runs `cat /hello.txt` with the imported image's busybox in a host-network sandbox.
async fn run_imported(cri: &CriClient, image: &str) -> anyhow::Result<String> {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let logs = tempfile::tempdir()?;
    let namespaces = proto::NamespaceOption {
        network: proto::NamespaceMode::Node as i32,
        pid: proto::NamespaceMode::Container as i32,
        ipc: proto::NamespaceMode::Pod as i32,
        ..Default::default()
    };
    let sandbox = proto::PodSandboxConfig {
        metadata: Some(proto::PodSandboxMetadata {
            name: format!("import-{nanos}"),
            uid: format!("import-test-{}-{nanos}", std::process::id()),
            namespace: "rkube-import-test".into(),
            attempt: 0,
        }),
        log_directory: logs.path().display().to_string(),
        linux: Some(proto::LinuxPodSandboxConfig {
            security_context: Some(proto::LinuxSandboxSecurityContext {
                namespace_options: Some(namespaces.clone()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let id = cri.run_pod_sandbox(sandbox.clone(), "").await?;
    let result = async {
        let config = proto::ContainerConfig {
            metadata: Some(proto::ContainerMetadata {
                name: "cat".into(),
                attempt: 0,
            }),
            image: Some(proto::ImageSpec {
                image: image.into(),
                ..Default::default()
            }),
            command: vec!["/bin/busybox".into(), "cat".into(), "/hello.txt".into()],
            log_path: "cat/0.log".into(),
            linux: Some(proto::LinuxContainerConfig {
                security_context: Some(proto::LinuxContainerSecurityContext {
                    namespace_options: Some(namespaces),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let c = cri.create_container(&id, config, sandbox.clone()).await?;
        cri.start_container(&c).await?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let status = cri.container_status(&c).await?;
            if status.state == proto::ContainerState::ContainerExited as i32 {
                anyhow::ensure!(status.exit_code == 0, "exit code {}", status.exit_code);
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "the container did not exit");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The runtime writes the log asynchronously.
        let path = logs.path().join("cat/0.log");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = std::fs::read_to_string(&path).unwrap_or_default();
            if log.contains("hello from") || Instant::now() > deadline {
                return Ok(log);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    .await;
    cri.stop_pod_sandbox(&id).await?;
    cri.remove_pod_sandbox(&id).await?;
    result
}

#[tokio::test]
async fn an_imported_image_runs() {
    if !containerd_present() {
        return;
    }
    let Ok(busybox) = std::fs::read("/bin/busybox") else {
        eprintln!("skipping: no /bin/busybox (busybox-static) to put in the image");
        return;
    };
    let short = format!("rkube-test/import-run:p{}", std::process::id());
    let (archive, config_digest) = docker_save_archive_with(&short, Some(&busybox));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("image.tar");
    std::fs::write(&file, archive).unwrap();
    import(&file);
    let full = format!("docker.io/{short}");
    let cri = CriClient::connect(&format!("unix://{SOCKET}"))
        .await
        .unwrap()
        .with_timeout(Duration::from_secs(30));
    let deadline = Instant::now() + Duration::from_secs(30);
    while cri.image_status(&full).await.unwrap().is_none() {
        assert!(Instant::now() < deadline, "CRI never saw {full}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = run_imported(&cri, &full).await;
    cri.remove_image(&config_digest).await.unwrap();
    let log = log.unwrap();
    assert!(
        log.contains(&format!("stdout F hello from {short}")),
        "{log}"
    );
}
