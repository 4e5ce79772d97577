//! Pure helpers about pods, selectors and owner references shared by the workload controllers.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};

/// Whether `selector` matches `labels` (an empty selector matches everything).
pub fn selector_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    if let Some(ml) = &selector.match_labels
        && ml.iter().any(|(k, v)| labels.get(k) != Some(v))
    {
        return false;
    }
    for req in selector.match_expressions.iter().flatten() {
        let have = labels.get(&req.key);
        let values = req.values.as_deref().unwrap_or_default();
        let ok = match req.operator.as_str() {
            "In" => have.is_some_and(|v| values.contains(v)),
            "NotIn" => have.is_none_or(|v| !values.contains(v)),
            "Exists" => have.is_some(),
            "DoesNotExist" => have.is_none(),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

/// Whether the selector selects nothing at all (no labels, no expressions).
pub fn selector_is_empty(selector: &LabelSelector) -> bool {
    selector
        .match_labels
        .as_ref()
        .is_none_or(BTreeMap::is_empty)
        && selector
            .match_expressions
            .as_ref()
            .is_none_or(Vec::is_empty)
}

/// The controller owner reference of an object, if any.
pub fn controller_ref(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
}

/// An owner reference marking `controller: true, blockOwnerDeletion: true`.
pub fn new_controller_ref(api_version: &str, kind: &str, name: &str, uid: &str) -> OwnerReference {
    OwnerReference {
        api_version: api_version.to_owned(),
        kind: kind.to_owned(),
        name: name.to_owned(),
        uid: uid.to_owned(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Whether a pod still counts: not terminal and not being deleted.
pub fn is_pod_active(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    !matches!(phase, Some("Succeeded" | "Failed")) && pod.metadata.deletion_timestamp.is_none()
}

/// When the pod became Ready, if it is Ready now.
pub fn ready_since(pod: &Pod) -> Option<Option<Timestamp>> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready" && c.status == "True")
        .map(|c| c.last_transition_time.as_ref().map(|t| t.0))
}

/// Whether the pod's Ready condition is True.
pub fn is_pod_ready(pod: &Pod) -> bool {
    ready_since(pod).is_some()
}

/// Whether the pod has been Ready for at least `min_ready_seconds` at `now`.
pub fn is_pod_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    match ready_since(pod) {
        None => false,
        Some(_) if min_ready_seconds <= 0 => true,
        Some(None) => false,
        Some(Some(since)) => since.as_second() + i64::from(min_ready_seconds) <= now.as_second(),
    }
}

/// Seconds until a Ready-but-not-yet-available pod becomes available, if any such pod exists.
pub fn next_available_in(pods: &[&Pod], min_ready_seconds: i32, now: Timestamp) -> Option<i64> {
    if min_ready_seconds <= 0 {
        return None;
    }
    pods.iter()
        .filter_map(|p| ready_since(p).flatten())
        .map(|since| since.as_second() + i64::from(min_ready_seconds) - now.as_second())
        .filter(|left| *left > 0)
        .min()
}

/// Splits `count` creations into slow-start batches of 1, 2, 4, … (the last one clipped).
pub fn slow_start_batches(count: usize, initial: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut remaining = count;
    let mut size = initial.max(1);
    while remaining > 0 {
        let b = size.min(remaining);
        out.push(b);
        remaining -= b;
        size = size.saturating_mul(2);
    }
    out
}

fn phase_rank(pod: &Pod) -> u8 {
    match pod.status.as_ref().and_then(|s| s.phase.as_deref()) {
        Some("Pending") | None => 0,
        Some("Running") => 2,
        _ => 1,
    }
}

fn max_restarts(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map(|cs| cs.iter().map(|c| c.restart_count).max().unwrap_or(0))
        .unwrap_or(0)
}

fn node_name(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or("")
}

/// Orders pods so that the ones to delete first on scale-down come first, as upstream's
/// `ActivePodsWithRanks`: unassigned before assigned; Pending before Unknown before Running;
/// not ready before ready; more pods of the same owner on the node first; ready for less time
/// first; more restarts first; newer first.
pub fn rank_for_deletion<'a>(pods: &[&'a Pod]) -> Vec<&'a Pod> {
    let mut per_node: HashMap<&str, usize> = HashMap::new();
    for p in pods {
        let n = node_name(p);
        if !n.is_empty() {
            *per_node.entry(n).or_default() += 1;
        }
    }
    let mut out: Vec<&Pod> = pods.to_vec();
    out.sort_by(|a, b| {
        let (na, nb) = (node_name(a), node_name(b));
        let assigned = (!na.is_empty()).cmp(&!nb.is_empty());
        let phase = phase_rank(a).cmp(&phase_rank(b));
        let ready = is_pod_ready(a).cmp(&is_pod_ready(b));
        let colocated = per_node
            .get(nb)
            .copied()
            .unwrap_or(0)
            .cmp(&per_node.get(na).copied().unwrap_or(0));
        let ready_time = match (ready_since(a).flatten(), ready_since(b).flatten()) {
            (Some(x), Some(y)) => y.cmp(&x),
            _ => std::cmp::Ordering::Equal,
        };
        let restarts = max_restarts(b).cmp(&max_restarts(a));
        let created = b
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0)
            .cmp(&a.metadata.creation_timestamp.as_ref().map(|t| t.0));
        assigned
            .then(phase)
            .then(ready)
            .then(colocated)
            .then(ready_time)
            .then(restarts)
            .then(created)
    });
    out
}

