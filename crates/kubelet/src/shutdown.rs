//! Graceful node shutdown, as upstream's kubelet does it when its
//! `shutdownGracePeriod` is set: once the shutdown begins the node reports
//! NotReady ("node is shutting down"), no new pod starts, and every pod is
//! stopped within the grace period (critical pods within their own share of
//! it) and reported Failed with reason `Terminated` and a `DisruptionTarget`
//! condition. The pod objects stay; their controllers replace them elsewhere.
//!
//! The agent begins a shutdown on SIGTERM when `--shutdown-grace-period` is
//! set; without it SIGTERM leaves the containers running for a restarted
//! agent to adopt (upstream's default: the feature is off).

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, PodCondition, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use tokio::sync::Notify;

/// Why the node is not ready while it shuts down.
pub const NOT_READY_MESSAGE: &str = "node is shutting down";
/// The reason and message of a pod stopped by the shutdown.
pub const TERMINATED_REASON: &str = "Terminated";
pub const TERMINATED_MESSAGE: &str = "Pod was terminated in response to imminent node shutdown.";
/// The reason and message of a pod that arrives while the node shuts down.
pub const REJECTED_REASON: &str = "NodeShutdown";
pub const REJECTED_MESSAGE: &str =
    "Pod was rejected: Pod was rejected as the node is shutting down.";

/// Priority classes upstream treats as critical.
const CRITICAL_CLASSES: [&str; 2] = ["system-node-critical", "system-cluster-critical"];

/// The node's shutdown: off until [`NodeShutdown::begin`].
#[derive(Debug, Default)]
pub struct NodeShutdown {
    active: AtomicBool,
    /// The whole grace period and the part of it kept for critical pods.
    grace: Duration,
    critical: Duration,
    /// Pods still to be stopped (by UID), once the pod source listed them.
    pending: Mutex<HashSet<String>>,
    tracked: AtomicBool,
    changed: Notify,
}

impl NodeShutdown {
    /// A shutdown with upstream's two periods (`critical` ≤ `grace`).
    pub fn new(grace: Duration, critical: Duration) -> Self {
        NodeShutdown {
            grace,
            critical: critical.min(grace),
            ..Default::default()
        }
    }

    /// Whether a shutdown was configured at all.
    pub fn enabled(&self) -> bool {
        !self.grace.is_zero()
    }

    /// The whole grace period.
    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// Whether the node is shutting down.
    pub fn active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// Begins the shutdown.
    pub fn begin(&self) {
        self.active.store(true, Ordering::Release);
        self.changed.notify_waiters();
    }

    /// Registers the pods that must stop before the shutdown ends (the pod
    /// source calls this once it sees the shutdown begin).
    pub fn track(&self, pods: impl IntoIterator<Item = String>) {
        if let Ok(mut p) = self.pending.lock() {
            p.extend(pods);
        }
        self.tracked.store(true, Ordering::Release);
        self.changed.notify_waiters();
    }

    /// Marks a pod as stopped (or gone).
    pub fn pod_stopped(&self, uid: &str) {
        let empty = match self.pending.lock() {
            Ok(mut p) => {
                p.remove(uid);
                p.is_empty()
            }
            Err(_) => true,
        };
        if empty {
            self.changed.notify_waiters();
        }
    }

    /// Pods not yet stopped.
    pub fn pending(&self) -> usize {
        self.pending.lock().map_or(0, |p| p.len())
    }

    /// Waits until the shutdown begins.
    pub async fn begun(&self) {
        loop {
            let notified = self.changed.notified();
            if self.active() {
                return;
            }
            notified.await;
        }
    }

    /// Waits until every pod of the shutdown has stopped.
    pub async fn finished(&self) {
        loop {
            let notified = self.changed.notified();
            if self.tracked.load(Ordering::Acquire) && self.pending() == 0 {
                return;
            }
            notified.await;
        }
    }

