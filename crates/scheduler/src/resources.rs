//! Resource quantities, node allocatable and pod requests in integer units.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// CPU request assumed for a container without one when scoring (millicores).
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// Memory request assumed for a container without one when scoring (bytes).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// Amounts of the resources the scheduler accounts for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    pub milli_cpu: i64,
    pub memory: i64,
    pub ephemeral_storage: i64,
    /// Number of pods (only meaningful for allocatable).
    pub pods: i64,
    /// Extended and other scalar resources, in their base unit (milli for fractional ones is not needed).
    pub scalar: BTreeMap<String, i64>,
}

impl Resources {
    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &Resources) {
        self.milli_cpu += other.milli_cpu;
        self.memory += other.memory;
        self.ephemeral_storage += other.ephemeral_storage;
        self.pods += other.pods;
        for (k, v) in &other.scalar {
            *self.scalar.entry(k.clone()).or_default() += v;
        }
    }

    /// Subtracts `other` from `self`.
    pub fn sub(&mut self, other: &Resources) {
        self.milli_cpu -= other.milli_cpu;
        self.memory -= other.memory;
        self.ephemeral_storage -= other.ephemeral_storage;
        self.pods -= other.pods;
        for (k, v) in &other.scalar {
            *self.scalar.entry(k.clone()).or_default() -= v;
        }
    }

    /// Per-resource maximum of `self` and `other`.
    pub fn max_with(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.max(other.milli_cpu);
        self.memory = self.memory.max(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(other.ephemeral_storage);
        self.pods = self.pods.max(other.pods);
        for (k, v) in &other.scalar {
            let e = self.scalar.entry(k.clone()).or_default();
            *e = (*e).max(*v);
        }
    }

    /// True when nothing is requested.
    pub fn is_zero(&self) -> bool {
        self.milli_cpu == 0
            && self.memory == 0
            && self.ephemeral_storage == 0
            && self.scalar.values().all(|v| *v == 0)
    }

    /// Builds from a resource list (`capacity`, `allocatable`, `requests`).
    pub fn from_list(list: Option<&BTreeMap<String, Quantity>>) -> Resources {
        let mut r = Resources::default();
        let Some(list) = list else { return r };
        for (name, q) in list {
            match name.as_str() {
                "cpu" => r.milli_cpu = parse_milli(&q.0).unwrap_or(0),
                "memory" => r.memory = parse_units(&q.0).unwrap_or(0),
                "ephemeral-storage" => r.ephemeral_storage = parse_units(&q.0).unwrap_or(0),
                "pods" => r.pods = parse_units(&q.0).unwrap_or(0),
                other if is_scalar(other) => {
                    r.scalar
                        .insert(other.to_string(), parse_units(&q.0).unwrap_or(0));
                }
                _ => {}
            }
        }
        r
    }
}

/// Whether a resource name is an extended/hugepages/attachable resource counted as a scalar.
fn is_scalar(name: &str) -> bool {
    name.starts_with("hugepages-")
        || name.starts_with("attachable-volumes-")
        || (name.contains('/') && !name.starts_with("kubernetes.io/"))
}

/// Parses a quantity into a float of base units.
pub fn parse_quantity(s: &str) -> Option<f64> {
    rkube_api::quantity::parse(s).ok()
}

/// Parses a quantity in millis (CPU), rounding up like upstream's `MilliValue`.
pub fn parse_milli(s: &str) -> Option<i64> {
    parse_quantity(s).map(|v| (v * 1000.0 - 1e-9).ceil() as i64)
}

/// Parses a quantity in whole units, rounding up like upstream's `Value`.
pub fn parse_units(s: &str) -> Option<i64> {
    parse_quantity(s).map(|v| (v - 1e-9).ceil() as i64)
}

/// A container's effective requests: requests, falling back to limits.
fn container_requests(c: &Container) -> Resources {
    let Some(res) = c.resources.as_ref() else {
        return Resources::default();
    };
    let mut r = Resources::from_list(res.limits.as_ref());
    let req = Resources::from_list(res.requests.as_ref());
    if let Some(reqs) = res.requests.as_ref() {
        if reqs.contains_key("cpu") {
            r.milli_cpu = req.milli_cpu;
        }
        if reqs.contains_key("memory") {
            r.memory = req.memory;
        }
        if reqs.contains_key("ephemeral-storage") {
            r.ephemeral_storage = req.ephemeral_storage;
        }
        for (k, v) in req.scalar {
            r.scalar.insert(k, v);
        }
    }
    r.pods = 0;
    r
}

