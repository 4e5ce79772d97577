//! Validation of Services, Endpoints and EndpointSlices.

use std::collections::HashSet;
use std::net::IpAddr;

use serde_json::Value;

use crate::container::{validate_port_num_or_name, validate_protocol};
use crate::meta::validate_labels;
use crate::names::{is_dns1123_label, is_dns1123_subdomain, is_qualified_name};
use crate::util::*;

fn is_ip(s: &str) -> bool {
    s.parse::<IpAddr>().is_ok()
}

/// Upstream's `IsFullyQualifiedDomainName` for `spec.externalName`.
fn validate_fqdn(name: &str, path: &str) -> Errs {
    let name = name.strip_suffix('.').unwrap_or(name);
    let msgs = is_dns1123_subdomain(name);
    if !msgs.is_empty() {
        return vec![invalid(path, name, msgs.join(","))];
    }
    if !name.contains('.') {
        return vec![invalid(
            path,
            name,
            "should be a domain with at least two segments separated by dots",
        )];
    }
    Vec::new()
}

fn render_service_port(p: &Value) -> String {
    format!(
        "core.ServicePort{{Name:{}, Protocol:{}, AppProtocol:(*string)(nil), Port:{}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:\"\"}}, NodePort:0}}",
        quote(se(p, "name")),
        quote(se(p, "protocol")),
        int(p, "port").unwrap_or(0)
    )
}

