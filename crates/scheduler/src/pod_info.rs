//! A pod with everything the plugins need precomputed once (requests, ports, affinity terms).

use std::collections::BTreeSet;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, PodAffinityTerm, Toleration};

use crate::resources::{Resources, pod_requests};
use crate::selectors::{Labels, Selector};

/// A host port a pod asks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    pub protocol: String,
    pub ip: String,
    pub port: i32,
}

impl HostPort {
    /// Whether two host ports collide (same protocol and port; wildcard IPs overlap everything).
    pub fn conflicts(&self, other: &HostPort) -> bool {
        self.port == other.port
            && self.protocol == other.protocol
            && (self.ip == other.ip || self.ip == "0.0.0.0" || other.ip == "0.0.0.0")
    }
}

/// Which namespaces a pod affinity term applies to.
#[derive(Debug, Clone, PartialEq)]
pub enum Namespaces {
    /// Listed namespaces.
    Names(BTreeSet<String>),
    /// Names plus namespaces whose labels match the selector.
    Selector(BTreeSet<String>, Selector),
}

/// A compiled pod (anti-)affinity term.
#[derive(Debug, Clone, PartialEq)]
pub struct AffinityTerm {
    pub namespaces: Namespaces,
    pub selector: Selector,
    pub topology_key: String,
    pub weight: i64,
    /// [`label_hash`] of a `key=value` every selected pod must carry (the selector's first
    /// single-valued `In`): pods without it are rejected by comparing a few integers.
    pub hint: Option<u64>,
}

impl AffinityTerm {
    fn new(owner: &Pod, term: &PodAffinityTerm, weight: i64) -> AffinityTerm {
        let own_ns = owner.metadata.namespace.clone().unwrap_or_default();
        let mut names: BTreeSet<String> = term.namespaces.iter().flatten().cloned().collect();
        let namespaces = match term.namespace_selector.as_ref() {
            Some(sel) => Namespaces::Selector(names, Selector::from_label_selector(sel)),
            None => {
                if names.is_empty() {
                    names.insert(own_ns);
                }
                Namespaces::Names(names)
            }
        };
        let mut selector = term
            .label_selector
            .as_ref()
            .map(Selector::from_label_selector)
            .unwrap_or(Selector {
                requirements: vec![crate::selectors::Requirement::Never],
            });
        // matchLabelKeys / mismatchLabelKeys merge the owner's label values into the selector.
        let owner_labels = owner.metadata.labels.as_ref();
        for k in term.match_label_keys.iter().flatten() {
            if let Some(v) = owner_labels.and_then(|l| l.get(k)) {
                selector
                    .requirements
                    .push(crate::selectors::Requirement::In(
                        k.clone(),
                        vec![v.clone()],
                    ));
            }
        }
        for k in term.mismatch_label_keys.iter().flatten() {
            if let Some(v) = owner_labels.and_then(|l| l.get(k)) {
                selector
                    .requirements
                    .push(crate::selectors::Requirement::NotIn(
                        k.clone(),
                        vec![v.clone()],
                    ));
            }
        }
        let hint = selector_hint(&selector);
        AffinityTerm {
            namespaces,
            selector,
            topology_key: term.topology_key.clone(),
            weight,
            hint,
        }
    }

    /// False when `pod` certainly is not selected (it lacks the hinted label); a cheap
    /// check before [`AffinityTerm::matches`] and the namespace lookup it needs.
    pub fn may_match(&self, pod: &PodInfo) -> bool {
        may_carry(self.hint, pod)
    }

    /// Whether `pod` (with its namespace's labels) is selected by this term.
    pub fn matches(&self, pod: &PodInfo, ns_labels: Option<&Labels>) -> bool {
        if !self.may_match(pod) {
            return false;
        }
        let ns_ok = match &self.namespaces {
            Namespaces::Names(n) => n.contains(&pod.namespace),
            Namespaces::Selector(n, sel) => n.contains(&pod.namespace) || sel.matches(ns_labels),
        };
        ns_ok && self.selector.matches(pod.labels())
    }
}

/// [`label_hash`] of a `key=value` every pod `selector` selects must carry (its first
/// single-valued `In`), to reject most other pods without reading their labels.
pub fn selector_hint(selector: &Selector) -> Option<u64> {
    selector.requirements.iter().find_map(|r| match r {
        crate::selectors::Requirement::In(k, vs) if vs.len() == 1 => Some(label_hash(k, &vs[0])),
        _ => None,
    })
}

/// Whether `pod` may carry the label a [`selector_hint`] stands for (always, without one).
pub fn may_carry(hint: Option<u64>, pod: &PodInfo) -> bool {
    hint.is_none_or(|h| pod.label_hashes.contains(&h))
}

/// A hash of one `key=value` label (for quick rejects; equal pairs hash equal).
pub fn label_hash(key: &str, value: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    value.hash(&mut h);
    h.finish()
}

