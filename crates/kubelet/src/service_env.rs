//! The Service environment variables upstream gives every container
//! (`<SVC>_SERVICE_HOST`, `<SVC>_SERVICE_PORT`, and the Docker-link style
//! `<SVC>_PORT_<port>_<PROTO>…`): the Services of the pod's namespace when
//! `enableServiceLinks` (the default), and always the `kubernetes` Service.

use k8s_openapi::api::core::v1::{Pod, Service};

/// The namespace of the `kubernetes` Service.
pub const MASTER_NAMESPACE: &str = "default";

fn env_name(s: &str) -> String {
    s.to_uppercase().replace('-', "_")
}

/// Which Services' variables `pod` gets, from the Services of its namespace
/// and of `default`; services without a cluster IP give none.
pub fn select<'a>(pod: &Pod, services: &'a [Service]) -> Vec<&'a Service> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let links = pod
        .spec
        .as_ref()
        .and_then(|s| s.enable_service_links)
        .unwrap_or(true);
    let mut out: Vec<&Service> = services
        .iter()
        .filter(|s| {
            let sns = s.metadata.namespace.as_deref().unwrap_or("default");
            let name = s.metadata.name.as_deref().unwrap_or("");
            (links && sns == ns) || (sns == MASTER_NAMESPACE && name == "kubernetes")
        })
        .filter(|s| {
            s.spec
                .as_ref()
                .and_then(|sp| sp.cluster_ip.as_deref())
                .is_some_and(|ip| !ip.is_empty() && ip != "None")
        })
        .collect();
    out.sort_by_key(|s| (s.metadata.namespace.clone(), s.metadata.name.clone()));
    out.dedup_by_key(|s| s.metadata.name.clone());
    out
}

/// The variables of `services`, in upstream's order.
pub fn variables(services: &[&Service]) -> Vec<(String, String)> {
    let mut out = vec![];
    for svc in services {
        let Some(spec) = &svc.spec else { continue };
        let Some(ip) = spec.cluster_ip.clone() else {
            continue;
        };
        let name = env_name(svc.metadata.name.as_deref().unwrap_or(""));
        let ports = spec.ports.as_deref().unwrap_or(&[]);
        out.push((format!("{name}_SERVICE_HOST"), ip.clone()));
        if let Some(first) = ports.first() {
            out.push((format!("{name}_SERVICE_PORT"), first.port.to_string()));
        }
        for p in ports {
            if let Some(pn) = p.name.as_deref().filter(|n| !n.is_empty()) {
                out.push((
                    format!("{name}_SERVICE_PORT_{}", env_name(pn)),
                    p.port.to_string(),
                ));
            }
        }
        if let Some(first) = ports.first() {
            let proto = first.protocol.as_deref().unwrap_or("TCP").to_lowercase();
            out.push((
                format!("{name}_PORT"),
                format!("{proto}://{ip}:{}", first.port),
            ));
        }
        for p in ports {
            let proto = p.protocol.as_deref().unwrap_or("TCP");
            let prefix = format!("{name}_PORT_{}_{}", p.port, proto.to_uppercase());
            let lower = proto.to_lowercase();
            out.push((prefix.clone(), format!("{lower}://{ip}:{}", p.port)));
            out.push((format!("{prefix}_PROTO"), lower));
            out.push((format!("{prefix}_PORT"), p.port.to_string()));
            out.push((format!("{prefix}_ADDR"), ip.clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(ns: &str, name: &str, ip: &str, ports: serde_json::Value) -> Service {
        serde_json::from_value(json!({"metadata": {"name": name, "namespace": ns},
            "spec": {"clusterIP": ip, "ports": ports}}))
        .unwrap()
    }

    #[test]
    fn variables_like_upstream() {
        let services = vec![
            svc(
                "default",
                "kubernetes",
                "10.43.0.1",
                json!([{"name": "https", "port": 443}]),
            ),
            svc(
                "web",
                "my-svc",
                "10.43.0.20",
                json!([{"name": "http", "port": 80, "protocol": "TCP"}]),
            ),
            svc("web", "headless", "None", json!([{"port": 80}])),
            svc("other", "x", "10.43.0.30", json!([{"port": 1}])),
        ];
        let pod: Pod = serde_json::from_value(json!({"metadata": {"namespace": "web"}})).unwrap();
        let chosen = select(&pod, &services);
        let names: Vec<_> = chosen
            .iter()
            .map(|s| s.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(names, ["kubernetes", "my-svc"]);
        let vars: std::collections::BTreeMap<_, _> = variables(&chosen).into_iter().collect();
        assert_eq!(vars["KUBERNETES_SERVICE_HOST"], "10.43.0.1");
        assert_eq!(vars["KUBERNETES_SERVICE_PORT"], "443");
        assert_eq!(vars["KUBERNETES_SERVICE_PORT_HTTPS"], "443");
        assert_eq!(vars["MY_SVC_PORT"], "tcp://10.43.0.20:80");
        assert_eq!(vars["MY_SVC_PORT_80_TCP"], "tcp://10.43.0.20:80");
        assert_eq!(vars["MY_SVC_PORT_80_TCP_PROTO"], "tcp");
        assert_eq!(vars["MY_SVC_PORT_80_TCP_PORT"], "80");
        assert_eq!(vars["MY_SVC_PORT_80_TCP_ADDR"], "10.43.0.20");

        let nolinks: Pod = serde_json::from_value(
            json!({"metadata": {"namespace": "web"}, "spec": {"containers": [], "enableServiceLinks": false}}),
        )
        .unwrap();
        assert_eq!(select(&nolinks, &services).len(), 1);
    }
}
