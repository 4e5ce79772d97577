//! The floor of pod start-up: the same container started straight through CRI (sandbox, create,
//! start; no Kubernetes), and removal of labelled sandboxes.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use hdrhistogram::Histogram;
use rkube_cri::{CriClient, proto};

use crate::stats::{histogram, record};

/// The label on every sandbox and container the floor makes (value: the run's id).
pub const FLOOR_LABEL: &str = "bench.rkube.io/floor";

/// The sandbox of floor pod `i` of run `run`, logging under `log_dir`.
pub fn sandbox_config(run: &str, i: usize, log_dir: &Path) -> proto::PodSandboxConfig {
    let name = format!("floor-{i}");
    proto::PodSandboxConfig {
        metadata: Some(proto::PodSandboxMetadata {
            name: name.clone(),
            uid: format!("{run}-{i}"),
            namespace: "rkube-bench-floor".into(),
            attempt: 0,
        }),
        hostname: name,
        log_directory: log_dir.join(format!("{run}-{i}")).display().to_string(),
        labels: HashMap::from([(FLOOR_LABEL.to_string(), run.to_string())]),
        linux: Some(proto::LinuxPodSandboxConfig {
            security_context: Some(proto::LinuxSandboxSecurityContext {
                namespace_options: Some(proto::NamespaceOption::default()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The container of a floor pod: `image` (by its reference `image_ref`) with `command`.
pub fn container_config(
    run: &str,
    image: &str,
    image_ref: &str,
    command: &[String],
) -> proto::ContainerConfig {
    proto::ContainerConfig {
        metadata: Some(proto::ContainerMetadata {
            name: "c".into(),
            attempt: 0,
        }),
        image: Some(proto::ImageSpec {
            image: image_ref.to_string(),
            user_specified_image: image.to_string(),
            ..Default::default()
        }),
        command: command.to_vec(),
        labels: HashMap::from([(FLOOR_LABEL.to_string(), run.to_string())]),
        log_path: "c/0.log".into(),
        linux: Some(proto::LinuxContainerConfig::default()),
        ..Default::default()
    }
}

/// The image's reference (id), pulling it first when the runtime lacks it.
pub async fn ensure_image(cri: &CriClient, image: &str) -> Result<String> {
    if let Some(img) = cri.image_status(image).await? {
        return Ok(img.id);
    }
    cri.pull_image(image, None)
        .await
        .with_context(|| format!("pulling {image}"))
}

/// Starts floor pod `i`: sandbox, create, start; returns how long that took.
async fn start_one(
    cri: &CriClient,
    run: &str,
    i: usize,
    log_dir: &Path,
    container: proto::ContainerConfig,
) -> Result<Duration> {
    let t0 = Instant::now();
    let sb = sandbox_config(run, i, log_dir);
    std::fs::create_dir_all(&sb.log_directory)?;
    let id = cri.run_pod_sandbox(sb.clone(), "").await?;
    let cid = cri.create_container(&id, container, sb).await?;
    cri.start_container(&cid).await?;
    Ok(t0.elapsed())
}

/// What the floor run measured.
pub struct FloorRun {
    /// Launch → container started, per pod.
    pub latency: Histogram<u64>,
    /// First launch → last start.
    pub elapsed: Duration,
    /// Pods that failed, and the first error.
    pub errors: usize,
    pub first_error: Option<String>,
}

/// Starts `n` floor pods, one every `every` (all at once when zero), each in its own task.
pub async fn run(
    cri: &CriClient,
    run_id: &str,
    n: usize,
    every: Duration,
    log_dir: &Path,
    container: proto::ContainerConfig,
) -> Result<FloorRun> {
    let cri = Arc::new(cri.clone());
    let t0 = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let due = every * i as u32;
        if let Some(wait) = due.checked_sub(t0.elapsed()) {
            tokio::time::sleep(wait).await;
        }
        let (cri, run_id, log_dir, c) = (
            cri.clone(),
            run_id.to_string(),
            log_dir.to_path_buf(),
            container.clone(),
        );
        tasks.spawn(async move { start_one(&cri, &run_id, i, &log_dir, c).await });
    }
    let mut out = FloorRun {
        latency: histogram(),
        elapsed: Duration::ZERO,
        errors: 0,
        first_error: None,
    };
    while let Some(r) = tasks.join_next().await {
        match r.map_err(anyhow::Error::from).and_then(|r| r) {
            Ok(d) => record(&mut out.latency, d),
            Err(e) => {
                out.errors += 1;
                out.first_error.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
    out.elapsed = t0.elapsed();
    if out.errors == n {
        bail!(
            "every floor pod failed: {}",
            out.first_error.unwrap_or_default()
        );
    }
    Ok(out)
}

/// Stops and removes every sandbox labelled `key=value` (eight at a time); returns how many.
pub async fn remove_labelled(cri: &CriClient, key: &str, value: &str) -> Result<usize> {
    let filter = proto::PodSandboxFilter {
        label_selector: HashMap::from([(key.to_string(), value.to_string())]),
        ..Default::default()
    };
    let found = cri.list_pod_sandboxes(Some(filter)).await?;
    let n = found.len();
    futures::stream::iter(found)
        .for_each_concurrent(8, |sb| async move {
            let _ = cri.stop_pod_sandbox(&sb.id).await;
            if let Err(e) = cri.remove_pod_sandbox(&sb.id).await {
                eprintln!("removing sandbox {}: {e}", sb.id);
            }
        })
        .await;
    Ok(n)
}

/// How many sandboxes carry `key=value`.
pub async fn count_labelled(cri: &CriClient, key: &str, value: &str) -> Result<usize> {
    let filter = proto::PodSandboxFilter {
        label_selector: HashMap::from([(key.to_string(), value.to_string())]),
        ..Default::default()
    };
    Ok(cri.list_pod_sandboxes(Some(filter)).await?.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_objects_carry_the_run_label() {
        let sb = sandbox_config("r1", 3, Path::new("/tmp/x"));
        assert_eq!(sb.labels[FLOOR_LABEL], "r1");
        assert_eq!(sb.metadata.as_ref().map(|m| m.uid.as_str()), Some("r1-3"));
        assert_eq!(sb.log_directory, "/tmp/x/r1-3");
        let c = container_config("r1", "busybox", "sha256:ab", &["sleep".into()]);
        assert_eq!(c.labels[FLOOR_LABEL], "r1");
        assert_eq!(c.image.map(|i| i.image), Some("sha256:ab".into()));
    }
}