/// The pod an owner creates from its template: `generateName: <owner>-`, template labels,
/// annotations, finalizers and spec, and the controller owner reference.
pub fn pod_from_template(
    template: &PodTemplateSpec,
    namespace: &str,
    owner_name: &str,
    owner: OwnerReference,
) -> Pod {
    let tmeta = template.metadata.clone().unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{owner_name}-")),
            namespace: Some(namespace.to_owned()),
            labels: tmeta.labels,
            annotations: tmeta.annotations,
            finalizers: tmeta.finalizers,
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        spec: template.spec.clone(),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodCondition, PodSpec, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelectorRequirement, Time};

    fn pod(name: &str, node: &str, phase: &str, ready_at: Option<i64>, created: i64) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                creation_timestamp: Some(Time(Timestamp::from_second(created).unwrap())),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: (!node.is_empty()).then(|| node.to_owned()),
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some(phase.into()),
                conditions: ready_at.map(|t| {
                    vec![PodCondition {
                        type_: "Ready".into(),
                        status: "True".into(),
                        last_transition_time: Some(Time(Timestamp::from_second(t).unwrap())),
                        ..Default::default()
                    }]
                }),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn selectors() {
        let labels: BTreeMap<String, String> =
            [("app".to_owned(), "web".to_owned())].into_iter().collect();
        let mut sel = LabelSelector {
            match_labels: Some(labels.clone()),
            ..Default::default()
        };
        assert!(selector_matches(&sel, &labels));
        sel.match_expressions = Some(vec![LabelSelectorRequirement {
            key: "tier".into(),
            operator: "DoesNotExist".into(),
            values: None,
        }]);
        assert!(selector_matches(&sel, &labels));
        sel.match_expressions = Some(vec![LabelSelectorRequirement {
            key: "app".into(),
            operator: "NotIn".into(),
            values: Some(vec!["web".into()]),
        }]);
        assert!(!selector_matches(&sel, &labels));
        assert!(selector_is_empty(&LabelSelector::default()));
    }

    #[test]
    fn slow_start() {
        assert_eq!(slow_start_batches(10, 1), vec![1, 2, 4, 3]);
        assert_eq!(slow_start_batches(1, 1), vec![1]);
        assert!(slow_start_batches(0, 1).is_empty());
    }

    #[test]
    fn ranking_follows_upstream_order() {
        let unassigned = pod("unassigned", "", "Pending", None, 1);
        let pending = pod("pending", "n1", "Pending", None, 1);
        let unknown = pod("unknown", "n2", "Unknown", None, 1);
        let running_not_ready = pod("running-not-ready", "n3", "Running", None, 1);
        let ready_recent = pod("ready-recent", "n4", "Running", Some(500), 1);
        let ready_old = pod("ready-old", "n5", "Running", Some(100), 1);
        let pods = [
            &ready_old,
            &ready_recent,
            &running_not_ready,
            &unknown,
            &pending,
            &unassigned,
        ];
        let names: Vec<_> = rank_for_deletion(&pods)
            .iter()
            .map(|p| p.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "unassigned",
                "pending",
                "unknown",
                "running-not-ready",
                "ready-recent",
                "ready-old"
            ]
        );
    }

    #[test]
    fn ranking_prefers_newer_pods_when_equal() {
        let old = pod("old", "n1", "Running", Some(10), 1);
        let new = pod("new", "n2", "Running", Some(10), 50);
        let ranked = rank_for_deletion(&[&old, &new]);
        assert_eq!(ranked[0].metadata.name.as_deref(), Some("new"));
    }

    #[test]
    fn availability_honours_min_ready_seconds() {
        let p = pod("p", "n", "Running", Some(100), 1);
        let now = Timestamp::from_second(105).unwrap();
        assert!(is_pod_available(&p, 0, now));
        assert!(is_pod_available(&p, 5, now));
        assert!(!is_pod_available(&p, 10, now));
        assert_eq!(next_available_in(&[&p], 10, now), Some(5));
    }
}
