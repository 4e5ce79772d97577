//! Reads CPU and memory usage of a cgroup from the cgroup filesystem (v1
//! controllers or the v2 unified tree) and finds a container's cgroup by its id.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where containerd puts its containers' cgroups with the cgroupfs driver and no parent.
pub const CONTAINERD_PARENT: &str = "k8s.io";

/// Counts beyond this are the kernel's "no limit".
const NO_LIMIT: u64 = 1 << 60;

/// Memory figures of one cgroup, in bytes (faults in counts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    pub usage: u64,
    pub working_set: u64,
    pub rss: u64,
    pub page_faults: u64,
    pub major_page_faults: u64,
    /// The cgroup's limit, when it has one.
    pub limit: Option<u64>,
}

/// What one read of a cgroup gave.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sample {
    /// CPU time used since creation, in nanoseconds.
    pub cpu_ns: Option<u64>,
    pub memory: Option<Memory>,
}

impl Sample {
    /// The sum of two samples (a pod from its containers); a limit survives only when both have one.
    pub fn plus(self, other: Sample) -> Sample {
        let sum = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        };
        let memory = match (self.memory, other.memory) {
            (Some(a), Some(b)) => Some(Memory {
                usage: a.usage + b.usage,
                working_set: a.working_set + b.working_set,
                rss: a.rss + b.rss,
                page_faults: a.page_faults + b.page_faults,
                major_page_faults: a.major_page_faults + b.major_page_faults,
                limit: a.limit.zip(b.limit).map(|(x, y)| x.saturating_add(y)),
            }),
            (a, b) => a.or(b),
        };
        Sample {
            cpu_ns: sum(self.cpu_ns, other.cpu_ns),
            memory,
        }
    }
}

/// The cgroup filesystem of the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupFs {
    /// Controllers mounted one per directory (`cpuacct/`, `memory/`).
    V1(PathBuf),
    /// One unified tree.
    V2(PathBuf),
}

fn read_u64(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// `key value` lines (memory.stat, cpu.stat).
fn read_kv(path: &Path) -> Option<HashMap<String, u64>> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(
        text.lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                Some((f.next()?.to_string(), f.next()?.parse().ok()?))
            })
            .collect(),
    )
}

impl CgroupFs {
    /// The layout under `root` (normally `/sys/fs/cgroup`); v1 when a `memory`
    /// controller directory exists (a hybrid machine counts as v1).
    pub fn detect(root: &Path) -> Option<CgroupFs> {
        if root.join("memory/memory.usage_in_bytes").exists() {
            Some(CgroupFs::V1(root.to_path_buf()))
        } else if root.join("cgroup.controllers").exists() {
            Some(CgroupFs::V2(root.to_path_buf()))
        } else {
            None
        }
    }

    /// The directory where memory figures of `rel` live (used to find cgroups).
    fn memory_dir(&self, rel: &str) -> PathBuf {
        match self {
            CgroupFs::V1(root) => root.join("memory").join(rel),
            CgroupFs::V2(root) => root.join(rel),
        }
    }

    /// The cgroup (relative to the hierarchy's root) of the container or sandbox
    /// `id`: containerd's `k8s.io/<id>`, else `<any parent>/<id>` one level down.
    pub fn find(&self, id: &str) -> Option<String> {
        if id.is_empty() || id.contains('/') {
            return None;
        }
        let direct = format!("{CONTAINERD_PARENT}/{id}");
        if self.memory_dir(&direct).is_dir() {
            return Some(direct);
        }
        let top = std::fs::read_dir(self.memory_dir("")).ok()?;
        top.flatten()
            .filter(|e| e.path().is_dir())
            .map(|e| format!("{}/{id}", e.file_name().to_string_lossy()))
            .find(|rel| self.memory_dir(rel).is_dir())
    }

