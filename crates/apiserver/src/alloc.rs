//! ClusterIP and NodePort allocation for Services.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use parking_lot::Mutex;
use rand::Rng;
use rkube_api::FieldError;
use serde_json::{Value, json};

use crate::config::Cidr;

/// Hands out service addresses from the service CIDR and ports from the NodePort range.
pub struct ServiceAllocator {
    cidr: Cidr,
    ports: (u16, u16),
    used: Mutex<Used>,
}

#[derive(Default)]
struct Used {
    ips: HashSet<Ipv4Addr>,
    ports: HashSet<u16>,
}

/// What one service holds: to release if its write fails or it is deleted.
#[derive(Debug, Default, Clone)]
pub struct Held {
    pub ips: Vec<Ipv4Addr>,
    pub ports: Vec<u16>,
}

fn service_type(svc: &Value) -> &str {
    svc.pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
}

fn wants_node_ports(svc: &Value) -> bool {
    matches!(service_type(svc), "NodePort" | "LoadBalancer")
}

impl ServiceAllocator {
    pub fn new(cidr: Cidr, ports: (u16, u16)) -> Self {
        ServiceAllocator {
            cidr,
            ports,
            used: Mutex::new(Used::default()),
        }
    }

    /// Marks what an existing service holds as used (at startup).
    pub fn observe(&self, svc: &Value) {
        let held = held_by(svc);
        let mut used = self.used.lock();
        used.ips.extend(held.ips);
        used.ports.extend(held.ports);
    }

    /// Frees what a service held.
    pub fn release(&self, held: &Held) {
        let mut used = self.used.lock();
        for ip in &held.ips {
            used.ips.remove(ip);
        }
        for p in &held.ports {
            used.ports.remove(p);
        }
    }

    /// Allocates the ClusterIP and NodePorts a new or updated service needs.
    /// Returns what was newly taken (to release if the write fails).
    pub fn allocate(&self, svc: &mut Value, old: Option<&Value>) -> Result<Held, Vec<FieldError>> {
        let mut used = self.used.lock();
        let mut taken = Held::default();
        let mut errors = Vec::new();
        let old_held = old.map(held_by).unwrap_or_default();

        if service_type(svc) != "ExternalName" {
            let requested = svc
                .pointer("/spec/clusterIP")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if requested.is_empty() {
                match old
                    .and_then(|o| o.pointer("/spec/clusterIP"))
                    .and_then(Value::as_str)
                {
                    Some(ip) if !ip.is_empty() => set_cluster_ip(svc, ip),
                    _ => match self.free_ip(&used) {
                        Some(ip) => {
                            used.ips.insert(ip);
                            taken.ips.push(ip);
                            set_cluster_ip(svc, &ip.to_string());
                        }
                        None => errors.push(FieldError::invalid(
                            "spec.clusterIPs",
                            "",
                            "failed to allocate IP: range is full",
                        )),
                    },
                }
            } else if requested != "None" {
                match requested.parse::<Ipv4Addr>() {
                    Ok(ip) if old_held.ips.contains(&ip) => set_cluster_ip(svc, &requested),
                    Ok(ip) if self.cidr.offset(ip).is_none() => errors.push(FieldError::invalid(
                        "spec.clusterIPs",
                        rkube_api::FieldValue::raw(format!("[]string{{\"{requested}\"}}")),
                        format!("failed to allocate IP {requested}: the provided IP ({requested}) is not in the valid range. The range of valid IPs is {}", self.cidr),
                    )),
                    Ok(ip) if used.ips.contains(&ip) => errors.push(FieldError::invalid(
                        "spec.clusterIPs",
                        rkube_api::FieldValue::raw(format!("[]string{{\"{requested}\"}}")),
                        format!("failed to allocate IP {requested}: provided IP is already allocated"),
                    )),
                    Ok(ip) => {
                        used.ips.insert(ip);
                        taken.ips.push(ip);
                        set_cluster_ip(svc, &requested);
                    }
                    Err(_) => errors.push(FieldError::invalid(
                        "spec.clusterIP",
                        &requested,
                        "must be a valid IP address (e.g. 10.9.8.7 or 2001:db8::ffff)",
                    )),
                }
            } else if let Some(spec) = svc.get_mut("spec").and_then(Value::as_object_mut) {
                spec.insert("clusterIPs".into(), json!(["None"]));
            }
        }

        if wants_node_ports(svc) {
            let n = svc
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .map(Vec::len)
                .unwrap_or(0);
            for i in 0..n {
                let ptr = format!("/spec/ports/{i}/nodePort");
                let requested = svc.pointer(&ptr).and_then(Value::as_i64).unwrap_or(0);
                if requested == 0 {
                    match self.free_port(&used) {
                        Some(p) => {
                            used.ports.insert(p);
                            taken.ports.push(p);
                            if let Some(port) = svc
                                .pointer_mut(&format!("/spec/ports/{i}"))
                                .and_then(Value::as_object_mut)
                            {
                                port.insert("nodePort".into(), json!(p));
                            }
                        }
                        None => errors.push(FieldError::invalid(
                            format!("spec.ports[{i}].nodePort"),
                            0,
                            "failed to allocate a nodePort: range is full",
                        )),
                    }
                    continue;
                }
                let p = u16::try_from(requested).unwrap_or(0);
                if old_held.ports.contains(&p) {
                    continue;
                }
                if p < self.ports.0 || p > self.ports.1 {
                    errors.push(FieldError::invalid(
                        format!("spec.ports[{i}].nodePort"),
                        requested,
                        format!("provided port is not in the valid range. The range of valid ports is {}-{}", self.ports.0, self.ports.1),
                    ));
                } else if used.ports.contains(&p) {
                    errors.push(FieldError::invalid(
                        format!("spec.ports[{i}].nodePort"),
                        requested,
                        "provided port is already allocated",
                    ));
                } else {
                    used.ports.insert(p);
                    taken.ports.push(p);
                }
            }
        }
        if !errors.is_empty() {
            drop(used);
            self.release(&taken);
            return Err(errors);
        }
        Ok(taken)
    }

