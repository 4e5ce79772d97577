//! Validation of Ingresses, IngressClasses and NetworkPolicies.

use serde_json::Value;

use crate::container::validate_port_num_or_name;
use crate::names::{is_dns1035_label, is_dns1123_subdomain, is_valid_port_name, regex_msg};
use crate::selector::validate_label_selector;
use crate::util::*;

fn validate_host(host: &str, path: &str) -> Errs {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return vec![invalid(path, host, "must be a DNS name, not an IP address")];
    }
    match host.strip_prefix("*.") {
        Some(rest) if is_dns1123_subdomain(rest).is_empty() => Vec::new(),
        Some(_) => vec![invalid(
            path,
            host,
            regex_msg(
                "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character",
                "\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*",
                &["*.example.com"],
            ),
        )],
        None => each(path, host, is_dns1123_subdomain(host)),
    }
}

fn validate_backend(b: &Value, path: &str) -> Errs {
    let mut errs = Errs::new();
    let svc = b.get("service").filter(|v| !v.is_null());
    let res = has(b, "resource");
    if svc.is_some() && res {
        errs.push(invalid(
            path,
            "",
            "cannot set both resource and service backends",
        ));
        return errs;
    }
    if let Some(svc) = svc {
        let sp = at(path, "service");
        let name = se(svc, "name");
        if name.is_empty() {
            errs.push(required(at(&sp, "name"), ""));
        } else {
            errs.extend(each(&at(&sp, "name"), name, is_dns1035_label(name)));
        }
        let port = get(svc, "port");
        let pp = at(&sp, "port");
        let pname = se(port, "name");
        let pnum = int(port, "number").unwrap_or(0);
        match (pname.is_empty(), pnum == 0) {
            (false, false) => {
                errs.push(invalid(&pp, "", "cannot set both port name & port number"))
            }
            (false, true) => errs.extend(each(&at(&pp, "name"), pname, is_valid_port_name(pname))),
            (true, false) => {
                if !(1..=65535).contains(&pnum) {
                    errs.push(invalid_int(at(&pp, "number"), pnum, range_msg(1, 65535)));
                }
            }
            (true, true) => errs.push(required(&pp, "port name or number is required")),
        }
    } else if !res {
        errs.push(invalid(path, "", "resource or service backend is required"));
    }
    errs
}

fn validate_http_path(p: &Value, path: &str) -> Errs {
    let mut errs = Errs::new();
    let pt = se(p, "pathType");
    let value = se(p, "path");
    match pt {
        "" => errs.push(required(at(path, "pathType"), "pathType must be specified")),
        "Exact" | "Prefix" => {
            if !value.starts_with('/') {
                errs.push(invalid(at(path, "path"), value, "must be an absolute path"));
            }
            for bad in ["//", "/./", "/../", "%2f", "%2F"] {
                if value.contains(bad) {
                    errs.push(invalid(
                        at(path, "path"),
                        value,
                        format!("must not contain '{bad}'"),
                    ));
                }
            }
            for bad in ["/..", "/."] {
                if value.ends_with(bad) {
                    errs.push(invalid(
                        at(path, "path"),
                        value,
                        format!("cannot end with '{bad}'"),
                    ));
                }
            }
        }
        "ImplementationSpecific" => {
            if !value.is_empty() && !value.starts_with('/') {
                errs.push(invalid(at(path, "path"), value, "must be an absolute path"));
            }
        }
        other => errs.push(not_supported(
            at(path, "pathType"),
            other,
            &["Exact", "ImplementationSpecific", "Prefix"],
        )),
    }
    errs.extend(validate_backend(get(p, "backend"), &at(path, "backend")));
    errs
}