    /// Reads the cgroup `rel` ("" for the root: the whole machine).
    pub fn sample(&self, rel: &str) -> Sample {
        match self {
            CgroupFs::V1(root) => {
                let cpu = root.join("cpuacct").join(rel);
                let mem = root.join("memory").join(rel);
                Sample {
                    cpu_ns: read_u64(&cpu.join("cpuacct.usage")),
                    memory: read_u64(&mem.join("memory.usage_in_bytes")).map(|usage| {
                        let st = read_kv(&mem.join("memory.stat")).unwrap_or_default();
                        // Hierarchical totals when the kernel gives them.
                        let get = |k: &str| {
                            st.get(&format!("total_{k}"))
                                .or_else(|| st.get(k))
                                .copied()
                                .unwrap_or(0)
                        };
                        Memory {
                            usage,
                            working_set: usage.saturating_sub(get("inactive_file")),
                            rss: get("rss"),
                            page_faults: get("pgfault"),
                            major_page_faults: get("pgmajfault"),
                            limit: read_u64(&mem.join("memory.limit_in_bytes"))
                                .filter(|l| *l < NO_LIMIT),
                        }
                    }),
                }
            }
            CgroupFs::V2(root) => {
                let dir = root.join(rel);
                let cpu = read_kv(&dir.join("cpu.stat"))
                    .and_then(|s| s.get("usage_usec").copied())
                    .map(|us| us * 1000);
                let st = read_kv(&dir.join("memory.stat")).unwrap_or_default();
                let get = |k: &str| st.get(k).copied().unwrap_or(0);
                // The root has no memory.current: used = anon + file.
                let usage = read_u64(&dir.join("memory.current"))
                    .or_else(|| (!st.is_empty()).then(|| get("anon") + get("file")));
                Sample {
                    cpu_ns: cpu,
                    memory: usage.map(|usage| Memory {
                        usage,
                        working_set: usage.saturating_sub(get("inactive_file")),
                        rss: get("anon"),
                        page_faults: get("pgfault"),
                        major_page_faults: get("pgmajfault"),
                        limit: read_u64(&dir.join("memory.max")).filter(|l| *l < NO_LIMIT),
                    }),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn v1_reads_hierarchical_totals_and_finds_containers() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        write(&r.join("memory/memory.usage_in_bytes"), "1000\n");
        let c = "k8s.io/abc";
        write(&r.join("cpuacct").join(c).join("cpuacct.usage"), "5000\n");
        write(
            &r.join("memory").join(c).join("memory.usage_in_bytes"),
            "300\n",
        );
        write(
            &r.join("memory").join(c).join("memory.limit_in_bytes"),
            "9223372036854771712\n",
        );
        write(
            &r.join("memory").join(c).join("memory.stat"),
            "rss 1\ninactive_file 2\ntotal_rss 100\ntotal_inactive_file 50\ntotal_pgfault 7\ntotal_pgmajfault 1\n",
        );
        write(&r.join("memory/other/xyz/memory.usage_in_bytes"), "1\n");
        let fs = CgroupFs::detect(r).unwrap();
        assert!(matches!(fs, CgroupFs::V1(_)));
        assert_eq!(fs.find("abc").as_deref(), Some("k8s.io/abc"));
        assert_eq!(fs.find("xyz").as_deref(), Some("other/xyz"));
        assert_eq!(fs.find("nope"), None);
        assert_eq!(fs.find("../x"), None);
        let s = fs.sample(c);
        assert_eq!(s.cpu_ns, Some(5000));
        let m = s.memory.unwrap();
        assert_eq!((m.usage, m.working_set, m.rss), (300, 250, 100));
        assert_eq!((m.page_faults, m.major_page_faults, m.limit), (7, 1, None));
        let sum = s.plus(s);
        assert_eq!(sum.cpu_ns, Some(10_000));
        assert_eq!(sum.memory.unwrap().working_set, 500);
    }

    #[test]
    fn v2_reads_cpu_stat_and_memory_current() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        write(&r.join("cgroup.controllers"), "cpu memory\n");
        let c = r.join("k8s.io/abc");
        write(&c.join("cpu.stat"), "usage_usec 12\nuser_usec 10\n");
        write(&c.join("memory.current"), "4096\n");
        write(&c.join("memory.max"), "8192\n");
        write(&c.join("memory.stat"), "anon 1024\ninactive_file 96\n");
        let fs = CgroupFs::detect(r).unwrap();
        assert!(matches!(fs, CgroupFs::V2(_)));
        let s = fs.sample("k8s.io/abc");
        assert_eq!(s.cpu_ns, Some(12_000));
        let m = s.memory.unwrap();
        assert_eq!(
            (m.usage, m.working_set, m.rss, m.limit),
            (4096, 4000, 1024, Some(8192))
        );
        assert_eq!(fs.sample("k8s.io/gone"), Sample::default());
    }
}
