//! The API server's typed configuration, validated by the binary before any socket opens.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

/// An IPv4 CIDR such as `10.43.0.0/16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub base: Ipv4Addr,
    pub prefix: u8,
}

impl Cidr {
    /// Number of addresses in the range.
    pub fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.prefix))
    }

    /// The `n`th address of the range.
    pub fn nth(&self, n: u64) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.base).wrapping_add(n as u32))
    }

    /// The offset of `ip` in the range, if inside.
    pub fn offset(&self, ip: Ipv4Addr) -> Option<u64> {
        let base = u32::from(self.base);
        let v = u32::from(ip);
        (v >= base && u64::from(v - base) < self.size()).then(|| u64::from(v - base))
    }
}

impl std::str::FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (ip, prefix) = s
            .split_once('/')
            .ok_or_else(|| format!("invalid CIDR {s:?}: missing /prefix"))?;
        let ip: Ipv4Addr = ip
            .parse()
            .map_err(|_| format!("invalid CIDR {s:?}: bad address"))?;
        let prefix: u8 = prefix
            .parse()
            .map_err(|_| format!("invalid CIDR {s:?}: bad prefix"))?;
        if !(8..=30).contains(&prefix) {
            return Err(format!(
                "invalid CIDR {s:?}: prefix must be between 8 and 30"
            ));
        }
        let mask = u32::MAX << (32 - u32::from(prefix));
        Ok(Cidr {
            base: Ipv4Addr::from(u32::from(ip) & mask),
            prefix,
        })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

/// Everything the API server needs to start.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub data_dir: PathBuf,
    pub bind_address: IpAddr,
    pub port: u16,
    /// Extra path to write the admin kubeconfig to.
    pub write_kubeconfig: Option<PathBuf>,
    /// Node join token; generated and saved in `DIR/token` when absent.
    pub token: Option<String>,
    /// `sqlite:///path`, `memory://` or etcd `http://host:2379[,…]`; None = SQLite in the data dir.
    pub datastore_endpoint: Option<String>,
    pub service_cidr: Cidr,
    pub cluster_cidr: Cidr,
    pub node_port_range: (u16, u16),
    pub cluster_domain: String,
}

impl ServerConfig {
    /// The first service address, which the `kubernetes` Service gets.
    pub fn first_service_ip(&self) -> Ipv4Addr {
        self.service_cidr.nth(1)
    }
}

/// Parses `30000-32767`.
pub fn parse_port_range(s: &str) -> Result<(u16, u16), String> {
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| format!("invalid port range {s:?}: want FROM-TO"))?;
    let a: u16 = a
        .trim()
        .parse()
        .map_err(|_| format!("invalid port range {s:?}"))?;
    let b: u16 = b
        .trim()
        .parse()
        .map_err(|_| format!("invalid port range {s:?}"))?;
    if a == 0 || b < a {
        return Err(format!("invalid port range {s:?}"));
    }
    Ok((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_math() {
        let c: Cidr = "10.43.0.0/16".parse().unwrap();
        assert_eq!(c.nth(1), Ipv4Addr::new(10, 43, 0, 1));
        assert_eq!(c.offset(Ipv4Addr::new(10, 43, 1, 0)), Some(256));
        assert_eq!(c.offset(Ipv4Addr::new(10, 44, 0, 0)), None);
        assert!("10.43.0.0".parse::<Cidr>().is_err());
        assert_eq!(parse_port_range("30000-32767"), Ok((30000, 32767)));
    }
}