/// Validates a Service.
pub fn validate_service(obj: &Value, old: Option<&Value>) -> Errs {
    let spec = get(obj, "spec");
    let mut errs = Errs::new();
    let ty = s(spec, "type").unwrap_or("ClusterIP");
    let cluster_ip = se(spec, "clusterIP");
    let headless = cluster_ip == "None";
    let ports = arr(spec, "ports");
    if !matches!(
        ty,
        "ClusterIP" | "ExternalName" | "LoadBalancer" | "NodePort"
    ) {
        errs.push(not_supported(
            "spec.type",
            ty,
            &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
        ));
    }
    if ports.is_empty() && !headless && ty != "ExternalName" {
        errs.push(required("spec.ports", ""));
    }
    if ty == "ExternalName" {
        let ext = se(spec, "externalName");
        if ext.is_empty() {
            errs.push(required("spec.externalName", ""));
        } else {
            errs.extend(validate_fqdn(ext, "spec.externalName"));
        }
        if !cluster_ip.is_empty() && !headless {
            errs.push(forbidden(
                "spec.clusterIPs",
                "may not be set for ExternalName services",
            ));
        }
    }
    let mut names = HashSet::new();
    let mut keys = HashSet::new();
    let mut node_ports = HashSet::new();
    let require_name = ports.len() > 1;
    for (i, p) in ports.iter().enumerate() {
        let pp = idx("spec.ports", i);
        let name = se(p, "name");
        if require_name && name.is_empty() {
            errs.push(required(at(&pp, "name"), ""));
        } else if !name.is_empty() {
            errs.extend(each(&at(&pp, "name"), name, is_dns1123_label(name)));
            if !names.insert(name) {
                errs.push(duplicate(at(&pp, "name"), name));
            }
        }
        let port = int(p, "port").unwrap_or(0);
        if !(1..=65535).contains(&port) {
            errs.push(invalid_int(at(&pp, "port"), port, range_msg(1, 65535)));
        }
        errs.extend(validate_protocol(p, &pp));
        if let Some(tp) = p.get("targetPort").filter(|v| !v.is_null()) {
            errs.extend(validate_port_num_or_name(tp, &at(&pp, "targetPort")));
        }
        if let Some(ap) = s(p, "appProtocol") {
            errs.extend(each(&at(&pp, "appProtocol"), ap, is_qualified_name(ap)));
        }
        let node_port = int(p, "nodePort").unwrap_or(0);
        if node_port != 0 {
            if ty == "ClusterIP" {
                errs.push(forbidden(
                    at(&pp, "nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                ));
            } else if !(1..=65535).contains(&node_port) {
                errs.push(invalid_int(
                    at(&pp, "nodePort"),
                    node_port,
                    range_msg(1, 65535),
                ));
            }
        }
        if node_port != 0 && !node_ports.insert((se(p, "protocol").to_string(), node_port)) {
            errs.push(duplicate_raw(at(&pp, "nodePort"), node_port.to_string()));
        }
        if !keys.insert((se(p, "protocol").to_string(), port)) {
            errs.push(duplicate_raw(pp, render_service_port(p)));
        }
    }
    errs.extend(validate_labels(get(spec, "selector"), "spec.selector"));
    if headless && matches!(ty, "NodePort" | "LoadBalancer") {
        errs.push(invalid(
            "spec.clusterIPs[0]",
            cluster_ip,
            format!("may not be set to 'None' for {ty} services"),
        ));
    }
    for (i, ip) in arr(spec, "clusterIPs").iter().enumerate() {
        let ip = ip.as_str().unwrap_or("");
        if !(ip.is_empty() || is_ip(ip) || (ip == "None" && i == 0)) {
            errs.push(invalid(
                idx("spec.clusterIPs", i),
                ip,
                "must be empty, 'None', or a valid IP address",
            ));
        }
    }
    if !cluster_ip.is_empty() && !headless && !is_ip(cluster_ip) {
        errs.push(invalid(
            "spec.clusterIPs[0]",
            cluster_ip,
            "must be empty, 'None', or a valid IP address",
        ));
    }
    for (i, ip) in arr(spec, "externalIPs").iter().enumerate() {
        let ip = ip.as_str().unwrap_or("");
        if !is_ip(ip) {
            errs.push(invalid(
                idx("spec.externalIPs", i),
                ip,
                "must be a valid IP address",
            ));
        }
    }
    errs.extend(validate_service_policies(spec, ty));
    if let Some(old) = old {
        errs.extend(validate_cluster_ip_change(spec, get(old, "spec")));
    }
    errs
}

/// The effective cluster IPs: `clusterIPs`, else `[clusterIP]`.
fn cluster_ips(spec: &Value) -> Vec<String> {
    let ips: Vec<String> = arr(spec, "clusterIPs")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    match se(spec, "clusterIP") {
        _ if !ips.is_empty() => ips,
        "" => Vec::new(),
        ip => vec![ip.to_string()],
    }
}

fn render_ips(ips: &[String]) -> String {
    if ips.is_empty() {
        "[]string(nil)".to_string()
    } else {
        let body: Vec<String> = ips.iter().map(|s| quote(s)).collect();
        format!("[]string{{{}}}", body.join(", "))
    }
}

/// Upstream's rules for changing cluster IPs on update (upgrade/downgrade of families).
fn validate_cluster_ip_change(new: &Value, old: &Value) -> Errs {
    let mut errs = Errs::new();
    let ty = |v: &Value| s(v, "type").unwrap_or("ClusterIP").to_string();
    if ty(new) == "ExternalName" || ty(old) == "ExternalName" {
        return errs;
    }
    let (n, o) = (cluster_ips(new), cluster_ips(old));
    let headless = |ips: &[String]| ips.first().is_some_and(|ip| ip == "None");
    if headless(&n) && headless(&o) {
        return errs;
    }
    let changed = |i: usize| {
        invalid_raw(
            idx("spec.clusterIPs", i),
            render_ips(&n),
            "may not change once set",
        )
    };
    if n.len() == o.len() {
        for i in 0..o.len() {
            if o[i] != n[i] {
                errs.push(changed(i));
            }
        }
    } else if o.len() > n.len() {
        if n.is_empty() {
            errs.push(invalid_raw(
                "spec.clusterIPs[0]",
                render_ips(&n),
                "primary clusterIP can not be unset",
            ));
        } else if n[0] != o[0] {
            errs.push(changed(0));
        }
        if n.len() == 1 && se(new, "ipFamilyPolicy") != "SingleStack" {
            errs.push(invalid_val(
                "spec.ipFamilyPolicy",
                get(new, "ipFamilyPolicy"),
                "must be set to 'SingleStack' when releasing the secondary clusterIP",
            ));
        }
    } else if !o.is_empty() && n[0] != o[0] {
        errs.push(changed(0));
    }
    errs
}

fn validate_service_policies(spec: &Value, ty: &str) -> Errs {
    let mut errs = Errs::new();
    if let Some(sa) = s(spec, "sessionAffinity")
        && !matches!(sa, "ClientIP" | "None")
    {
        errs.push(not_supported(
            "spec.sessionAffinity",
            sa,
            &["ClientIP", "None"],
        ));
    }
    if let Some(etp) = s(spec, "externalTrafficPolicy") {
        if !matches!(ty, "NodePort" | "LoadBalancer") {
            errs.push(invalid(
                "spec.externalTrafficPolicy",
                etp,
                "may only be set when `type` is 'NodePort' or 'LoadBalancer'",
            ));
        } else if !matches!(etp, "Cluster" | "Local") {
            errs.push(not_supported(
                "spec.externalTrafficPolicy",
                etp,
                &["Cluster", "Local"],
            ));
        }
    }
    if let Some(itp) = s(spec, "internalTrafficPolicy")
        && !matches!(itp, "Cluster" | "Local")
    {
        errs.push(not_supported(
            "spec.internalTrafficPolicy",
            itp,
            &["Cluster", "Local"],
        ));
    }
    if let Some(fp) = s(spec, "ipFamilyPolicy")
        && !matches!(fp, "SingleStack" | "PreferDualStack" | "RequireDualStack")
    {
        errs.push(not_supported(
            "spec.ipFamilyPolicy",
            fp,
            &["SingleStack", "PreferDualStack", "RequireDualStack"],
        ));
    }
    for (i, f) in arr(spec, "ipFamilies").iter().enumerate() {
        let f = f.as_str().unwrap_or("");
        if !matches!(f, "IPv4" | "IPv6") {
            errs.push(not_supported(
                idx("spec.ipFamilies", i),
                f,
                &["IPv4", "IPv6"],
            ));
        }
    }
    if !arr(spec, "loadBalancerSourceRanges").is_empty() && ty != "LoadBalancer" {
        errs.push(forbidden(
            "spec.loadBalancerSourceRanges",
            "may only be used when `type` is 'LoadBalancer'",
        ));
    }
    errs
}

/// Validates Endpoints.
pub fn validate_endpoints(obj: &Value, _old: Option<&Value>) -> Errs {
    let mut errs = Errs::new();
    for (i, subset) in arr(obj, "subsets").iter().enumerate() {
        let sp = idx("subsets", i);
        for list in ["addresses", "notReadyAddresses"] {
            for (j, a) in arr(subset, list).iter().enumerate() {
                let ap = idx(&at(&sp, list), j);
                let ip = se(a, "ip");
                if !is_ip(ip) {
                    errs.push(invalid(at(&ap, "ip"), ip, "must be a valid IP address"));
                }
                let host = se(a, "hostname");
                if !host.is_empty() {
                    errs.extend(each(&at(&ap, "hostname"), host, is_dns1123_label(host)));
                }
            }
        }
        let ports = arr(subset, "ports");
        for (j, p) in ports.iter().enumerate() {
            let pp = idx(&at(&sp, "ports"), j);
            let name = se(p, "name");
            if ports.len() > 1 && name.is_empty() {
                errs.push(required(at(&pp, "name"), ""));
            } else if !name.is_empty() {
                errs.extend(each(&at(&pp, "name"), name, is_dns1123_label(name)));
            }
            let port = int(p, "port").unwrap_or(0);
            if !(1..=65535).contains(&port) {
                errs.push(invalid_int(at(&pp, "port"), port, range_msg(1, 65535)));
            }
            errs.extend(validate_protocol(p, &pp));
        }
    }
    errs
}

/// Validates an EndpointSlice.
pub fn validate_endpoint_slice(obj: &Value, old: Option<&Value>) -> Errs {
    let mut errs = Errs::new();
    let at_ = se(obj, "addressType");
    if !matches!(at_, "IPv4" | "IPv6" | "FQDN") {
        errs.push(not_supported("addressType", at_, &["FQDN", "IPv4", "IPv6"]));
    }
    let eps = arr(obj, "endpoints");
    if eps.len() > 1000 {
        errs.push(rkube_api::FieldError {
            kind: rkube_api::ErrorType::TooMany,
            field: "endpoints".into(),
            value: None,
            detail: "must have at most 1000 items".into(),
        });
    }
    for (i, ep) in eps.iter().enumerate() {
        let ep_path = idx("endpoints", i);
        let addrs = arr(ep, "addresses");
        if addrs.is_empty() {
            errs.push(required(
                at(&ep_path, "addresses"),
                "must contain at least 1 address",
            ));
        }
        for (j, a) in addrs.iter().enumerate() {
            let a = a.as_str().unwrap_or("");
            let ap = idx(&at(&ep_path, "addresses"), j);
            let ok = match at_ {
                "IPv4" => a.parse::<std::net::Ipv4Addr>().is_ok(),
                "IPv6" => a.parse::<std::net::Ipv6Addr>().is_ok(),
                _ => is_dns1123_subdomain(a).is_empty(),
            };
            if !ok {
                let what = if at_ == "FQDN" {
                    "must be a valid FQDN"
                } else {
                    "must be a valid IP address"
                };
                errs.push(invalid(ap, a, what));
            }
        }
        if let Some(h) = s(ep, "hostname") {
            errs.extend(each(&at(&ep_path, "hostname"), h, is_dns1123_label(h)));
        }
    }
    let mut names = HashSet::new();
    for (i, p) in arr(obj, "ports").iter().enumerate() {
        let pp = idx("ports", i);
        let name = se(p, "name");
        if !name.is_empty() {
            errs.extend(each(&at(&pp, "name"), name, is_dns1123_label(name)));
        }
        if !names.insert(name) {
            errs.push(duplicate(at(&pp, "name"), name));
        }
        if let Some(port) = int(p, "port")
            && !(1..=65535).contains(&port)
        {
            errs.push(invalid_int(at(&pp, "port"), port, range_msg(1, 65535)));
        }
        if let Some(pr) = s(p, "protocol")
            && !matches!(pr, "TCP" | "UDP" | "SCTP")
        {
            errs.push(not_supported(
                at(&pp, "protocol"),
                pr,
                &["SCTP", "TCP", "UDP"],
            ));
        }
    }
    if let Some(old) = old {
        immutable(obj, old, "addressType", "", &mut errs);
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msgs(e: Errs) -> Vec<String> {
        e.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn service_ports() {
        let svc = json!({"spec": {"type": "ClusterIP", "ports": [
            {"port": 70000, "protocol": "TCP", "targetPort": 80, "name": "a"},
            {"port": 80, "protocol": "TCP", "targetPort": 80}]}});
        assert_eq!(
            msgs(validate_service(&svc, None)),
            vec![
                "spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive",
                "spec.ports[1].name: Required value",
            ]
        );
        assert_eq!(
            msgs(validate_service(
                &json!({"spec": {"type": "ClusterIP"}}),
                None
            )),
            vec!["spec.ports: Required value"]
        );
        assert!(
            validate_service(
                &json!({"spec": {"type": "ClusterIP", "clusterIP": "None"}}),
                None
            )
            .is_empty()
        );
    }

    #[test]
    fn external_name_and_cluster_ip() {
        assert_eq!(
            msgs(validate_service(
                &json!({"spec": {"type": "ExternalName"}}),
                None
            )),
            vec!["spec.externalName: Required value"]
        );
        assert!(
            validate_service(
                &json!({"spec": {"type": "ExternalName", "externalName": "example.com"}}),
                None
            )
            .is_empty()
        );
        let old = json!({"spec": {"type": "ClusterIP", "clusterIP": "10.43.0.5", "clusterIPs": ["10.43.0.5"], "ports": [{"port": 80, "protocol": "TCP"}]}});
        let mut new = old.clone();
        new["spec"]["clusterIP"] = json!("10.43.0.6");
        new["spec"]["clusterIPs"] = json!(["10.43.0.6"]);
        assert_eq!(
            msgs(validate_service(&new, Some(&old))),
            vec![
                "spec.clusterIPs[0]: Invalid value: []string{\"10.43.0.6\"}: may not change once set",
            ]
        );
    }

    #[test]
    fn endpoint_slice() {
        let es = json!({"addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["x"]}],
            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]});
        assert_eq!(
            msgs(validate_endpoint_slice(&es, None)),
            vec!["endpoints[1].addresses[0]: Invalid value: \"x\": must be a valid IP address",]
        );
    }

    #[test]
    fn cluster_ip_unset_and_node_ports() {
        let old = json!({"spec": {"type": "NodePort", "clusterIP": "10.43.0.5", "clusterIPs": ["10.43.0.5"],
            "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30080}, {"name": "b", "port": 81, "protocol": "TCP", "nodePort": 30080}]}});
        let mut new = old.clone();
        new["spec"]["clusterIP"] = json!("");
        new["spec"]["clusterIPs"] = json!([]);
        assert_eq!(
            msgs(validate_service(&new, Some(&old))),
            vec![
                "spec.ports[0].name: Required value",
                "spec.ports[1].nodePort: Duplicate value: 30080",
                "spec.clusterIPs[0]: Invalid value: []string(nil): primary clusterIP can not be unset",
            ]
        );
    }
}
