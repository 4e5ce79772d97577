//! Facts about the machine: CPUs, memory, disk, kernel, OS, addresses.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

/// What the Node reports about its machine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MachineInfo {
    /// Logical CPUs.
    pub cpus: u32,
    /// `MemTotal` in bytes.
    pub memory_bytes: u64,
    /// Size of the file system that holds the agent's directory, in bytes.
    pub disk_bytes: u64,
    /// `/proc/sys/kernel/osrelease`.
    pub kernel_version: String,
    /// `PRETTY_NAME` of `/etc/os-release`.
    pub os_image: String,
    /// `/etc/machine-id`.
    pub machine_id: String,
    /// `/proc/sys/kernel/random/boot_id`.
    pub boot_id: String,
    /// `/sys/class/dmi/id/product_uuid`, else the machine id.
    pub system_uuid: String,
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// A `/proc/meminfo` field in bytes.
pub fn meminfo_bytes(text: &str, field: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(field)?.strip_prefix(':')?;
        let kb: u64 = rest.split_whitespace().next()?.parse().ok()?;
        Some(kb * 1024)
    })
}

/// The `PRETTY_NAME` of an os-release file.
pub fn pretty_name(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
}

/// `(total, available)` bytes of the file system holding `path`.
pub fn filesystem(path: &Path) -> Option<(u64, u64)> {
    let mut p = path;
    // The directory may not exist yet: ask its nearest ancestor.
    while !p.exists() {
        p = p.parent()?;
    }
    let st = nix::sys::statvfs::statvfs(p).ok()?;
    let frag = st.fragment_size() as u64;
    Some((
        st.blocks() as u64 * frag,
        st.blocks_available() as u64 * frag,
    ))
}

/// `MemAvailable` in bytes.
pub fn memory_available() -> Option<u64> {
    meminfo_bytes(
        &std::fs::read_to_string("/proc/meminfo").ok()?,
        "MemAvailable",
    )
}

impl MachineInfo {
    /// Reads the facts; `dir` is the agent's directory.
    pub fn read(dir: &Path) -> Self {
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let machine_id = read_trimmed("/etc/machine-id");
        let uuid = read_trimmed("/sys/class/dmi/id/product_uuid");
        MachineInfo {
            cpus: std::thread::available_parallelism()
                .map(|n| n.get() as u32)
                .unwrap_or(1),
            memory_bytes: meminfo_bytes(&meminfo, "MemTotal").unwrap_or(0),
            disk_bytes: filesystem(dir).map_or(0, |(t, _)| t),
            kernel_version: read_trimmed("/proc/sys/kernel/osrelease"),
            os_image: std::fs::read_to_string("/etc/os-release")
                .ok()
                .and_then(|t| pretty_name(&t))
                .unwrap_or_else(|| "Linux".into()),
            system_uuid: if uuid.is_empty() {
                machine_id.clone()
            } else {
                uuid
            },
            machine_id,
            boot_id: read_trimmed("/proc/sys/kernel/random/boot_id"),
        }
    }
}

/// The interface of the IPv4 default route in a `/proc/net/route` table.
pub fn default_route_interface(route_table: &str) -> Option<String> {
    route_table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() > 2 && f[1] == "00000000").then(|| f[0].to_string())
    })
}

/// The node's address: the IPv4 address of the default route's interface,
/// else the first non-loopback IPv4 address, else 127.0.0.1. Only read from
/// the interfaces; nothing is sent.
pub fn primary_ip() -> IpAddr {
    let iface = std::fs::read_to_string("/proc/net/route")
        .ok()
        .and_then(|t| default_route_interface(&t));
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return IpAddr::V4(Ipv4Addr::LOCALHOST);
    };
    let v4: Vec<(String, Ipv4Addr)> = addrs
        .filter_map(|a| {
            let ip = a.address?.as_sockaddr_in()?.ip();
            Some((a.interface_name, ip))
        })
        .filter(|(_, ip)| !ip.is_loopback())
        .collect();
    v4.iter()
        .find(|(name, _)| Some(name) == iface.as_ref())
        .or(v4.first())
        .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |(_, ip)| IpAddr::V4(*ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        let mem = "MemTotal:       24683564 kB\nMemFree:  1 kB\nMemAvailable:   22983564 kB\n";
        assert_eq!(meminfo_bytes(mem, "MemTotal"), Some(24683564 * 1024));
        assert_eq!(meminfo_bytes(mem, "MemAvailable"), Some(22983564 * 1024));
        assert_eq!(meminfo_bytes(mem, "Swap"), None);
        let routes = "Iface\tDestination\tGateway \tFlags\nbr0\t00002A0A\t00000000\t0001\neth0\t00000000\t010200C0\t0003\n";
        assert_eq!(default_route_interface(routes).as_deref(), Some("eth0"));
        assert_eq!(
            pretty_name("NAME=\"Debian\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n")
                .as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
    }

    #[test]
    fn reads_this_machine() {
        let m = MachineInfo::read(Path::new("/tmp/does/not/exist"));
        assert!(m.cpus >= 1);
        assert!(m.memory_bytes > 0);
        assert!(m.disk_bytes > 0);
        assert!(!m.kernel_version.is_empty());
    }
}
