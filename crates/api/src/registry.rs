//! The table of every built-in resource the API server serves: names, scope, verbs and short names.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::OnceLock;

/// The standard verbs of a full read-write resource.
pub const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
/// Namespaces cannot be deleted as a collection, as upstream.
const NS_VERBS: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];
const CREATE_ONLY: &[&str] = &["create"];

/// One served resource of one group/version.
#[derive(Debug)]
pub struct ResourceInfo {
    /// API group; empty for the core group.
    pub group: &'static str,
    /// API version within the group.
    pub version: &'static str,
    pub kind: &'static str,
    /// Lower-case plural used in URLs.
    pub plural: &'static str,
    pub singular: &'static str,
    pub namespaced: bool,
    pub verbs: &'static [&'static str],
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    /// Subresources served under `<plural>/<name>/<sub>`.
    pub subresources: &'static [&'static str],
    /// Group and plural of the storage this resource shares (several versions of
    /// one resource, or core and events.k8s.io Events, are one set of objects).
    pub storage: (&'static str, &'static str),
    /// Whether the version is the group's preferred (storage) version.
    pub preferred: bool,
}

impl ResourceInfo {
    /// `v1` for the core group, `group/version` otherwise.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The group/version string used in discovery URLs (`/api/v1` or `/apis/g/v`).
    pub fn url_prefix(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }

    /// Store key prefix for this resource, e.g. `/registry/pods/`.
    pub fn key_prefix(&self) -> String {
        let (group, plural) = self.storage;
        if group.is_empty() || group == "apps" || group == "batch" {
            format!("/registry/{plural}/")
        } else {
            format!("/registry/{group}/{plural}/")
        }
    }

    /// Whether the resource supports `verb`.
    pub fn has_verb(&self, verb: &str) -> bool {
        self.verbs.contains(&verb)
    }

    /// Whether `sub` is one of its subresources.
    pub fn has_subresource(&self, sub: &str) -> bool {
        self.subresources.contains(&sub)
    }

    /// The kind of the list type (`PodList`).
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// The OpenAPI definition name of the kind, e.g. `io.k8s.api.apps.v1.Deployment`.
    pub fn openapi_name(&self) -> String {
        let short = if self.group.is_empty() {
            "core"
        } else {
            self.group.split('.').next().unwrap_or(self.group)
        };
        format!("io.k8s.api.{short}.{}.{}", self.version, self.kind)
    }

    /// Whether the object has a status that only the status subresource may change.
    pub fn has_status(&self) -> bool {
        self.has_subresource("status")
    }
}

macro_rules! res {
    ($group:expr, $version:expr, $kind:expr, $plural:expr, $singular:expr, ns = $ns:expr,
     verbs = $verbs:expr, short = [$($short:expr),*], cat = [$($cat:expr),*], sub = [$($sub:expr),*]
     $(, storage = ($sg:expr, $sp:expr))? $(, preferred = $pref:expr)?) => {
        ResourceInfo {
            group: $group,
            version: $version,
            kind: $kind,
            plural: $plural,
            singular: $singular,
            namespaced: $ns,
            verbs: $verbs,
            short_names: &[$($short),*],
            categories: &[$($cat),*],
            subresources: &[$($sub),*],
            storage: res!(@storage $group, $plural $(, ($sg, $sp))?),
            preferred: res!(@pref $($pref)?),
        }
    };
    (@storage $group:expr, $plural:expr) => { ($group, $plural) };
    (@storage $group:expr, $plural:expr, ($sg:expr, $sp:expr)) => { ($sg, $sp) };
    (@pref) => { true };
    (@pref $p:expr) => { $p };
}