    fn free_ip(&self, used: &Used) -> Option<Ipv4Addr> {
        let size = self.cidr.size();
        let mut rng = rand::rng();
        // Upstream prefers the upper part of the range for dynamic allocation; start anywhere past .1.
        let start = rng.random_range(2..size.saturating_sub(1).max(3));
        (0..size)
            .map(|i| 2 + (start - 2 + i) % (size - 3))
            .map(|off| self.cidr.nth(off))
            .find(|ip| !used.ips.contains(ip))
    }

    fn free_port(&self, used: &Used) -> Option<u16> {
        let (lo, hi) = self.ports;
        let span = u32::from(hi - lo) + 1;
        let start = rand::rng().random_range(0..span);
        (0..span)
            .map(|i| lo + ((start + i) % span) as u16)
            .find(|p| !used.ports.contains(p))
    }
}

fn set_cluster_ip(svc: &mut Value, ip: &str) {
    if let Some(spec) = svc.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("clusterIP".into(), json!(ip));
        spec.insert("clusterIPs".into(), json!([ip]));
    }
}

/// What a stored service holds.
pub fn held_by(svc: &Value) -> Held {
    let mut held = Held::default();
    if let Some(ip) = svc
        .pointer("/spec/clusterIP")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
    {
        held.ips.push(ip);
    }
    if let Some(ports) = svc.pointer("/spec/ports").and_then(Value::as_array) {
        for p in ports {
            if let Some(np) = p
                .get("nodePort")
                .and_then(Value::as_u64)
                .and_then(|n| u16::try_from(n).ok())
                && np != 0
            {
                held.ports.push(np);
            }
        }
    }
    held
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alloc() -> ServiceAllocator {
        ServiceAllocator::new("10.43.0.0/16".parse().unwrap(), (30000, 32767))
    }

    #[test]
    fn allocates_ips_and_refuses_taken_node_ports() {
        let a = alloc();
        let mut s1 =
            json!({"spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}});
        a.allocate(&mut s1, None).unwrap();
        assert!(
            s1["spec"]["clusterIP"]
                .as_str()
                .unwrap()
                .starts_with("10.43.")
        );
        let mut s2 =
            json!({"spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}});
        let errs = a.allocate(&mut s2, None).unwrap_err();
        assert_eq!(
            errs[0].to_string(),
            "spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated"
        );
        let mut s3 = json!({"spec": {"type": "NodePort", "ports": [{"port": 80}]}});
        a.allocate(&mut s3, None).unwrap();
        let p = s3["spec"]["ports"][0]["nodePort"].as_u64().unwrap();
        assert!((30000..=32767).contains(&p));
    }

    #[test]
    fn headless_stays_none_and_specific_ip_is_checked() {
        let a = alloc();
        let mut h = json!({"spec": {"clusterIP": "None", "ports": []}});
        a.allocate(&mut h, None).unwrap();
        assert_eq!(h["spec"]["clusterIP"], "None");
        let mut k = json!({"spec": {"clusterIP": "10.43.0.1"}});
        a.allocate(&mut k, None).unwrap();
        let mut k2 = json!({"spec": {"clusterIP": "10.43.0.1"}});
        assert!(a.allocate(&mut k2, None).is_err());
    }
}