/// A pod plus precomputed scheduling data; shared by the queue, the cache and the plugins.
#[derive(Debug, Clone)]
pub struct PodInfo {
    pub pod: Arc<Pod>,
    /// `namespace/name`.
    pub key: String,
    pub namespace: String,
    pub requests: Resources,
    pub non_zero_cpu: i64,
    pub non_zero_mem: i64,
    pub host_ports: Vec<HostPort>,
    pub priority: i32,
    pub required_affinity: Vec<AffinityTerm>,
    pub required_anti_affinity: Vec<AffinityTerm>,
    pub preferred_affinity: Vec<AffinityTerm>,
    pub preferred_anti_affinity: Vec<AffinityTerm>,
    /// [`label_hash`] of each of the pod's labels.
    pub label_hashes: Vec<u64>,
}

impl PodInfo {
    /// Precomputes a pod.
    pub fn new(pod: Arc<Pod>) -> PodInfo {
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let key = format!(
            "{namespace}/{}",
            pod.metadata.name.as_deref().unwrap_or_default()
        );
        let (requests, non_zero_cpu, non_zero_mem) = pod_requests(&pod);
        let spec = pod.spec.as_ref();
        let mut host_ports = Vec::new();
        for c in spec.iter().flat_map(|s| s.containers.iter()) {
            for p in c.ports.iter().flatten() {
                if let Some(hp) = p.host_port.filter(|hp| *hp > 0) {
                    host_ports.push(HostPort {
                        protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                        ip: p
                            .host_ip
                            .clone()
                            .filter(|s| !s.is_empty())
                            .unwrap_or_else(|| "0.0.0.0".into()),
                        port: hp,
                    });
                }
            }
        }
        let aff = spec.and_then(|s| s.affinity.as_ref());
        let pa = aff.and_then(|a| a.pod_affinity.as_ref());
        let paa = aff.and_then(|a| a.pod_anti_affinity.as_ref());
        let req = |ts: Option<&Vec<PodAffinityTerm>>| {
            ts.into_iter()
                .flatten()
                .map(|t| AffinityTerm::new(&pod, t, 1))
                .collect::<Vec<_>>()
        };
        let required_affinity = req(pa.and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        }));
        let required_anti_affinity = req(paa.and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        }));
        let preferred_affinity = pa
            .and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .into_iter()
            .flatten()
            .map(|w| AffinityTerm::new(&pod, &w.pod_affinity_term, i64::from(w.weight)))
            .collect();
        let preferred_anti_affinity = paa
            .and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .into_iter()
            .flatten()
            .map(|w| AffinityTerm::new(&pod, &w.pod_affinity_term, i64::from(w.weight)))
            .collect();
        let priority = spec.and_then(|s| s.priority).unwrap_or(0);
        let label_hashes = pod
            .metadata
            .labels
            .iter()
            .flatten()
            .map(|(k, v)| label_hash(k, v))
            .collect();
        PodInfo {
            label_hashes,
            key,
            namespace,
            requests,
            non_zero_cpu,
            non_zero_mem,
            host_ports,
            priority,
            required_affinity,
            required_anti_affinity,
            preferred_affinity,
            preferred_anti_affinity,
            pod,
        }
    }

    /// The pod's labels.
    pub fn labels(&self) -> Option<&Labels> {
        self.pod.metadata.labels.as_ref()
    }

    /// The pod's name.
    pub fn name(&self) -> &str {
        self.pod.metadata.name.as_deref().unwrap_or_default()
    }

    /// The pod's tolerations.
    pub fn tolerations(&self) -> &[Toleration] {
        self.pod
            .spec
            .as_ref()
            .and_then(|s| s.tolerations.as_deref())
            .unwrap_or_default()
    }

    /// Whether the pod has any (anti-)affinity term.
    pub fn has_affinity(&self) -> bool {
        !(self.required_affinity.is_empty()
            && self.required_anti_affinity.is_empty()
            && self.preferred_affinity.is_empty()
            && self.preferred_anti_affinity.is_empty())
    }

    /// Whether the pod has terms that score other pods: required affinity (scored with the
    /// hard-affinity weight) or preferred (anti-)affinity. Required anti-affinity only filters.
    pub fn has_scored_affinity(&self) -> bool {
        !(self.required_affinity.is_empty()
            && self.preferred_affinity.is_empty()
            && self.preferred_anti_affinity.is_empty())
    }

    /// Whether a required anti-affinity term uses a topology other than the node's hostname.
    pub fn has_zonal_anti_affinity(&self) -> bool {
        self.required_anti_affinity
            .iter()
            .any(|t| t.topology_key != crate::cache::HOSTNAME_LABEL)
    }

    /// Whether the pod is being deleted.
    pub fn is_terminating(&self) -> bool {
        self.pod.metadata.deletion_timestamp.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testutil::pod;
    use serde_json::json;

    #[test]
    fn label_hints_reject_only_pods_that_cannot_match() {
        let p = pod(
            "p",
            json!({"spec": {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"group": "g1"}}, "topologyKey": "kubernetes.io/hostname"}]}}}}),
        );
        let t = &p.required_anti_affinity[0];
        assert_eq!(t.hint, Some(label_hash("group", "g1")));
        let same = pod(
            "a",
            json!({"metadata": {"labels": {"group": "g1", "x": "y"}}}),
        );
        let other = pod("b", json!({"metadata": {"labels": {"group": "g2"}}}));
        assert!(t.matches(&same, None));
        assert!(!t.matches(&other, None));
        assert!(!t.matches(&pod("c", json!({})), None));
    }
}
