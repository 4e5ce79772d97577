//! Builds the Summary from the runtime's running sandboxes and containers and
//! their cgroups; CPU rates come from the previous read of each cgroup (or a
//! second read a moment later when there is none).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jiff::Timestamp;

use super::cgroup::{CgroupFs, Sample};
use super::types::{
    ContainerStats, CpuStats, MemoryStats, NodeStats, PodReference, PodStats, Summary,
};
use crate::labels;
use crate::podutil;
use crate::runtime::{Result, Runtime, proto};

/// How long apart two reads are when a cgroup has no earlier one.
const FIRST_WINDOW: Duration = Duration::from_millis(100);
/// Earlier reads older than this are not used for a rate.
const STALE: Duration = Duration::from_secs(120);

/// A cgroup's figures and its CPU rate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Measured {
    pub sample: Sample,
    /// Billionths of a core over the last window.
    pub nano_cores: Option<u64>,
}

impl Measured {
    fn cpu(&self, time: &str) -> Option<CpuStats> {
        self.sample.cpu_ns.map(|ns| CpuStats {
            time: time.to_string(),
            usage_nano_cores: self.nano_cores,
            usage_core_nano_seconds: Some(ns),
        })
    }

    /// Memory; `capacity` stands in for the limit when the cgroup has none.
    fn memory(&self, time: &str, capacity: Option<u64>) -> Option<MemoryStats> {
        self.sample.memory.map(|m| MemoryStats {
            time: time.to_string(),
            available_bytes: m
                .limit
                .or(capacity)
                .map(|l| l.saturating_sub(m.working_set)),
            usage_bytes: Some(m.usage),
            working_set_bytes: Some(m.working_set),
            rss_bytes: Some(m.rss),
            page_faults: Some(m.page_faults),
            major_page_faults: Some(m.major_page_faults),
        })
    }

    fn plus(self, other: Measured) -> Measured {
        Measured {
            sample: self.sample.plus(other.sample),
            nano_cores: match (self.nano_cores, other.nano_cores) {
                (None, None) => None,
                (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
            },
        }
    }
}

/// One container as measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerInput {
    pub name: String,
    pub created_at: i64,
    pub measured: Measured,
}

/// One pod as measured: its sandbox (the pause process) and its containers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodInput {
    pub pod_ref: PodReference,
    pub created_at: i64,
    pub sandbox: Measured,
    pub containers: Vec<ContainerInput>,
}

/// Everything the Summary is made of.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Input {
    pub node_name: String,
    /// When the figures were read.
    pub time: Timestamp,
    pub boot_time: Option<Timestamp>,
    pub node: Measured,
    /// The machine's memory (MemTotal).
    pub memory_total: Option<u64>,
    pub pods: Vec<PodInput>,
}

fn rfc3339(nanos: i64) -> String {
    podutil::ts(nanos)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// The Summary of `input` (pure).
pub fn build(input: &Input) -> Summary {
    let time = input.time.to_string();
    let node = NodeStats {
        node_name: input.node_name.clone(),
        start_time: input.boot_time.map(|t| t.to_string()),
        cpu: input.node.cpu(&time),
        memory: input.node.memory(&time, input.memory_total),
    };
    let pods = input
        .pods
        .iter()
        .map(|p| {
            let total = p
                .containers
                .iter()
                .fold(p.sandbox, |acc, c| acc.plus(c.measured));
            PodStats {
                pod_ref: p.pod_ref.clone(),
                start_time: rfc3339(p.created_at),
                containers: p
                    .containers
                    .iter()
                    .map(|c| ContainerStats {
                        name: c.name.clone(),
                        start_time: rfc3339(c.created_at),
                        cpu: c.measured.cpu(&time),
                        memory: c.measured.memory(&time, None),
                    })
                    .collect(),
                cpu: total.cpu(&time),
                memory: total.memory(&time, None),
            }
        })
        .collect();
    Summary { node, pods }
}

/// The machine's boot time, from `/proc/stat`.
fn boot_time() -> Option<Timestamp> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let secs: i64 = stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    Timestamp::from_second(secs).ok()
}

