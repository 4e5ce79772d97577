//! The cached pods by controller: each controller UID's pods, and each namespace's orphans.
//!
//! A ReplicaSet's sync needs its own pods and the orphans it may adopt, not every pod of
//! its namespace (upstream keeps a controller-UID index for the same reason). The index
//! changes under its write lock together with the pod cache, and readers resolve keys
//! through the cache under its read lock, so a reader never sees one without the other.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use kube::runtime::reflector::store::Writer;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use parking_lot::RwLock;

use crate::podutil::controller_ref;

/// Which group a pod belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Group {
    /// Pods whose controller has this UID.
    Controlled(String),
    /// Pods of this namespace without a controller.
    Orphans(String),
}

impl Group {
    fn of(pod: &Pod) -> Group {
        match controller_ref(&pod.metadata) {
            Some(r) => Group::Controlled(r.uid.clone()),
            None => Group::Orphans(pod.metadata.namespace.clone().unwrap_or_default()),
        }
    }
}

/// One complete index.
#[derive(Debug, Default)]
struct Groups {
    group_of: HashMap<ObjectRef<Pod>, Group>,
    members: HashMap<Group, HashSet<ObjectRef<Pod>>>,
}

impl Groups {
    fn insert(&mut self, pod: &Pod) {
        let key = ObjectRef::from_obj(pod);
        let group = Group::of(pod);
        if self.group_of.get(&key) == Some(&group) {
            return;
        }
        self.remove_key(&key);
        self.members
            .entry(group.clone())
            .or_default()
            .insert(key.clone());
        self.group_of.insert(key, group);
    }

    fn remove_key(&mut self, key: &ObjectRef<Pod>) {
        let Some(old) = self.group_of.remove(key) else {
            return;
        };
        if let Some(set) = self.members.get_mut(&old) {
            set.remove(key);
            if set.is_empty() {
                self.members.remove(&old);
            }
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    live: Groups,
    /// Being filled by a (re)list; replaces `live` when the list is done, as the cache does.
    relisting: Option<Groups>,
}

/// Pods by controller, kept in step with the shared pod cache.
#[derive(Debug, Default)]
pub struct PodsByController {
    inner: RwLock<Inner>,
}

impl PodsByController {
    /// Applies `event` to the index and, under the same lock, to the cache through `writer`.
    pub fn apply(&self, event: &watcher::Event<Pod>, writer: &mut Writer<Pod>) {
        let mut inner = self.inner.write();
        match event {
            watcher::Event::Apply(pod) => inner.live.insert(pod),
            watcher::Event::Delete(pod) => inner.live.remove_key(&ObjectRef::from_obj(pod)),
            watcher::Event::Init => inner.relisting = Some(Groups::default()),
            watcher::Event::InitApply(pod) => {
                inner
                    .relisting
                    .get_or_insert_with(Groups::default)
                    .insert(pod);
            }
            watcher::Event::InitDone => {
                if let Some(fresh) = inner.relisting.take() {
                    inner.live = fresh;
                }
            }
        }
        writer.apply_watcher_event(event);
    }

    /// The cached pods of `namespace` controlled by `uid`, and its orphans.
    pub fn owned_and_orphans(
        &self,
        pods: &Store<Pod>,
        namespace: &str,
        uid: &str,
    ) -> Vec<Arc<Pod>> {
        let inner = self.inner.read();
        let groups = [
            Group::Controlled(uid.to_owned()),
            Group::Orphans(namespace.to_owned()),
        ];
        groups
            .iter()
            .filter_map(|g| inner.live.members.get(g))
            .flatten()
            .filter(|key| key.namespace.as_deref() == Some(namespace))
            .filter_map(|key| pods.get(key))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
    use kube::runtime::reflector;

    fn pod(ns: &str, name: &str, controller: Option<&str>) -> Pod {
        let mut p = Pod::default();
        p.metadata.namespace = Some(ns.into());
        p.metadata.name = Some(name.into());
        p.metadata.owner_references = controller.map(|uid| {
            vec![OwnerReference {
                uid: uid.into(),
                controller: Some(true),
                ..OwnerReference::default()
            }]
        });
        p
    }

    fn names(pods: Vec<Arc<Pod>>) -> Vec<String> {
        let mut n: Vec<String> = pods
            .iter()
            .filter_map(|p| p.metadata.name.clone())
            .collect();
        n.sort();
        n
    }

    #[test]
    fn a_controller_sees_its_pods_and_its_namespace_orphans_only() {
        let (store, mut writer) = reflector::store::<Pod>();
        let index = PodsByController::default();
        index.apply(&watcher::Event::Init, &mut writer);
        for p in [
            pod("a", "mine", Some("u1")),
            pod("a", "theirs", Some("u2")),
            pod("a", "orphan", None),
            pod("b", "elsewhere", None),
        ] {
            index.apply(&watcher::Event::InitApply(p), &mut writer);
        }
        index.apply(&watcher::Event::InitDone, &mut writer);
        assert_eq!(
            names(index.owned_and_orphans(&store, "a", "u1")),
            ["mine", "orphan"]
        );

        // Adopted: moves from the orphans to its controller; deleted: gone from both.
        index.apply(
            &watcher::Event::Apply(pod("a", "orphan", Some("u2"))),
            &mut writer,
        );
        index.apply(
            &watcher::Event::Delete(pod("a", "mine", Some("u1"))),
            &mut writer,
        );
        assert!(index.owned_and_orphans(&store, "a", "u1").is_empty());
        assert_eq!(
            names(index.owned_and_orphans(&store, "a", "u2")),
            ["orphan", "theirs"]
        );

        // A relist replaces the index, as it replaces the cache.
        index.apply(&watcher::Event::Init, &mut writer);
        index.apply(
            &watcher::Event::InitApply(pod("a", "new", Some("u1"))),
            &mut writer,
        );
        assert!(index.owned_and_orphans(&store, "a", "u1").is_empty());
        index.apply(&watcher::Event::InitDone, &mut writer);
        assert_eq!(names(index.owned_and_orphans(&store, "a", "u1")), ["new"]);
        assert!(index.owned_and_orphans(&store, "a", "u2").is_empty());
    }
}