    /// How long `pod`'s containers get to stop: its own grace period, capped
    /// by the share of the shutdown its priority class gets.
    pub fn grace_for(&self, pod: &Pod, own: Duration) -> Duration {
        let share = if is_critical(pod) {
            self.critical
        } else {
            self.grace.saturating_sub(self.critical)
        };
        own.min(share)
    }
}

/// Whether upstream would count the pod as critical.
fn is_critical(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.priority_class_name.as_deref())
        .is_some_and(|c| CRITICAL_CLASSES.contains(&c))
}

/// Turns the final status of a pod stopped by the shutdown into upstream's:
/// phase Failed, the reason and message, and the DisruptionTarget condition.
/// `started` tells a pod that ran from one that never started here.
pub fn mark_status(status: &mut PodStatus, started: bool, now: jiff::Timestamp) {
    if started {
        mark_failed(status, TERMINATED_REASON, TERMINATED_MESSAGE, now);
    } else {
        status.phase = Some("Failed".into());
        status.reason = Some(REJECTED_REASON.into());
        status.message = Some(REJECTED_MESSAGE.into());
    }
}

/// Marks a pod the agent itself stopped (node shutdown, eviction): phase
/// Failed, `reason`, `message`, and a DisruptionTarget condition
/// (TerminationByKubelet) carrying the message, as upstream.
pub fn mark_failed(status: &mut PodStatus, reason: &str, message: &str, now: jiff::Timestamp) {
    status.phase = Some("Failed".into());
    status.reason = Some(reason.into());
    status.message = Some(message.into());
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    conditions.retain(|c| c.type_ != "DisruptionTarget");
    conditions.push(PodCondition {
        type_: "DisruptionTarget".into(),
        status: "True".into(),
        reason: Some("TerminationByKubelet".into()),
        message: Some(message.into()),
        last_transition_time: Some(Time(now)),
        ..Default::default()
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::PodSpec;
    use std::sync::Arc;

    fn pod(class: Option<&str>) -> Pod {
        Pod {
            spec: Some(PodSpec {
                priority_class_name: class.map(str::to_string),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn critical_pods_get_their_share() {
        let s = NodeShutdown::new(Duration::from_secs(30), Duration::from_secs(10));
        let own = Duration::from_secs(60);
        assert_eq!(s.grace_for(&pod(None), own), Duration::from_secs(20));
        assert_eq!(
            s.grace_for(&pod(Some("system-node-critical")), own),
            Duration::from_secs(10)
        );
        assert_eq!(
            s.grace_for(&pod(None), Duration::from_secs(5)),
            Duration::from_secs(5)
        );
        assert!(!NodeShutdown::default().enabled());
    }

    #[test]
    fn status_is_failed_with_the_disruption_condition() {
        let mut st = PodStatus {
            phase: Some("Running".into()),
            ..Default::default()
        };
        mark_status(&mut st, true, jiff::Timestamp::UNIX_EPOCH);
        assert_eq!(st.phase.as_deref(), Some("Failed"));
        assert_eq!(st.reason.as_deref(), Some("Terminated"));
        let c = &st.conditions.as_ref().expect("conditions")[0];
        assert_eq!(
            (c.type_.as_str(), c.reason.as_deref()),
            ("DisruptionTarget", Some("TerminationByKubelet"))
        );
        let mut st = PodStatus::default();
        mark_status(&mut st, false, jiff::Timestamp::UNIX_EPOCH);
        assert_eq!(st.reason.as_deref(), Some("NodeShutdown"));
        assert!(st.conditions.is_none());
    }

    #[tokio::test]
    async fn finishes_when_every_pod_stopped() {
        let s = Arc::new(NodeShutdown::new(
            Duration::from_secs(30),
            Duration::from_secs(10),
        ));
        let waiter = tokio::spawn({
            let s = s.clone();
            async move { s.finished().await }
        });
        s.begin();
        s.track(["a".to_string(), "b".to_string()]);
        s.pod_stopped("a");
        assert!(!waiter.is_finished());
        s.pod_stopped("b");
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("finished")
            .expect("join");
    }
}