/// MemTotal from `/proc/meminfo`, in bytes.
fn memory_total() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Reads the Summary of a node, remembering each cgroup's CPU time for the next rate.
pub struct Collector {
    fs: Option<CgroupFs>,
    previous: Mutex<HashMap<String, (Instant, u64)>>,
}

impl Collector {
    /// A collector over the cgroup filesystem at `root` (normally `/sys/fs/cgroup`).
    pub fn new(root: &Path) -> Self {
        Collector {
            fs: CgroupFs::detect(root),
            previous: Mutex::new(HashMap::new()),
        }
    }

    fn sample(&self, rel: Option<&str>) -> Sample {
        match (&self.fs, rel) {
            (Some(fs), Some(rel)) => fs.sample(rel),
            _ => Sample::default(),
        }
    }

    /// Reads every cgroup of `groups` (key → cgroup path), with CPU rates.
    async fn measure(&self, groups: &HashMap<String, Option<String>>) -> HashMap<String, Measured> {
        let read_all = || -> HashMap<String, (Instant, Sample)> {
            groups
                .iter()
                .map(|(k, rel)| (k.clone(), (Instant::now(), self.sample(rel.as_deref()))))
                .collect()
        };
        let mut now = read_all();
        let earlier = |prev: &HashMap<String, (Instant, u64)>, k: &str, at: Instant| {
            prev.get(k)
                .filter(|(t, _)| at.duration_since(*t) < STALE && *t < at)
                .copied()
        };
        let need_second = {
            let prev = self.previous.lock().unwrap_or_else(|p| p.into_inner());
            now.iter()
                .any(|(k, (at, s))| s.cpu_ns.is_some() && earlier(&prev, k, *at).is_none())
        };
        if need_second {
            {
                let mut prev = self.previous.lock().unwrap_or_else(|p| p.into_inner());
                for (k, (at, s)) in &now {
                    if let Some(ns) = s.cpu_ns {
                        prev.insert(k.clone(), (*at, ns));
                    }
                }
            }
            tokio::time::sleep(FIRST_WINDOW).await;
            now = read_all();
        }
        let mut prev = self.previous.lock().unwrap_or_else(|p| p.into_inner());
        let out = now
            .iter()
            .map(|(k, (at, s))| {
                let nano_cores = s.cpu_ns.and_then(|ns| {
                    let (t0, ns0) = earlier(&prev, k, *at)?;
                    let window = at.duration_since(t0).as_nanos();
                    let used = u128::from(ns.checked_sub(ns0)?);
                    u64::try_from(used * 1_000_000_000 / window.max(1)).ok()
                });
                (
                    k.clone(),
                    Measured {
                        sample: *s,
                        nano_cores,
                    },
                )
            })
            .collect();
        prev.retain(|k, _| groups.contains_key(k));
        for (k, (at, s)) in now {
            if let Some(ns) = s.cpu_ns {
                prev.insert(k, (at, ns));
            }
        }
        out
    }

