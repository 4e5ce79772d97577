//! Selectors of Services, ReplicationControllers, ReplicaSets and StatefulSets, for default spreading.
//!
//! Upstream's PodTopologySpread applies system default constraints to a pod without
//! constraints of its own, selecting the pods of the same Services and controller. The
//! selector is the union of the selectors of every Service in the pod's namespace that
//! selects the pod, plus the selector of the pod's controller when that is a
//! ReplicationController, ReplicaSet or StatefulSet.

use std::collections::HashMap;

use crate::pod_info::PodInfo;
use crate::selectors::{Labels, Selector};

/// A workload kind whose selector feeds the default spreading selector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OwnerKind {
    ReplicationController,
    ReplicaSet,
    StatefulSet,
}

impl OwnerKind {
    /// The kind of a controller ownerReference, when it is one of ours.
    pub fn of_reference(api_version: &str, kind: &str) -> Option<OwnerKind> {
        match (api_version, kind) {
            ("v1", "ReplicationController") => Some(OwnerKind::ReplicationController),
            ("apps/v1", "ReplicaSet") => Some(OwnerKind::ReplicaSet),
            ("apps/v1", "StatefulSet") => Some(OwnerKind::StatefulSet),
            _ => None,
        }
    }
}

type OwnerKey = (OwnerKind, String, String);

/// Service and controller selectors by namespace and name.
#[derive(Debug, Default)]
pub struct Owners {
    /// Namespace -> Service name -> `spec.selector` (Services without one are not kept).
    services: HashMap<String, HashMap<String, Labels>>,
    /// Controller -> its compiled selector (`None` for a nil selector: adds nothing).
    controllers: HashMap<OwnerKey, Option<Selector>>,
}

impl Owners {
    /// Records a Service's selector; `None` (no selector) selects no pods.
    pub fn set_service(&mut self, namespace: &str, name: &str, selector: Option<Labels>) {
        match selector {
            Some(sel) => {
                self.services
                    .entry(namespace.to_string())
                    .or_default()
                    .insert(name.to_string(), sel);
            }
            None => self.remove_service(namespace, name),
        }
    }

    /// Forgets a Service.
    pub fn remove_service(&mut self, namespace: &str, name: &str) {
        if let Some(m) = self.services.get_mut(namespace) {
            m.remove(name);
            if m.is_empty() {
                self.services.remove(namespace);
            }
        }
    }

    /// Records a controller's selector.
    pub fn set_controller(
        &mut self,
        kind: OwnerKind,
        namespace: &str,
        name: &str,
        selector: Option<Selector>,
    ) {
        self.controllers
            .insert((kind, namespace.to_string(), name.to_string()), selector);
    }

    /// Forgets a controller.
    pub fn remove_controller(&mut self, kind: OwnerKind, namespace: &str, name: &str) {
        self.controllers
            .remove(&(kind, namespace.to_string(), name.to_string()));
    }

    /// Forgets every Service (before a relist's replacement).
    pub fn clear_services(&mut self) {
        self.services.clear();
    }

    /// Forgets every controller of `kind` (before a relist's replacement).
    pub fn clear_controllers(&mut self, kind: OwnerKind) {
        self.controllers.retain(|(k, _, _), _| *k != kind);
    }

    /// The selector of the pods that belong with `pod`, or `None` when nothing selects it.
    pub fn default_selector(&self, pod: &PodInfo) -> Option<Selector> {
        let mut merged: Labels = Labels::new();
        if let Some(services) = self.services.get(&pod.namespace) {
            let labels = pod.labels();
            for sel in services.values() {
                let selects = sel
                    .iter()
                    .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v));
                if selects {
                    merged.extend(sel.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
        }
        let mut selector = Selector::from_map(&merged);
        if let Some(owner) = controller_of(pod)
            && let Some(Some(sel)) = self.controllers.get(&owner)
        {
            selector
                .requirements
                .extend(sel.requirements.iter().cloned());
        }
        (!selector.is_empty()).then_some(selector)
    }
}

/// The pod's controller ownerReference as a key, when it is an RC, RS or StatefulSet.
fn controller_of(pod: &PodInfo) -> Option<OwnerKey> {
    let refs = pod.pod.metadata.owner_references.as_deref()?;
    let r = refs.iter().find(|r| r.controller == Some(true))?;
    let kind = OwnerKind::of_reference(&r.api_version, &r.kind)?;
    Some((kind, pod.namespace.clone(), r.name.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testutil::pod;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn owned(kind: &str, api: &str, name: &str) -> std::sync::Arc<PodInfo> {
        pod(
            "p",
            json!({"metadata": {"labels": {"app": "web", "hash": "h1"},
                "ownerReferences": [{"apiVersion": api, "kind": kind, "name": name, "uid": "u", "controller": true}]}}),
        )
    }

    #[test]
    fn services_and_controller_are_merged() {
        let mut o = Owners::default();
        o.set_service("default", "web", Some(labels(&[("app", "web")])));
        o.set_service("default", "other", Some(labels(&[("app", "db")])));
        o.set_service("elsewhere", "web", Some(labels(&[("tier", "x")])));
        o.set_controller(
            OwnerKind::ReplicaSet,
            "default",
            "rs1",
            Some(Selector::from_map(&labels(&[("hash", "h1")]))),
        );
        let p = owned("ReplicaSet", "apps/v1", "rs1");
        let sel = o.default_selector(&p).unwrap();
        assert_eq!(sel.requirements.len(), 2);
        assert!(sel.matches(p.labels()));
        assert!(!sel.matches(Some(&labels(&[("app", "web")]))));
    }

    #[test]
    fn nothing_selects_a_bare_pod() {
        let mut o = Owners::default();
        o.set_service("default", "db", Some(labels(&[("app", "db")])));
        assert!(o.default_selector(&pod("p", json!({}))).is_none());
        // A Deployment is not a controller of pods; an unknown RS adds nothing.
        assert!(
            o.default_selector(&owned("Deployment", "apps/v1", "d"))
                .is_none()
        );
        assert!(
            o.default_selector(&owned("ReplicaSet", "apps/v1", "gone"))
                .is_none()
        );
        o.set_controller(OwnerKind::StatefulSet, "default", "ss", None);
        assert!(
            o.default_selector(&owned("StatefulSet", "apps/v1", "ss"))
                .is_none()
        );
        o.set_controller(
            OwnerKind::ReplicationController,
            "default",
            "rc",
            Some(Selector::from_map(&labels(&[("app", "web")]))),
        );
        assert!(
            o.default_selector(&owned("ReplicationController", "v1", "rc"))
                .is_some()
        );
        o.remove_controller(OwnerKind::ReplicationController, "default", "rc");
        assert!(
            o.default_selector(&owned("ReplicationController", "v1", "rc"))
                .is_none()
        );
    }
}
