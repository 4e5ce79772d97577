//! Printers for core kinds: nodes, namespaces, config maps, secrets, service accounts, quotas.

use jiff::Timestamp;
use serde_json::Value;

use crate::util::{Obj, n, quantity, s};
use crate::{AGE, Column, NAME, col};

pub(crate) static NODE_COLUMNS: &[Column] = &[
    NAME,
    col("Status", "string", "The status of the node", 0),
    col("Roles", "string", "The roles of the node", 0),
    AGE,
    col(
        "Version",
        "string",
        "Kubelet Version reported by the node.",
        0,
    ),
    col(
        "Internal-IP",
        "string",
        "List of addresses reachable to the node. Queried from cloud provider, if available.",
        1,
    ),
    col(
        "External-IP",
        "string",
        "List of addresses reachable to the node. Queried from cloud provider, if available.",
        1,
    ),
    col(
        "OS-Image",
        "string",
        "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
        1,
    ),
    col(
        "Kernel-Version",
        "string",
        "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
        1,
    ),
    col(
        "Container-Runtime",
        "string",
        "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
        1,
    ),
];

const NODE_ROLE_PREFIX: &str = "node-role.kubernetes.io/";
const NODE_ROLE_LABEL: &str = "kubernetes.io/role";

/// Upstream's `findNodeRoles`: sorted, deduplicated role names from the node's labels.
fn node_roles(node: Obj<'_>) -> Vec<String> {
    let mut roles: Vec<String> = Vec::new();
    for (k, v) in node.map(&["metadata", "labels"]).into_iter().flatten() {
        if let Some(role) = k.strip_prefix(NODE_ROLE_PREFIX) {
            if !role.is_empty() {
                roles.push(role.to_string());
            }
        } else if k == NODE_ROLE_LABEL {
            let v = v.as_str().unwrap_or_default();
            if !v.is_empty() {
                roles.push(v.to_string());
            }
        }
    }
    roles.sort();
    roles.dedup();
    roles
}

fn node_address(node: Obj<'_>, kind: &str) -> String {
    node.arr(&["status", "addresses"])
        .iter()
        .map(Obj)
        .find(|a| a.str(&["type"]) == kind)
        .map_or_else(|| "<none>".to_string(), |a| a.str(&["address"]).to_string())
}

pub(crate) fn node_cells(node: Obj<'_>, now: Timestamp) -> Vec<Value> {
    // The last Ready condition wins, as upstream's condition map does.
    let ready = node
        .arr(&["status", "conditions"])
        .iter()
        .rev()
        .map(Obj)
        .find(|c| c.str(&["type"]) == "Ready");
    let mut status = vec![match ready {
        Some(c) if c.str(&["status"]) == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if node.opt_bool(&["spec", "unschedulable"]) == Some(true) {
        status.push("SchedulingDisabled");
    }
    let roles = node_roles(node).join(",");
    let unknown = |v: &str| {
        if v.is_empty() {
            "<unknown>".to_string()
        } else {
            v.to_string()
        }
    };
    let info = node.at(&["status", "nodeInfo"]);
    vec![
        s(node.name()),
        s(status.join(",")),
        s(if roles.is_empty() {
            "<none>".to_string()
        } else {
            roles
        }),
        s(node.age(now)),
        s(info.str(&["kubeletVersion"])),
        s(node_address(node, "InternalIP")),
        s(node_address(node, "ExternalIP")),
        s(unknown(info.str(&["osImage"]))),
        s(unknown(info.str(&["kernelVersion"]))),
        s(unknown(info.str(&["containerRuntimeVersion"]))),
    ]
}

pub(crate) static NAMESPACE_COLUMNS: &[Column] = &[
    NAME,
    col("Status", "string", "The status of the namespace", 0),
    AGE,
];

pub(crate) fn namespace_cells(obj: Obj<'_>, now: Timestamp) -> Vec<Value> {
    vec![
        s(obj.name()),
        s(obj.str(&["status", "phase"])),
        s(obj.age(now)),
    ]
}

pub(crate) static CONFIGMAP_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Data",
        "string",
        "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process.",
        0,
    ),
    AGE,
];

pub(crate) fn configmap_cells(obj: Obj<'_>, now: Timestamp) -> Vec<Value> {
    let count = obj.map_len(&["data"]) + obj.map_len(&["binaryData"]);
    vec![s(obj.name()), n(count as i64), s(obj.age(now))]
}

pub(crate) static SECRET_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Type",
        "string",
        "Used to facilitate programmatic handling of secret data. More info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types",
        0,
    ),
    col(
        "Data",
        "string",
        "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4",
        0,
    ),
    AGE,
];

pub(crate) fn secret_cells(obj: Obj<'_>, now: Timestamp) -> Vec<Value> {
    // Upstream counts Data after stringData has been merged in on write.
    vec![
        s(obj.name()),
        s(obj.str(&["type"])),
        n(obj.map_len(&["data"]) as i64),
        s(obj.age(now)),
    ]
}

pub(crate) static SERVICE_ACCOUNT_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Secrets",
        "string",
        "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use. Pods are only limited to this list if this service account has a \"kubernetes.io/enforce-mountable-secrets\" annotation set to \"true\". The \"kubernetes.io/enforce-mountable-secrets\" annotation is deprecated since v1.32. Prefer separate namespaces to isolate access to mounted secrets. This field should not be used to find auto-generated service account token secrets for use outside of pods. Instead, tokens can be requested directly using the TokenRequest API, or service account token secrets can be manually created. More info: https://kubernetes.io/docs/concepts/configuration/secret",
        0,
    ),
    AGE,
];

pub(crate) fn service_account_cells(obj: Obj<'_>, now: Timestamp) -> Vec<Value> {
    vec![
        s(obj.name()),
        n(obj.arr(&["secrets"]).len() as i64),
        s(obj.age(now)),
    ]
}

pub(crate) static RESOURCE_QUOTA_COLUMNS: &[Column] = &[
    NAME,
    AGE,
    col(
        "Request",
        "string",
        "Request represents a minimum amount of cpu/memory that a container may consume.",
        0,
    ),
    col(
        "Limit",
        "string",
        "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.",
        0,
    ),
];

pub(crate) fn resource_quota_cells(obj: Obj<'_>, now: Timestamp) -> Vec<Value> {
    let mut names: Vec<&String> = obj
        .map(&["status", "hard"])
        .into_iter()
        .flatten()
        .map(|(k, _)| k)
        .collect();
    names.sort();
    let mut requests = Vec::new();
    let mut limits = Vec::new();
    for name in names {
        let used = quantity(obj.get(&["status", "used", name]));
        let hard = quantity(obj.get(&["status", "hard", name]));
        let entry = format!("{name}: {used}/{hard}");
        let pieces: Vec<&str> = name.split('.').collect();
        if pieces.len() > 1 && pieces[0] == "limits" {
            limits.push(entry);
        } else {
            requests.push(entry);
        }
    }
    vec![
        s(obj.name()),
        s(obj.age(now)),
        s(requests.join(", ")),
        s(limits.join(", ")),
    ]
}