/// Every resource served, in discovery order.
pub static RESOURCES: &[ResourceInfo] = &[
    // core/v1
    res!(
        "",
        "v1",
        "Binding",
        "bindings",
        "binding",
        ns = true,
        verbs = CREATE_ONLY,
        short = [],
        cat = [],
        sub = []
    ),
    res!(
        "",
        "v1",
        "ConfigMap",
        "configmaps",
        "configmap",
        ns = true,
        verbs = ALL_VERBS,
        short = ["cm"],
        cat = [],
        sub = []
    ),
    res!(
        "",
        "v1",
        "Endpoints",
        "endpoints",
        "endpoints",
        ns = true,
        verbs = ALL_VERBS,
        short = ["ep"],
        cat = [],
        sub = []
    ),
    res!(
        "",
        "v1",
        "Event",
        "events",
        "event",
        ns = true,
        verbs = ALL_VERBS,
        short = ["ev"],
        cat = [],
        sub = []
    ),
    res!(
        "",
        "v1",
        "LimitRange",
        "limitranges",
        "limitrange",
        ns = true,
        verbs = ALL_VERBS,
        short = ["limits"],
        cat = [],
        sub = []
    ),
    res!(
        "",
        "v1",
        "Namespace",
        "namespaces",
        "namespace",
        ns = false,
        verbs = NS_VERBS,
        short = ["ns"],
        cat = [],
        sub = ["status", "finalize"]
    ),
    res!(
        "",
        "v1",
        "Node",
        "nodes",
        "node",
        ns = false,
        verbs = ALL_VERBS,
        short = ["no"],
        cat = [],
        sub = ["status", "proxy"]
    ),
    res!(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        "persistentvolumeclaim",
        ns = true,
        verbs = ALL_VERBS,
        short = ["pvc"],
        cat = [],
        sub = ["status"]
    ),
    res!(
        "",
        "v1",
        "PersistentVolume",
        "persistentvolumes",
        "persistentvolume",
        ns = false,
        verbs = ALL_VERBS,
        short = ["pv"],
        cat = [],
        sub = ["status"]
    ),
    res!(
        "",
        "v1",
        "Pod",
        "pods",
        "pod",
        ns = true,
        verbs = ALL_VERBS,
        short = ["po"],
        cat = ["all"],
        sub = [
            "status",
            "binding",
            "eviction",
            "log",
            "exec",
            "attach",
            "portforward",
            "proxy",
            "ephemeralcontainers",
            "resize"
        ]
    ),
    res!(
        "",
        "v1",
        "PodTemplate",
        "podtemplates",
        "podtemplate",
        ns = true,
        verbs = ALL_VERBS,
        short = [],
        cat = [],
        sub = []
    ),
    res!(
        "",
        "v1",
        "ReplicationController",
        "replicationcontrollers",
        "replicationcontroller",
        ns = true,
        verbs = ALL_VERBS,
        short = ["rc"],
        cat = ["all"],
        sub = ["status", "scale"]
    ),
    res!(
        "",
        "v1",
        "ResourceQuota",
        "resourcequotas",
        "resourcequota",
        ns = true,
        verbs = ALL_VERBS,
        short = ["quota"],
        cat = [],
        sub = ["status"]
    ),
    res!(
        "",
        "v1",
        "Secret",
        "secrets",
        "secret",
        ns = true,
        verbs = ALL_VERBS,
        short = [],
        cat = [],
        sub = []
    ),
    res!(
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        "serviceaccount",
        ns = true,
        verbs = ALL_VERBS,
        short = ["sa"],
        cat = [],
        sub = ["token"]
    ),
    res!(
        "",
        "v1",
        "Service",
        "services",
        "service",
        ns = true,
        verbs = ALL_VERBS,
        short = ["svc"],
        cat = ["all"],
        sub = ["status", "proxy"]
    ),
    // apps/v1
    res!(
        "apps",
        "v1",
        "ControllerRevision",
        "controllerrevisions",
        "controllerrevision",
        ns = true,
        verbs = ALL_VERBS,
        short = [],
        cat = [],
        sub = []
    ),
    res!(
        "apps",
        "v1",
        "DaemonSet",
        "daemonsets",
        "daemonset",
        ns = true,
        verbs = ALL_VERBS,
        short = ["ds"],
        cat = ["all"],
        sub = ["status"]
    ),
    res!(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        "deployment",
        ns = true,
        verbs = ALL_VERBS,
        short = ["deploy"],
        cat = ["all"],
        sub = ["status", "scale"]
    ),
    res!(
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        "replicaset",
        ns = true,
        verbs = ALL_VERBS,
        short = ["rs"],
        cat = ["all"],
        sub = ["status", "scale"]
    ),
    res!(
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        "statefulset",
        ns = true,
        verbs = ALL_VERBS,
        short = ["sts"],
        cat = ["all"],
        sub = ["status", "scale"]
    ),
    // autoscaling
    res!(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        "horizontalpodautoscaler",
        ns = true,
        verbs = ALL_VERBS,
        short = ["hpa"],
        cat = ["all"],
        sub = ["status"]
    ),
    res!(
        "autoscaling",
        "v1",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        "horizontalpodautoscaler",
        ns = true,
        verbs = ALL_VERBS,
        short = ["hpa"],
        cat = ["all"],
        sub = ["status"],
        storage = ("autoscaling", "horizontalpodautoscalers"),
        preferred = false
    ),
    // batch/v1
    res!(
        "batch",
        "v1",
        "CronJob",
        "cronjobs",
        "cronjob",
        ns = true,
        verbs = ALL_VERBS,
        short = ["cj"],
        cat = ["all"],
        sub = ["status"]
    ),
    res!(
        "batch",
        "v1",
        "Job",
        "jobs",
        "job",
        ns = true,
        verbs = ALL_VERBS,
        short = [],
        cat = ["all"],
        sub = ["status"]
    ),
    // coordination.k8s.io/v1
    res!(
        "coordination.k8s.io",
        "v1",
        "Lease",
        "leases",
        "lease",
        ns = true,
        verbs = ALL_VERBS,
        short = [],
        cat = [],
        sub = []
    ),
    // discovery.k8s.io/v1
    res!(
        "discovery.k8s.io",
        "v1",
        "EndpointSlice",
        "endpointslices",
        "endpointslice",
        ns = true,
        verbs = ALL_VERBS,
        short = [],
        cat = [],
        sub = []
    ),
    // events.k8s.io/v1 shares storage with core/v1 events
    res!(
        "events.k8s.io",
        "v1",
        "Event",
        "events",
        "event",
        ns = true,
        verbs = ALL_VERBS,
        short = ["ev"],
        cat = [],
        sub = [],
        storage = ("", "events")
    ),
    // networking.k8s.io/v1
    res!(
        "networking.k8s.io",
        "v1",
        "IngressClass",
        "ingressclasses",
        "ingressclass",
        ns = false,
        verbs = ALL_VERBS,
        short = [],
        cat = [],
        sub = []
    ),
    res!(
        "networking.k8s.io",
        "v1",
        "Ingress",
        "ingresses",
        "ingress",
        ns = true,
        verbs = ALL_VERBS,
        short = ["ing"],
        cat = [],
        sub = ["status"]
    ),
    res!(
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        "networkpolicy",
        ns = true,
        verbs = ALL_VERBS,
        short = ["netpol"],
        cat = [],
        sub = []
    ),
    // policy/v1
    res!(
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        "poddisruptionbudget",
        ns = true,
        verbs = ALL_VERBS,
        short = ["pdb"],
        cat = [],
        sub = ["status"]
    ),
    // rbac.authorization.k8s.io/v1
    res!(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        "clusterrolebinding",
        ns = false,
        verbs = ALL_VERBS,
        short = [],
        cat = [],
        sub = []
    ),
    res!(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        "clusterrole",
        ns = false,
        verbs = ALL_VERBS,
        short = [],
        cat = [],
        sub = []
    ),
    res!(
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        "rolebinding",
        ns = true,
        verbs = ALL_VERBS,
        short = [],
        cat = [],
        sub = []
    ),
    res!(
        "rbac.authorization.k8s.io",
        "v1",
        "Role",
        "roles",
        "role",
        ns = true,
        verbs = ALL_VERBS,
        short = [],
        cat = [],
        sub = []
    ),
    // scheduling.k8s.io/v1
    res!(
        "scheduling.k8s.io",
        "v1",
        "PriorityClass",
        "priorityclasses",
        "priorityclass",
        ns = false,
        verbs = ALL_VERBS,
        short = ["pc"],
        cat = [],
        sub = []
    ),
    // storage.k8s.io/v1
    res!(
        "storage.k8s.io",
        "v1",
        "StorageClass",
        "storageclasses",
        "storageclass",
        ns = false,
        verbs = ALL_VERBS,
        short = ["sc"],
        cat = [],
        sub = []
    ),
];