    /// The Summary of `node`'s running sandboxes and containers.
    pub async fn summary<R: Runtime>(&self, runtime: &R, node: &str) -> Result<Summary> {
        let selector = labels::node_selector(node);
        let sandboxes: Vec<proto::PodSandbox> = runtime
            .list_pod_sandboxes(selector.clone())
            .await?
            .into_iter()
            .filter(|s| s.state == proto::PodSandboxState::SandboxReady as i32)
            .collect();
        let containers: Vec<proto::Container> = runtime
            .list_containers(selector)
            .await?
            .into_iter()
            .filter(|c| c.state == proto::ContainerState::ContainerRunning as i32)
            .collect();
        let find = |id: &str| self.fs.as_ref().and_then(|fs| fs.find(id));
        let mut groups: HashMap<String, Option<String>> =
            HashMap::from([(String::new(), Some(String::new()))]);
        for id in sandboxes
            .iter()
            .map(|s| &s.id)
            .chain(containers.iter().map(|c| &c.id))
        {
            groups.insert(id.clone(), find(id));
        }
        let measured = self.measure(&groups).await;
        let get = |id: &str| measured.get(id).copied().unwrap_or_default();
        let pods = sandboxes
            .iter()
            .map(|sb| {
                let meta = sb.metadata.clone().unwrap_or_default();
                let mut cs: Vec<ContainerInput> = containers
                    .iter()
                    .filter(|c| c.pod_sandbox_id == sb.id)
                    .map(|c| ContainerInput {
                        name: c
                            .labels
                            .get(labels::CONTAINER_NAME)
                            .cloned()
                            .or_else(|| c.metadata.as_ref().map(|m| m.name.clone()))
                            .unwrap_or_default(),
                        created_at: c.created_at,
                        measured: get(&c.id),
                    })
                    .collect();
                cs.sort_by(|a, b| a.name.cmp(&b.name));
                PodInput {
                    pod_ref: PodReference {
                        name: meta.name,
                        namespace: meta.namespace,
                        uid: meta.uid,
                    },
                    created_at: sb.created_at,
                    sandbox: get(&sb.id),
                    containers: cs,
                }
            })
            .collect();
        Ok(build(&Input {
            node_name: node.to_string(),
            time: Timestamp::now(),
            boot_time: boot_time(),
            node: get(""),
            memory_total: memory_total(),
            pods,
        }))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::cgroup::Memory;
    use super::*;

    fn measured(cpu: u64, cores: u64, ws: u64) -> Measured {
        Measured {
            sample: Sample {
                cpu_ns: Some(cpu),
                memory: Some(Memory {
                    usage: ws + 10,
                    working_set: ws,
                    rss: ws / 2,
                    page_faults: 3,
                    major_page_faults: 0,
                    limit: None,
                }),
            },
            nano_cores: Some(cores),
        }
    }

    #[test]
    fn json_has_upstreams_shape() {
        let input = Input {
            node_name: "n1".into(),
            time: Timestamp::from_second(1_700_000_000).unwrap(),
            boot_time: Some(Timestamp::from_second(1_600_000_000).unwrap()),
            node: measured(9_000, 500_000, 1000),
            memory_total: Some(5000),
            pods: vec![PodInput {
                pod_ref: PodReference {
                    name: "web".into(),
                    namespace: "default".into(),
                    uid: "u1".into(),
                },
                created_at: 1_700_000_000_000_000_000,
                sandbox: measured(100, 10, 40),
                containers: vec![ContainerInput {
                    name: "nginx".into(),
                    created_at: 1_700_000_001_000_000_000,
                    measured: measured(200, 20, 60),
                }],
            }],
        };
        let v = serde_json::to_value(build(&input)).unwrap();
        let t = "2023-11-14T22:13:20Z";
        assert_eq!(
            v["node"],
            json!({"nodeName": "n1", "startTime": "2020-09-13T12:26:40Z",
                "cpu": {"time": t, "usageNanoCores": 500_000, "usageCoreNanoSeconds": 9000},
                "memory": {"time": t, "availableBytes": 4000, "usageBytes": 1010,
                    "workingSetBytes": 1000, "rssBytes": 500, "pageFaults": 3, "majorPageFaults": 0}})
        );
        let pod = &v["pods"][0];
        assert_eq!(
            pod["podRef"],
            json!({"name": "web", "namespace": "default", "uid": "u1"})
        );
        assert_eq!(pod["startTime"], t);
        assert_eq!(pod["cpu"]["usageCoreNanoSeconds"], 300);
        assert_eq!(pod["cpu"]["usageNanoCores"], 30);
        assert_eq!(pod["memory"]["workingSetBytes"], 100);
        assert!(pod["memory"].get("availableBytes").is_none());
        let c = &pod["containers"][0];
        assert_eq!(c["name"], "nginx");
        assert_eq!(c["startTime"], "2023-11-14T22:13:21Z");
        assert_eq!(c["memory"]["usageBytes"], 70);
        assert_eq!(c["memory"]["rssBytes"], 30);
    }

    #[tokio::test]
    async fn rates_come_from_a_second_read() {
        let root = tempfile::tempdir().unwrap();
        let c = Collector::new(root.path());
        let groups = HashMap::from([("x".to_string(), Some("x".to_string()))]);
        let m = c.measure(&groups).await;
        // No cgroup filesystem: nothing measured, no rate.
        assert_eq!(m["x"], Measured::default());
    }
}