/// Validates an Ingress.
pub fn validate_ingress(obj: &Value, _old: Option<&Value>) -> Errs {
    let spec = get(obj, "spec");
    let mut errs = Errs::new();
    let rules = arr(spec, "rules");
    let default = spec.get("defaultBackend").filter(|v| !v.is_null());
    if rules.is_empty() && default.is_none() {
        errs.push(invalid_raw(
            "spec",
            "[]networking.IngressRule(nil)",
            "either `defaultBackend` or `rules` must be specified",
        ));
    }
    if let Some(b) = default {
        errs.extend(validate_backend(b, "spec.defaultBackend"));
    }
    for (i, rule) in rules.iter().enumerate() {
        let rp = idx("spec.rules", i);
        let host = se(rule, "host");
        if !host.is_empty() {
            errs.extend(validate_host(host, &at(&rp, "host")));
        }
        if let Some(http) = rule.get("http").filter(|v| !v.is_null()) {
            let hp = at(&at(&rp, "http"), "paths");
            let paths = arr(http, "paths");
            if paths.is_empty() {
                errs.push(required(&hp, ""));
            }
            for (j, p) in paths.iter().enumerate() {
                errs.extend(validate_http_path(p, &idx(&hp, j)));
            }
        }
    }
    for (i, tls) in arr(spec, "tls").iter().enumerate() {
        for (j, h) in arr(tls, "hosts").iter().enumerate() {
            let h = h.as_str().unwrap_or("");
            errs.extend(validate_host(h, &idx(&at(&idx("spec.tls", i), "hosts"), j)));
        }
    }
    if let Some(c) = s(spec, "ingressClassName") {
        errs.extend(each("spec.ingressClassName", c, is_dns1123_subdomain(c)));
    }
    errs
}

/// Validates an IngressClass.
pub fn validate_ingress_class(obj: &Value, old: Option<&Value>) -> Errs {
    let spec = get(obj, "spec");
    let mut errs = Errs::new();
    let c = se(spec, "controller");
    if c.is_empty() {
        errs.push(required("spec.controller", ""));
    } else if c.len() > 250 {
        errs.push(rkube_api::FieldError::too_long("spec.controller", 250));
    } else {
        match c.split_once('/') {
            Some((host, rest)) if !host.is_empty() && !rest.is_empty() => {
                errs.extend(each("spec.controller", host, is_dns1123_subdomain(host)));
            }
            _ => errs.push(invalid(
                "spec.controller",
                c,
                "must be a domain-prefixed path (such as \"acme.io/foo\")",
            )),
        }
    }
    if let Some(old) = old {
        immutable(spec, get(old, "spec"), "controller", "spec", &mut errs);
    }
    errs
}

fn is_cidr(s: &str) -> bool {
    s.split_once('/')
        .is_some_and(|(ip, bits)| match ip.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(_)) => bits.parse::<u8>().is_ok_and(|b| b <= 32),
            Ok(std::net::IpAddr::V6(_)) => bits.parse::<u8>().is_ok_and(|b| b <= 128),
            Err(_) => false,
        })
}

fn validate_np_ports(ports: &[Value], path: &str) -> Errs {
    let mut errs = Errs::new();
    for (i, p) in ports.iter().enumerate() {
        let pp = idx(path, i);
        if let Some(pr) = s(p, "protocol")
            && !matches!(pr, "TCP" | "UDP" | "SCTP")
        {
            errs.push(not_supported(
                at(&pp, "protocol"),
                pr,
                &["TCP", "UDP", "SCTP"],
            ));
        }
        let port = get(p, "port");
        if !port.is_null() {
            errs.extend(validate_port_num_or_name(port, &at(&pp, "port")));
        }
        if let Some(end) = int(p, "endPort") {
            match port.as_i64() {
                None => errs.push(required(
                    at(&pp, "port"),
                    "must be specified when `endPort` is specified",
                )),
                Some(start) if end < start => {
                    errs.push(invalid_int(
                        at(&pp, "endPort"),
                        end,
                        "must be greater than or equal to `port`",
                    ));
                }
                Some(_) => {}
            }
        }
    }
    errs
}

