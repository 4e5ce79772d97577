//! Image pulls honouring `imagePullPolicy`, with upstream's ErrImagePull /
//! ImagePullBackOff / ErrImageNeverPull reasons and messages.

use std::time::Instant;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Container;

use crate::actions::Waiting;
use crate::backoff::Backoff;
use crate::runtime::{Runtime, proto};

/// `Always`, `IfNotPresent` or `Never`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    /// Pull before every container start.
    Always,
    /// Pull when the image is missing.
    IfNotPresent,
    /// Never pull.
    Never,
}

/// The container's policy; unset means `Always` for `:latest` or untagged
/// images, `IfNotPresent` otherwise (the API's defaulting).
pub fn policy(c: &Container) -> PullPolicy {
    match c.image_pull_policy.as_deref() {
        Some("Always") => PullPolicy::Always,
        Some("IfNotPresent") => PullPolicy::IfNotPresent,
        Some("Never") => PullPolicy::Never,
        _ => {
            let image = c.image.as_deref().unwrap_or("");
            let last = image.rsplit('/').next().unwrap_or(image);
            if image.contains('@') {
                PullPolicy::IfNotPresent
            } else {
                match last.split_once(':') {
                    None => PullPolicy::Always,
                    Some((_, "latest")) => PullPolicy::Always,
                    Some(_) => PullPolicy::IfNotPresent,
                }
            }
        }
    }
}

/// What happened, for the pod's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullEvent {
    /// `Normal` or `Warning`.
    pub type_: &'static str,
    /// `Pulling`, `Pulled`, `Failed`, `BackOff`, `ErrImageNeverPull`.
    pub reason: &'static str,
    /// Upstream's message.
    pub message: String,
}

fn event(type_: &'static str, reason: &'static str, message: String) -> PullEvent {
    PullEvent {
        type_,
        reason,
        message,
    }
}

fn go_seconds(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else {
        format!("{:.3}s", d.as_secs_f64())
    }
}

/// Makes sure the container's image is present; returns its reference, or
/// why the container waits. `events` receives what a user would see.
pub async fn ensure<R: Runtime>(
    runtime: &R,
    c: &Container,
    sandbox: &proto::PodSandboxConfig,
    backoff: &mut Backoff,
    now: Timestamp,
    events: &mut Vec<PullEvent>,
) -> Result<String, Waiting> {
    let image = c.image.clone().unwrap_or_default();
    let present = runtime.image_status(&image).await.ok().flatten();
    let policy = policy(c);
    match (policy, &present) {
        (PullPolicy::Never, None) => {
            let message =
                format!("Container image \"{image}\" is not present with pull policy of Never");
            events.push(event("Warning", "ErrImageNeverPull", message.clone()));
            return Err(Waiting {
                reason: "ErrImageNeverPull".into(),
                message,
            });
        }
        (PullPolicy::Never | PullPolicy::IfNotPresent, Some(img)) => {
            events.push(event(
                "Normal",
                "Pulled",
                format!("Container image \"{image}\" already present on machine"),
            ));
            return Ok(img.id.clone());
        }
        _ => {}
    }
    let key = format!("pull/{image}");
    if backoff.remaining_since_update(&key, now).is_some() {
        let message = format!("Back-off pulling image \"{image}\"");
        events.push(event("Normal", "BackOff", message.clone()));
        return Err(Waiting {
            reason: "ImagePullBackOff".into(),
            message,
        });
    }
    events.push(event(
        "Normal",
        "Pulling",
        format!("Pulling image \"{image}\""),
    ));
    let started = Instant::now();
    match runtime.pull_image(&image, sandbox).await {
        Ok(reference) => {
            let took = go_seconds(started.elapsed());
            let size = runtime
                .image_status(&reference)
                .await
                .ok()
                .flatten()
                .map_or(0, |i| i.size);
            events.push(event(
                "Normal",
                "Pulled",
                format!(
                    "Successfully pulled image \"{image}\" in {took} ({took} including waiting). Image size: {size} bytes."
                ),
            ));
            backoff.reset(&key);
            Ok(reference)
        }
        Err(e) => {
            backoff.next(&key, now);
            let message = e.user_message();
            events.push(event(
                "Warning",
                "Failed",
                format!("Failed to pull image \"{image}\": {message}"),
            ));
            events.push(event("Warning", "Failed", "Error: ErrImagePull".into()));
            Err(Waiting {
                reason: "ErrImagePull".into(),
                message,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::fake::FakeRuntime;
    use serde_json::json;

    fn container(image: &str, policy: Option<&str>) -> Container {
        serde_json::from_value(json!({"name": "c", "image": image, "imagePullPolicy": policy}))
            .unwrap()
    }

    #[test]
    fn default_policies() {
        assert_eq!(policy(&container("busybox", None)), PullPolicy::Always);
        assert_eq!(
            policy(&container("busybox:latest", None)),
            PullPolicy::Always
        );
        assert_eq!(
            policy(&container("busybox:1.36", None)),
            PullPolicy::IfNotPresent
        );
        assert_eq!(
            policy(&container("localhost:5000/x", None)),
            PullPolicy::Always
        );
        assert_eq!(
            policy(&container("x@sha256:ab", None)),
            PullPolicy::IfNotPresent
        );
        assert_eq!(
            policy(&container("busybox", Some("Never"))),
            PullPolicy::Never
        );
    }

    #[tokio::test]
    async fn failed_pulls_back_off() {
        let rt = FakeRuntime::new();
        rt.state()
            .pull_failures
            .insert("nope".into(), "not found".into());
        let mut backoff = Backoff::default();
        let sb = proto::PodSandboxConfig::default();
        let c = container("nope", None);
        let now = rt.now();
        let mut events = vec![];
        let w = ensure(&rt, &c, &sb, &mut backoff, now, &mut events)
            .await
            .unwrap_err();
        assert_eq!(w.reason, "ErrImagePull");
        assert_eq!(w.message, "not found");
        let w = ensure(&rt, &c, &sb, &mut backoff, now, &mut events)
            .await
            .unwrap_err();
        assert_eq!(w.reason, "ImagePullBackOff");
        assert_eq!(w.message, "Back-off pulling image \"nope\"");
        let later = now + std::time::Duration::from_secs(11);
        let w = ensure(&rt, &c, &sb, &mut backoff, later, &mut events)
            .await
            .unwrap_err();
        assert_eq!(w.reason, "ErrImagePull");
        let reasons: Vec<&str> = events.iter().map(|e| e.reason).collect();
        assert_eq!(
            reasons,
            [
                "Pulling", "Failed", "Failed", "BackOff", "Pulling", "Failed", "Failed"
            ]
        );

        let w = ensure(
            &rt,
            &container("busybox", Some("Never")),
            &sb,
            &mut backoff,
            now,
            &mut events,
        )
        .await
        .unwrap_err();
        assert_eq!(w.reason, "ErrImageNeverPull");
        let r = ensure(
            &rt,
            &container("busybox", None),
            &sb,
            &mut backoff,
            now,
            &mut events,
        )
        .await;
        assert!(r.unwrap().starts_with("sha256:"));
        let r = ensure(
            &rt,
            &container("busybox", Some("IfNotPresent")),
            &sb,
            &mut backoff,
            now,
            &mut events,
        )
        .await;
        assert!(r.is_ok());
        assert_eq!(
            events.last().unwrap().message,
            "Container image \"busybox\" already present on machine"
        );
    }
}