/// The API groups in discovery order, each with its versions (preferred first).
pub fn groups() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut out: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for r in RESOURCES {
        match out.iter_mut().find(|(g, _)| *g == r.group) {
            Some((_, versions)) => {
                if !versions.contains(&r.version) {
                    versions.push(r.version);
                }
            }
            None => out.push((r.group, vec![r.version])),
        }
    }
    out
}

/// The resources of one group/version.
pub fn resources_of(group: &str, version: &str) -> impl Iterator<Item = &'static ResourceInfo> {
    let group = group.to_string();
    let version = version.to_string();
    RESOURCES
        .iter()
        .filter(move |r| r.group == group && r.version == version)
}

/// A lookup table from a three-part name to its resource, built once.
type Index = HashMap<(&'static str, &'static str, &'static str), &'static ResourceInfo>;

/// `resources` by `key`; the first one wins, as a scan would.
fn first_by<K: Eq + Hash>(
    resources: impl Iterator<Item = &'static ResourceInfo>,
    key: impl Fn(&'static ResourceInfo) -> K,
) -> HashMap<K, &'static ResourceInfo> {
    let mut index = HashMap::new();
    for r in resources {
        index.entry(key(r)).or_insert(r);
    }
    index
}

/// RESOURCES by (group, version, plural).
fn by_plural() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| first_by(RESOURCES.iter(), |r| (r.group, r.version, r.plural)))
}

