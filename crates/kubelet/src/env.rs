//! A container's environment: `env` (value, fieldRef, resourceFieldRef,
//! configMapKeyRef, secretKeyRef) and `envFrom`, with `$(VAR)` expansion, as
//! upstream's `makeEnvironmentVariables`. Objects are fetched beforehand.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret};

use crate::quantity;

/// ConfigMaps and Secrets of the pod's namespace, by name (`None`: absent).
#[derive(Debug, Clone, Default)]
pub struct EnvObjects {
    /// ConfigMaps.
    pub config_maps: HashMap<String, Option<ConfigMap>>,
    /// Secrets.
    pub secrets: HashMap<String, Option<Secret>>,
    /// The Service variables (see [`crate::service_env`]).
    pub service_env: Vec<(String, String)>,
    /// Service-account tokens for projected volumes, or why one could not be had.
    pub tokens: HashMap<crate::volumes::token::TokenKey, Result<String, String>>,
}

/// Facts only the node knows.
#[derive(Debug, Clone, Default)]
pub struct NodeFacts {
    /// The pod's IPs.
    pub pod_ips: Vec<String>,
    /// The node's IP.
    pub host_ip: String,
    /// The node's allocatable millicores (for limits that are not set).
    pub allocatable_milli_cpu: i64,
    /// The node's allocatable memory bytes.
    pub allocatable_memory: i64,
}

/// The ConfigMaps and Secrets `c` refers to: (config maps, secrets).
pub fn references(c: &Container) -> (Vec<String>, Vec<String>) {
    let (mut cms, mut secrets) = (vec![], vec![]);
    for e in c.env.iter().flatten() {
        let Some(from) = &e.value_from else { continue };
        if let Some(r) = &from.config_map_key_ref {
            cms.push(r.name.clone());
        }
        if let Some(r) = &from.secret_key_ref {
            secrets.push(r.name.clone());
        }
    }
    for e in c.env_from.iter().flatten() {
        if let Some(r) = &e.config_map_ref {
            cms.push(r.name.clone());
        }
        if let Some(r) = &e.secret_ref {
            secrets.push(r.name.clone());
        }
    }
    cms.sort();
    cms.dedup();
    secrets.sort();
    secrets.dedup();
    (cms, secrets)
}

/// A Secret's values: `data`, and `stringData` for an API server that keeps
/// it as written instead of folding it into `data`.
pub fn secret_bytes(s: &Secret) -> BTreeMap<String, Vec<u8>> {
    let mut out: BTreeMap<String, Vec<u8>> = s
        .string_data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
        .collect();
    for (k, v) in s.data.iter().flatten() {
        out.insert(k.clone(), v.0.clone());
    }
    out
}

