//! Printers for ingresses, ingress classes and network policies.

use jiff::Timestamp;
use serde_json::Value;

use crate::network::load_balancer_ingress;
use crate::util::{Obj, format_label_selector, s};
use crate::{AGE, Column, NAME, col};

pub(crate) static INGRESS_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Class",
        "string",
        "The name of the IngressClass resource that should be used for additional configuration",
        0,
    ),
    col(
        "Hosts",
        "string",
        "Hosts that incoming requests are matched against before the ingress rule",
        0,
    ),
    col(
        "Address",
        "string",
        "Address is a list containing ingress points for the load-balancer",
        0,
    ),
    col(
        "Ports",
        "string",
        "Ports of TLS configurations that open",
        0,
    ),
    AGE,
];

/// Upstream's `formatHosts`: the first three non-empty hosts, `*` when none.
fn format_hosts(rules: &[Value]) -> String {
    const MAX: usize = 3;
    let mut list: Vec<&str> = Vec::new();
    let mut more = false;
    for rule in rules.iter().map(Obj) {
        if list.len() == MAX {
            more = true;
        }
        let host = rule.str(&["host"]);
        if !more && !host.is_empty() {
            list.push(host);
        }
    }
    if list.is_empty() {
        return "*".to_string();
    }
    let ret = list.join(",");
    if more {
        format!("{ret} + {} more...", rules.len() - MAX)
    } else {
        ret
    }
}

pub(crate) fn ingress_cells(obj: Obj<'_>, now: Timestamp) -> Vec<Value> {
    let ports = if obj.arr(&["spec", "tls"]).is_empty() {
        "80"
    } else {
        "80, 443"
    };
    vec![
        s(obj.name()),
        s(obj
            .opt_str(&["spec", "ingressClassName"])
            .unwrap_or("<none>")),
        s(format_hosts(obj.arr(&["spec", "rules"]))),
        s(load_balancer_ingress(obj.arr(&[
            "status",
            "loadBalancer",
            "ingress",
        ]))),
        s(ports),
        s(obj.age(now)),
    ]
}

pub(crate) static INGRESS_CLASS_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Controller",
        "string",
        "Controller that is responsible for handling this class",
        0,
    ),
    col(
        "Parameters",
        "string",
        "A reference to a resource with additional parameters",
        0,
    ),
    AGE,
];

pub(crate) fn ingress_class_cells(obj: Obj<'_>, now: Timestamp) -> Vec<Value> {
    let params = obj.at(&["spec", "parameters"]);
    let parameters = if obj.has(&["spec", "parameters"]) {
        let mut p = params.str(&["kind"]).to_string();
        if let Some(group) = params.opt_str(&["apiGroup"]) {
            p = format!("{p}.{group}");
        }
        format!("{p}/{}", params.str(&["name"]))
    } else {
        "<none>".to_string()
    };
    vec![
        s(obj.name()),
        s(obj.str(&["spec", "controller"])),
        s(parameters),
        s(obj.age(now)),
    ]
}

pub(crate) static NETWORK_POLICY_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Pod-Selector",
        "string",
        "podSelector selects the pods to which this NetworkPolicy object applies. The array of rules is applied to any pods selected by this field. An empty selector matches all pods in this namespace.",
        0,
    ),
    AGE,
];

pub(crate) fn network_policy_cells(obj: Obj<'_>, now: Timestamp) -> Vec<Value> {
    vec![
        s(obj.name()),
        s(format_label_selector(obj.at(&["spec", "podSelector"]))),
        s(obj.age(now)),
    ]
}