fn validate_peers(peers: &[Value], path: &str) -> Errs {
    let mut errs = Errs::new();
    for (i, peer) in peers.iter().enumerate() {
        let pp = idx(path, i);
        let n = ["podSelector", "namespaceSelector", "ipBlock"]
            .iter()
            .filter(|k| has(peer, k))
            .count();
        let ip_block = peer.get("ipBlock").filter(|v| !v.is_null());
        if n == 0 {
            errs.push(required(&pp, "must specify a peer"));
        } else if ip_block.is_some() && n > 1 {
            errs.push(forbidden(
                &pp,
                "may not specify both ipBlock and another peer",
            ));
        }
        for sel in ["podSelector", "namespaceSelector"] {
            if let Some(s) = peer.get(sel).filter(|v| !v.is_null()) {
                errs.extend(validate_label_selector(s, &at(&pp, sel)));
            }
        }
        if let Some(b) = ip_block {
            let cidr = se(b, "cidr");
            let bp = at(&pp, "ipBlock");
            if cidr.is_empty() {
                errs.push(required(at(&bp, "cidr"), ""));
            } else if !is_cidr(cidr) {
                errs.push(invalid(
                    at(&bp, "cidr"),
                    cidr,
                    "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
                ));
            }
            for (j, e) in arr(b, "except").iter().enumerate() {
                let e = e.as_str().unwrap_or("");
                if !is_cidr(e) {
                    errs.push(invalid(
                        idx(&at(&bp, "except"), j),
                        e,
                        "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
                    ));
                }
            }
        }
    }
    errs
}

/// Validates a NetworkPolicy.
pub fn validate_network_policy(obj: &Value, _old: Option<&Value>) -> Errs {
    let spec = get(obj, "spec");
    let mut errs = validate_label_selector(get(spec, "podSelector"), "spec.podSelector");
    for (dir, peers) in [("ingress", "from"), ("egress", "to")] {
        for (i, rule) in arr(spec, dir).iter().enumerate() {
            let rp = idx(&at("spec", dir), i);
            errs.extend(validate_np_ports(arr(rule, "ports"), &at(&rp, "ports")));
            errs.extend(validate_peers(arr(rule, peers), &at(&rp, peers)));
        }
    }
    let types = arr(spec, "policyTypes");
    for (i, t) in types.iter().enumerate() {
        let t = t.as_str().unwrap_or("");
        if !matches!(t, "Ingress" | "Egress") {
            errs.push(not_supported(
                idx("spec.policyTypes", i),
                t,
                &["Ingress", "Egress"],
            ));
        }
    }
    if types.len() > 2 {
        errs.push(invalid_val(
            "spec.policyTypes",
            get(spec, "policyTypes"),
            "may not specify more than two policyTypes",
        ));
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
    fn ingress() {
        assert_eq!(
            msgs(validate_ingress(&json!({"spec": {}}), None)),
            vec![
                "spec: Invalid value: []networking.IngressRule(nil): either `defaultBackend` or `rules` must be specified",
            ]
        );
        let ing = json!({"spec": {"rules": [{"host": "example.com", "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}},
            {"path": "x", "pathType": "Exact", "backend": {"service": {"name": "web", "port": {}}}}]}}]}});
        assert_eq!(
            msgs(validate_ingress(&ing, None)),
            vec![
                "spec.rules[0].http.paths[1].path: Invalid value: \"x\": must be an absolute path",
                "spec.rules[0].http.paths[1].backend.service.port: Required value: port name or number is required",
            ]
        );
    }

    #[test]
    fn network_policy() {
        let np = json!({"spec": {"podSelector": {}, "ingress": [{"from": [{}], "ports": [{"protocol": "ICMP"}]}]}});
        assert_eq!(
            msgs(validate_network_policy(&np, None)),
            vec![
                "spec.ingress[0].ports[0].protocol: Unsupported value: \"ICMP\": supported values: \"TCP\", \"UDP\", \"SCTP\"",
                "spec.ingress[0].from[0]: Required value: must specify a peer",
            ]
        );
    }
}
