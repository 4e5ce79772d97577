//! Discovery documents: `/api`, `/apis`, resource lists, aggregated discovery and `/version`.

use rkube_api::{RESOURCES, ResourceInfo, registry};
use serde_json::{Value, json};

/// The Kubernetes version this server reports.
pub const GIT_VERSION: &str = "v1.33.0+rkube";

/// `/version`.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "emulationMajor": "1",
        "emulationMinor": "33",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "32",
        "gitVersion": GIT_VERSION,
        "gitCommit": env!("CARGO_PKG_VERSION"),
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "rust",
        "compiler": "rustc",
        "platform": "linux/amd64"
    })
}

/// `/api` (legacy form).
pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]
    })
}

fn group_entry(group: &str, versions: &[&str]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    json!({
        "name": group,
        "versions": vs,
        "preferredVersion": vs.first().cloned().unwrap_or(Value::Null),
    })
}

/// `/apis` (legacy form).
pub fn groups() -> Value {
    let groups: Vec<Value> = registry::groups()
        .into_iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, vs)| group_entry(g, &vs))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`.
pub fn group(name: &str) -> Option<Value> {
    registry::groups()
        .into_iter()
        .find(|(g, _)| *g == name && !g.is_empty())
        .map(|(g, vs)| {
            let mut e = group_entry(g, &vs);
            e["kind"] = json!("APIGroup");
            e["apiVersion"] = json!("v1");
            e
        })
}

/// Verbs of a subresource.
fn subresource_verbs(sub: &str) -> &'static [&'static str] {
    match sub {
        "status" | "scale" | "ephemeralcontainers" | "resize" => &["get", "patch", "update"],
        "binding" | "eviction" | "token" => &["create"],
        "log" => &["get"],
        "exec" | "attach" | "portforward" => &["create", "get"],
        "proxy" => &["create", "delete", "get", "patch", "update"],
        "finalize" => &["update"],
        _ => &["get"],
    }
}

/// The kind a subresource answers with.
fn subresource_kind(info: &ResourceInfo, sub: &str) -> (String, String, String) {
    let own = (
        info.group.to_string(),
        info.version.to_string(),
        info.kind.to_string(),
    );
    match sub {
        "scale" => ("autoscaling".into(), "v1".into(), "Scale".into()),
        "binding" => (String::new(), "v1".into(), "Binding".into()),
        "eviction" => ("policy".into(), "v1".into(), "Eviction".into()),
        "token" => (
            "authentication.k8s.io".into(),
            "v1".into(),
            "TokenRequest".into(),
        ),
        "log" | "exec" | "attach" | "portforward" | "proxy" => (
            String::new(),
            "v1".into(),
            if sub == "proxy" {
                format!("{}ProxyOptions", info.kind)
            } else {
                own.2
            },
        ),
        _ => own,
    }
}

/// `/api/v1` or `/apis/<group>/<version>` (legacy form).
pub fn resource_list(group: &str, version: &str) -> Value {
    let mut resources = Vec::new();
    for r in registry::resources_of(group, version) {
        let mut e = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": r.verbs,
        });
        if !r.short_names.is_empty() {
            e["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            e["categories"] = json!(r.categories);
        }
        resources.push(e);
        for sub in r.subresources {
            let (g, v, k) = subresource_kind(r, sub);
            let mut s = json!({
                "name": format!("{}/{sub}", r.plural),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": k,
                "verbs": subresource_verbs(sub),
            });
            if g != group || v != version {
                s["group"] = json!(g);
                s["version"] = json!(v);
            }
            resources.push(s);
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources})
}

fn aggregated_group(group: &str, versions: &[&str]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| {
            let resources: Vec<Value> = registry::resources_of(group, v)
                .filter(|r| !r.verbs.is_empty())
                .map(|r| {
                    let mut e = json!({
                        "resource": r.plural,
                        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
                        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
                        "singularResource": r.singular,
                        "verbs": r.verbs,
                    });
                    if !r.short_names.is_empty() {
                        e["shortNames"] = json!(r.short_names);
                    }
                    if !r.categories.is_empty() {
                        e["categories"] = json!(r.categories);
                    }
                    if !r.subresources.is_empty() {
                        e["subresources"] = r
                            .subresources
                            .iter()
                            .map(|s| {
                                let (g, v, k) = subresource_kind(r, s);
                                json!({
                                    "subresource": s,
                                    "responseKind": {"group": g, "version": v, "kind": k},
                                    "verbs": subresource_verbs(s),
                                })
                            })
                            .collect();
                    }
                    e
                })
                .collect();
            json!({"version": v, "resources": resources, "freshness": "Current"})
        })
        .collect();
    let metadata = if group.is_empty() {
        json!({"creationTimestamp": null})
    } else {
        json!({"name": group, "creationTimestamp": null})
    };
    json!({"metadata": metadata, "versions": vs})
}

/// Aggregated discovery (`apidiscovery.k8s.io/v2` or `v2beta1`) for `/api` (core) or `/apis`.
pub fn aggregated(core: bool, api_version: &str) -> Value {
    let items: Vec<Value> = registry::groups()
        .into_iter()
        .filter(|(g, _)| g.is_empty() == core)
        .map(|(g, vs)| aggregated_group(g, &vs))
        .collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": api_version,
        "metadata": {},
        "items": items,
    })
}

/// Whether every resource of the registry is listed somewhere (sanity for tests).
pub fn all_resources_listed() -> bool {
    RESOURCES
        .iter()
        .all(|r| registry::resources_of(r.group, r.version).any(|x| x.plural == r.plural))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_list_has_pods_with_short_names() {
        let l = resource_list("", "v1");
        let pods = l["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "pods")
            .unwrap();
        assert_eq!(pods["shortNames"], json!(["po"]));
        assert!(
            l["resources"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["name"] == "pods/status")
        );
    }

    #[test]
    fn aggregated_lists_apps() {
        let a = aggregated(false, "apidiscovery.k8s.io/v2");
        assert!(
            a["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["metadata"]["name"] == "apps")
        );
        assert!(all_resources_listed());
    }
}