/// Replaces `$(NAME)` by its value when `vars` defines it; `$$` escapes `$`.
pub fn expand(s: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('(')
            && let Some(end) = inner.find(')')
        {
            let name = &inner[..end];
            match vars.get(name) {
                Some(v) => out.push_str(v),
                None => {
                    out.push_str("$(");
                    out.push_str(name);
                    out.push(')');
                }
            }
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

pub fn field_ref(pod: &Pod, path: &str, facts: &NodeFacts) -> Result<String, String> {
    let m = &pod.metadata;
    let label = |map: &Option<BTreeMap<String, String>>, prefix: &str| {
        let key = path
            .strip_prefix(prefix)
            .and_then(|k| k.strip_suffix("']"))
            .unwrap_or("");
        map.as_ref()
            .and_then(|l| l.get(key))
            .cloned()
            .unwrap_or_default()
    };
    Ok(match path {
        "metadata.name" => m.name.clone().unwrap_or_default(),
        "metadata.namespace" => m.namespace.clone().unwrap_or_default(),
        "metadata.uid" => m.uid.clone().unwrap_or_default(),
        p if p.starts_with("metadata.labels['") => label(&m.labels, "metadata.labels['"),
        p if p.starts_with("metadata.annotations['") => {
            label(&m.annotations, "metadata.annotations['")
        }
        "spec.nodeName" => pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default(),
        "spec.serviceAccountName" => pod
            .spec
            .as_ref()
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_default(),
        "status.hostIP" | "status.hostIPs" => facts.host_ip.clone(),
        "status.podIP" => facts.pod_ips.first().cloned().unwrap_or_default(),
        "status.podIPs" => facts.pod_ips.join(","),
        other => return Err(format!("unsupported fieldRef {other:?}")),
    })
}

pub fn resource_ref(
    c: &Container,
    resource: &str,
    divisor: Option<&str>,
    facts: &NodeFacts,
) -> Result<String, String> {
    let res = c.resources.as_ref();
    let (kind, name) = resource
        .split_once('.')
        .ok_or_else(|| format!("unsupported resource {resource:?}"))?;
    let map = match kind {
        "limits" => res.and_then(|r| r.limits.as_ref()),
        "requests" => res.and_then(|r| r.requests.as_ref()),
        _ => return Err(format!("unsupported resource {resource:?}")),
    };
    let given = map
        .and_then(|m| m.get(name))
        .and_then(|q| quantity::parse(&q.0));
    let value = match (name, given) {
        (_, Some(v)) => v,
        ("cpu", None) if kind == "limits" => facts.allocatable_milli_cpu as f64 / 1000.0,
        ("memory", None) if kind == "limits" => facts.allocatable_memory as f64,
        _ => 0.0,
    };
    let div = divisor
        .and_then(quantity::parse)
        .filter(|d| *d > 0.0)
        .unwrap_or(1.0);
    Ok(format!("{}", (value / div).ceil() as i64))
}

/// The environment of container `c`, in order, or the message of a
/// `CreateContainerConfigError`.
pub fn resolve(
    pod: &Pod,
    c: &Container,
    objects: &EnvObjects,
    facts: &NodeFacts,
) -> Result<Vec<(String, String)>, String> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    let mut order: Vec<String> = vec![];
    let mut set = |vars: &mut BTreeMap<String, String>, k: String, v: String| {
        if !vars.contains_key(&k) {
            order.push(k.clone());
        }
        vars.insert(k, v);
    };
    for from in c.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        if let Some(r) = &from.config_map_ref {
            match objects.config_maps.get(&r.name).cloned().flatten() {
                Some(cm) => {
                    for (k, v) in cm.data.into_iter().flatten() {
                        set(&mut vars, format!("{prefix}{k}"), v);
                    }
                }
                None if r.optional == Some(true) => {}
                None => return Err(format!("configmap \"{}\" not found", r.name)),
            }
        }
        if let Some(r) = &from.secret_ref {
            match objects.secrets.get(&r.name).cloned().flatten() {
                Some(s) => {
                    for (k, v) in secret_bytes(&s) {
                        set(
                            &mut vars,
                            format!("{prefix}{k}"),
                            String::from_utf8_lossy(&v).into_owned(),
                        );
                    }
                }
                None if r.optional == Some(true) => {}
                None => return Err(format!("secret \"{}\" not found", r.name)),
            }
        }
    }
    for e in c.env.iter().flatten() {
        let value = match &e.value_from {
            None => {
                // Service variables are visible to $(VAR) but lose to the container's own.
                let mut scope = vars.clone();
                for (k, v) in &objects.service_env {
                    scope.entry(k.clone()).or_insert_with(|| v.clone());
                }
                expand(e.value.as_deref().unwrap_or(""), &scope)
            }
            Some(from) => {
                if let Some(f) = &from.field_ref {
                    field_ref(pod, &f.field_path, facts)?
                } else if let Some(r) = &from.resource_field_ref {
                    let target = match r.container_name.as_deref() {
                        Some(name) if !name.is_empty() => crate::podutil::containers(pod)
                            .iter()
                            .chain(crate::podutil::init_containers(pod))
                            .find(|x| x.name == name)
                            .unwrap_or(c),
                        _ => c,
                    };
                    resource_ref(
                        target,
                        &r.resource,
                        r.divisor.as_ref().map(|d| d.0.as_str()),
                        facts,
                    )?
                } else if let Some(r) = &from.config_map_key_ref {
                    let cm = objects.config_maps.get(&r.name).cloned().flatten();
                    let v = cm
                        .as_ref()
                        .and_then(|cm| cm.data.as_ref())
                        .and_then(|d| d.get(&r.key))
                        .cloned();
                    match (cm.is_some(), v) {
                        (_, Some(v)) => v,
                        _ if r.optional == Some(true) => continue,
                        (false, None) => return Err(format!("configmap \"{}\" not found", r.name)),
                        (true, None) => {
                            return Err(format!(
                                "couldn't find key {} in ConfigMap {ns}/{}",
                                r.key, r.name
                            ));
                        }
                    }
                } else if let Some(r) = &from.secret_key_ref {
                    let s = objects.secrets.get(&r.name).cloned().flatten();
                    let v = s
                        .as_ref()
                        .and_then(|s| secret_bytes(s).remove(&r.key))
                        .map(|b| String::from_utf8_lossy(&b).into_owned());
                    match (s.is_some(), v) {
                        (_, Some(v)) => v,
                        _ if r.optional == Some(true) => continue,
                        (false, None) => return Err(format!("secret \"{}\" not found", r.name)),
                        (true, None) => {
                            return Err(format!(
                                "couldn't find key {} in Secret {ns}/{}",
                                r.key, r.name
                            ));
                        }
                    }
                } else {
                    String::new()
                }
            }
        };
        set(&mut vars, e.name.clone(), value);
    }
    for (k, v) in &objects.service_env {
        if !vars.contains_key(k) {
            set(&mut vars, k.clone(), v.clone());
        }
    }
    Ok(order
        .into_iter()
        .map(|k| {
            let v = vars.get(&k).cloned().unwrap_or_default();
            (k, v)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expansion_like_upstream() {
        let vars = BTreeMap::from([("A".to_string(), "1".to_string())]);
        assert_eq!(expand("x$(A)y", &vars), "x1y");
        assert_eq!(expand("$(B)", &vars), "$(B)");
        assert_eq!(expand("$$(A)", &vars), "$(A)");
        assert_eq!(expand("a$", &vars), "a$");
    }

    #[test]
    fn env_sources() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u", "labels": {"app": "a"}},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "busybox",
                "resources": {"limits": {"memory": "64Mi"}},
                "env": [
                    {"name": "GREETING", "value": "hi"},
                    {"name": "MSG", "value": "$(GREETING) there"},
                    {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                    {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                    {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
                    {"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "color"}}},
                    {"name": "PASS", "valueFrom": {"secretKeyRef": {"name": "s", "key": "p"}}}
                ]}]}
        }))
        .unwrap();
        let c = &pod.spec.as_ref().unwrap().containers[0];
        assert_eq!(
            references(c),
            (vec!["cfg".to_string()], vec!["s".to_string()])
        );
        let mut objects = EnvObjects::default();
        objects.config_maps.insert(
            "cfg".into(),
            Some(serde_json::from_value(json!({"data": {"color": "blue"}})).unwrap()),
        );
        objects.secrets.insert(
            "s".into(),
            Some(serde_json::from_value(json!({"data": {"p": "c2VjcmV0"}})).unwrap()),
        );
        let facts = NodeFacts {
            pod_ips: vec!["10.42.0.9".into()],
            ..Default::default()
        };
        let env: BTreeMap<_, _> = resolve(&pod, c, &objects, &facts)
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(env["MSG"], "hi there");
        assert_eq!(env["POD"], "p");
        assert_eq!(env["APP"], "a");
        assert_eq!(env["IP"], "10.42.0.9");
        assert_eq!(env["MEM"], "64");
        assert_eq!(env["COLOR"], "blue");
        assert_eq!(env["PASS"], "secret");

        objects.config_maps.insert("cfg".into(), None);
        assert_eq!(
            resolve(&pod, c, &objects, &facts).unwrap_err(),
            "configmap \"cfg\" not found"
        );
        objects.config_maps.insert(
            "cfg".into(),
            Some(serde_json::from_value(json!({"data": {}})).unwrap()),
        );
        assert_eq!(
            resolve(&pod, c, &objects, &facts).unwrap_err(),
            "couldn't find key color in ConfigMap ns/cfg"
        );
    }
}