/// RESOURCES by (group, version, kind).
fn by_kind() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| first_by(RESOURCES.iter(), |r| (r.group, r.version, r.kind)))
}

/// Looks `key` up in an index; the map is narrowed to the key's lifetime (it is covariant).
fn look_up<'a>(
    index: &'a HashMap<(&'a str, &'a str, &'a str), &'static ResourceInfo>,
    key: (&'a str, &'a str, &'a str),
) -> Option<&'static ResourceInfo> {
    index.get(&key).copied()
}

/// Looks a resource up by group, version and plural.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceInfo> {
    look_up(by_plural(), (group, version, plural))
}

/// Looks a resource up by group, version and kind.
pub fn find_kind(group: &str, version: &str, kind: &str) -> Option<&'static ResourceInfo> {
    look_up(by_kind(), (group, version, kind))
}

/// The preferred (storage) version of the resource `info` shares its objects with;
/// `info` itself when there is none.
pub fn storage_of(info: &'static ResourceInfo) -> &'static ResourceInfo {
    static PREFERRED: OnceLock<HashMap<(&'static str, &'static str), &'static ResourceInfo>> =
        OnceLock::new();
    let preferred = PREFERRED.get_or_init(|| {
        first_by(RESOURCES.iter().filter(|r| r.preferred), |r| {
            (r.group, r.plural)
        })
    });
    preferred.get(&info.storage).copied().unwrap_or(info)
}

/// Splits an `apiVersion` into group and version.
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_agree_with_a_scan_of_the_table() {
        for r in RESOURCES {
            let by_plural = find(r.group, r.version, r.plural).unwrap();
            assert!(std::ptr::eq(by_plural, r), "{}", r.plural);
            let scanned = RESOURCES
                .iter()
                .find(|x| x.group == r.group && x.version == r.version && x.kind == r.kind);
            assert!(std::ptr::eq(
                find_kind(r.group, r.version, r.kind).unwrap(),
                scanned.unwrap()
            ));
            let storage = RESOURCES
                .iter()
                .find(|x| (x.group, x.plural) == r.storage && x.preferred)
                .unwrap_or(r);
            assert!(std::ptr::eq(storage_of(r), storage), "{}", r.plural);
        }
        assert!(find("", "v1", "nothings").is_none());
        assert!(find_kind("apps", "v1", "Pod").is_none());
    }

    #[test]
    fn plurals_are_unique_per_group_version() {
        for (i, a) in RESOURCES.iter().enumerate() {
            for b in &RESOURCES[i + 1..] {
                assert!(
                    !(a.group == b.group && a.version == b.version && a.plural == b.plural),
                    "{} twice",
                    a.plural
                );
            }
        }
    }

    #[test]
    fn openapi_names() {
        assert_eq!(
            find("", "v1", "pods").map(|r| r.openapi_name()).as_deref(),
            Some("io.k8s.api.core.v1.Pod")
        );
        assert_eq!(
            find("rbac.authorization.k8s.io", "v1", "roles")
                .map(|r| r.openapi_name())
                .as_deref(),
            Some("io.k8s.api.rbac.v1.Role")
        );
    }

    #[test]
    fn key_prefixes_follow_upstream_layout() {
        assert_eq!(
            find("", "v1", "pods").map(|r| r.key_prefix()).as_deref(),
            Some("/registry/pods/")
        );
        assert_eq!(
            find("events.k8s.io", "v1", "events")
                .map(|r| r.key_prefix())
                .as_deref(),
            Some("/registry/events/")
        );
        assert_eq!(
            find("autoscaling", "v1", "horizontalpodautoscalers").map(|r| r.key_prefix()),
            find("autoscaling", "v2", "horizontalpodautoscalers").map(|r| r.key_prefix())
        );
    }
}
