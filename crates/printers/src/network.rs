//! Printers for service discovery kinds: services, endpoints and endpoint slices.

use jiff::Timestamp;
use serde_json::Value;

use crate::util::{Obj, format_labels, s};
use crate::{AGE, Column, NAME, col};

pub(crate) static SERVICE_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Type",
        "string",
        "type determines how the Service is exposed. Defaults to ClusterIP.",
        0,
    ),
    col(
        "Cluster-IP",
        "string",
        "clusterIP is the IP address of the service and is usually assigned randomly.",
        0,
    ),
    col(
        "External-IP",
        "string",
        "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.",
        0,
    ),
    col(
        "Port(s)",
        "string",
        "The list of ports that are exposed by this service. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies",
        0,
    ),
    AGE,
    col(
        "Selector",
        "string",
        "Route service traffic to pods with label keys and values matching this selector.",
        1,
    ),
];

/// Upstream's `loadBalancerStatusStringer` in wide mode: sorted unique IPs or hostnames.
pub(crate) fn load_balancer_ingress(ingress: &[Value]) -> String {
    let mut out: Vec<&str> = ingress
        .iter()
        .map(Obj)
        .filter_map(|i| {
            let ip = i.str(&["ip"]);
            let host = i.str(&["hostname"]);
            if !ip.is_empty() {
                Some(ip)
            } else if !host.is_empty() {
                Some(host)
            } else {
                None
            }
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out.join(",")
}

fn strings(values: &[Value]) -> Vec<&str> {
    values.iter().filter_map(Value::as_str).collect()
}

fn external_ip(svc: Obj<'_>, kind: &str) -> String {
    let external = strings(svc.arr(&["spec", "externalIPs"]));
    match kind {
        "ClusterIP" | "NodePort" => {
            if external.is_empty() {
                "<none>".to_string()
            } else {
                external.join(",")
            }
        }
        "LoadBalancer" => {
            let lb = load_balancer_ingress(svc.arr(&["status", "loadBalancer", "ingress"]));
            if !external.is_empty() {
                let mut all: Vec<&str> = Vec::new();
                if !lb.is_empty() {
                    all.extend(lb.split(','));
                }
                all.extend(external);
                all.join(",")
            } else if !lb.is_empty() {
                lb
            } else {
                "<pending>".to_string()
            }
        }
        "ExternalName" => svc.str(&["spec", "externalName"]).to_string(),
        _ => "<unknown>".to_string(),
    }
}

fn port_string(ports: &[Value]) -> String {
    ports
        .iter()
        .map(Obj)
        .map(|p| {
            let port = p.int(&["port"]);
            let proto = p.opt_str(&["protocol"]).unwrap_or("TCP");
            let node_port = p.int(&["nodePort"]);
            if node_port > 0 {
                format!("{port}:{node_port}/{proto}")
            } else {
                format!("{port}/{proto}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

pub(crate) fn service_cells(svc: Obj<'_>, now: Timestamp) -> Vec<Value> {
    let kind = svc.opt_str(&["spec", "type"]).unwrap_or("ClusterIP");
    let cluster_ip = svc
        .arr(&["spec", "clusterIPs"])
        .first()
        .and_then(Value::as_str)
        .or_else(|| {
            svc.opt_str(&["spec", "clusterIP"])
                .filter(|ip| !ip.is_empty())
        })
        .unwrap_or("<none>");
    let ports = port_string(svc.arr(&["spec", "ports"]));
    vec![
        s(svc.name()),
        s(kind),
        s(cluster_ip),
        s(external_ip(svc, kind)),
        s(if ports.is_empty() {
            "<none>".to_string()
        } else {
            ports
        }),
        s(svc.age(now)),
        s(format_labels(svc.map(&["spec", "selector"]))),
    ]
}

pub(crate) static ENDPOINTS_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Endpoints",
        "string",
        "The set of all endpoints is the union of all subsets. Addresses are placed into subsets according to the IPs they share. A single address with multiple ports, some of which are ready and some of which are not (because they come from different containers) will result in the address being displayed in different subsets for the different ports. No address will appear in both Addresses and NotReadyAddresses in the same subset. Sets of addresses and ports that comprise a service.",
        0,
    ),
    AGE,
];

/// Go's `net.JoinHostPort`: brackets around hosts containing a colon.
fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Upstream's `formatEndpoints` with all ports: at most three, then `+ N more...`.
fn format_endpoints(obj: Obj<'_>) -> String {
    let subsets = obj.arr(&["subsets"]);
    if subsets.is_empty() {
        return "<none>".to_string();
    }
    const MAX: usize = 3;
    let mut list: Vec<String> = Vec::new();
    let mut more = false;
    let mut count = 0usize;
    let mut add = |text: String, list: &mut Vec<String>| {
        if list.len() == MAX {
            more = true;
        }
        if !more {
            list.push(text);
        }
        count += 1;
    };
    for ss in subsets.iter().map(Obj) {
        let addresses = ss.arr(&["addresses"]);
        let ports = ss.arr(&["ports"]);
        if ports.is_empty() {
            for a in addresses {
                add(Obj(a).str(&["ip"]).to_string(), &mut list);
            }
        } else {
            for p in ports {
                let port = Obj(p).int(&["port"]);
                for a in addresses {
                    add(join_host_port(Obj(a).str(&["ip"]), port), &mut list);
                }
            }
        }
    }
    let ret = list.join(",");
    if more {
        format!("{ret} + {} more...", count - MAX)
    } else {
        ret
    }
}

pub(crate) fn endpoints_cells(obj: Obj<'_>, now: Timestamp) -> Vec<Value> {
    vec![s(obj.name()), s(format_endpoints(obj)), s(obj.age(now))]
}

pub(crate) static ENDPOINT_SLICE_COLUMNS: &[Column] = &[
    NAME,
    col(
        "AddressType",
        "string",
        "addressType specifies the type of address carried by this EndpointSlice. All addresses in this slice must be the same type. This field is immutable after creation. The following address types are currently supported: * IPv4: Represents an IPv4 Address. * IPv6: Represents an IPv6 Address. * FQDN: Represents a Fully Qualified Domain Name. (Deprecated) The EndpointSlice controller only generates, and kube-proxy only processes, slices of addressType \"IPv4\" and \"IPv6\". No semantics are defined for the \"FQDN\" type.",
        0,
    ),
    col(
        "Ports",
        "string",
        "ports specifies the list of network ports exposed by each endpoint in this slice. Each port must have a unique name. Each slice may include a maximum of 100 ports. Services always have at least 1 port, so EndpointSlices generated by the EndpointSlice controller will likewise always have at least 1 port. EndpointSlices used for other purposes may have an empty ports list.",
        0,
    ),
    col(
        "Endpoints",
        "string",
        "endpoints is a list of unique endpoints in this slice. Each slice may include a maximum of 1000 endpoints.",
        0,
    ),
    AGE,
];

/// Upstream's `listWithMoreString`: `<unset>` when empty.
fn list_with_more(list: &[String], count: usize, max: usize) -> String {
    let ret = list.join(",");
    if count > max {
        return format!("{ret} + {} more...", count - max);
    }
    if ret.is_empty() {
        "<unset>".to_string()
    } else {
        ret
    }
}

pub(crate) fn endpoint_slice_cells(obj: Obj<'_>, now: Timestamp) -> Vec<Value> {
    const MAX: usize = 3;
    let ports = obj.arr(&["ports"]);
    let port_list: Vec<String> = ports
        .iter()
        .map(Obj)
        .take(MAX)
        .map(|p| match (p.opt_int(&["port"]), p.opt_str(&["name"])) {
            (Some(port), _) => port.to_string(),
            (None, Some(name)) => name.to_string(),
            (None, None) => "*".to_string(),
        })
        .collect();
    let addresses: Vec<String> = obj
        .arr(&["endpoints"])
        .iter()
        .flat_map(|e| Obj(e).arr(&["addresses"]).iter().filter_map(Value::as_str))
        .map(str::to_string)
        .collect();
    let shown: Vec<String> = addresses.iter().take(MAX).cloned().collect();
    vec![
        s(obj.name()),
        s(obj.str(&["addressType"])),
        s(list_with_more(&port_list, ports.len(), MAX)),
        s(list_with_more(&shown, addresses.len(), MAX)),
        s(obj.age(now)),
    ]
}