/// Requests of a pod: max(sum of containers + sidecars, any init container step) + overhead.
/// Also returns the "non-zero" cpu/memory used for scoring.
pub fn pod_requests(pod: &Pod) -> (Resources, i64, i64) {
    let Some(spec) = pod.spec.as_ref() else {
        return (
            Resources::default(),
            DEFAULT_MILLI_CPU_REQUEST,
            DEFAULT_MEMORY_REQUEST,
        );
    };
    let mut sum = Resources::default();
    let (mut nz_cpu, mut nz_mem) = (0i64, 0i64);
    for c in &spec.containers {
        let r = container_requests(c);
        nz_cpu += non_zero(c, "cpu", r.milli_cpu, DEFAULT_MILLI_CPU_REQUEST);
        nz_mem += non_zero(c, "memory", r.memory, DEFAULT_MEMORY_REQUEST);
        sum.add(&r);
    }
    let mut sidecars = Resources::default();
    let mut init_max = Resources::default();
    let (mut init_nz_cpu, mut init_nz_mem) = (0i64, 0i64);
    let (mut side_nz_cpu, mut side_nz_mem) = (0i64, 0i64);
    for c in spec.init_containers.iter().flatten() {
        let r = container_requests(c);
        let cpu = non_zero(c, "cpu", r.milli_cpu, DEFAULT_MILLI_CPU_REQUEST);
        let mem = non_zero(c, "memory", r.memory, DEFAULT_MEMORY_REQUEST);
        if c.restart_policy.as_deref() == Some("Always") {
            sidecars.add(&r);
            side_nz_cpu += cpu;
            side_nz_mem += mem;
            init_max.max_with(&sidecars);
        } else {
            let mut step = r;
            step.add(&sidecars);
            init_max.max_with(&step);
            init_nz_cpu = init_nz_cpu.max(cpu + side_nz_cpu);
            init_nz_mem = init_nz_mem.max(mem + side_nz_mem);
        }
    }
    sum.add(&sidecars);
    sum.max_with(&init_max);
    nz_cpu = (nz_cpu + side_nz_cpu).max(init_nz_cpu);
    nz_mem = (nz_mem + side_nz_mem).max(init_nz_mem);
    if let Some(overhead) = spec.overhead.as_ref() {
        let o = Resources::from_list(Some(overhead));
        nz_cpu += o.milli_cpu;
        nz_mem += o.memory;
        sum.add(&o);
    }
    sum.pods = 0;
    (sum, nz_cpu, nz_mem)
}

fn non_zero(c: &Container, name: &str, value: i64, default: i64) -> i64 {
    let set = c.resources.as_ref().is_some_and(|r| {
        r.requests.as_ref().is_some_and(|m| m.contains_key(name))
            || r.limits.as_ref().is_some_and(|m| m.contains_key(name))
    });
    if set { value } else { default }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn quantities() {
        assert_eq!(parse_milli("100m"), Some(100));
        assert_eq!(parse_milli("2"), Some(2000));
        assert_eq!(parse_milli("0.5"), Some(500));
        assert_eq!(parse_units("1Gi"), Some(1 << 30));
        assert_eq!(parse_units("1G"), Some(1_000_000_000));
        assert_eq!(parse_units("1e3"), Some(1000));
        assert_eq!(parse_units("110"), Some(110));
        assert_eq!(parse_units("bogus"), None);
    }

    #[test]
    fn init_containers_max_rule_and_overhead() {
        let p = pod(json!({"spec": {
            "containers": [
                {"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "100Mi"}}},
                {"name": "b", "resources": {"requests": {"cpu": "200m"}}}
            ],
            "initContainers": [
                {"name": "i", "resources": {"requests": {"cpu": "500m", "memory": "10Mi"}}}
            ],
            "overhead": {"cpu": "10m"}
        }}));
        let (r, nz_cpu, nz_mem) = pod_requests(&p);
        assert_eq!(r.milli_cpu, 510);
        assert_eq!(r.memory, 100 * 1024 * 1024);
        assert_eq!(nz_cpu, 510);
        assert_eq!(nz_mem, 100 * 1024 * 1024 + DEFAULT_MEMORY_REQUEST);
    }

    #[test]
    fn sidecars_add_to_containers() {
        let p = pod(json!({"spec": {
            "containers": [{"name": "a", "resources": {"requests": {"cpu": "100m"}}}],
            "initContainers": [
                {"name": "s", "restartPolicy": "Always", "resources": {"requests": {"cpu": "50m"}}},
                {"name": "i", "resources": {"requests": {"cpu": "120m", "example.com/gpu": "1"}}}
            ]
        }}));
        let (r, _, _) = pod_requests(&p);
        assert_eq!(r.milli_cpu, 170);
        assert_eq!(r.scalar.get("example.com/gpu"), Some(&1));
    }

    #[test]
    fn limits_used_when_requests_missing() {
        let p = pod(json!({"spec": {"containers": [
            {"name": "a", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}
        ]}}));
        let (r, _, _) = pod_requests(&p);
        assert_eq!(r.milli_cpu, 1000);
        assert_eq!(r.memory, 1 << 30);
    }
}
