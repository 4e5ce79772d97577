//! Pod CIDRs of simulated nodes and the pod IPs handed out from them.
//!
//! Addresses (documented, never used for traffic; nothing listens on them):
//! - node InternalIP of node `i`: `10.254.0.0 + i + 1` (the `10.254.0.0/16` range);
//! - default pod CIDR of node `i`, when the node has none assigned:
//!   `10.(42 + i / 256).(i % 256).0/24` — so the first 256 nodes use `10.42.0.0/16`,
//!   k3s' default cluster CIDR;
//! - pod IPs start at the CIDR's `.2` (`.1` is the bridge's in a real node).

use std::net::Ipv4Addr;

/// The InternalIP of simulated node `index`.
pub fn node_ip(index: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 254, 0, 0)).wrapping_add(index + 1))
}

/// The pod CIDR a simulated node uses when none is assigned, or `None` past the range.
pub fn default_pod_cidr(index: u32) -> Option<Cidr> {
    let second = 42 + index / 256;
    let second = u8::try_from(second).ok().filter(|&s| s < 254)?;
    Some(Cidr {
        network: Ipv4Addr::new(10, second, (index % 256) as u8, 0),
        prefix: 24,
    })
}

/// An IPv4 CIDR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub network: Ipv4Addr,
    pub prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n`; returns `None` for IPv6 or malformed text.
    pub fn parse(s: &str) -> Option<Cidr> {
        let (ip, prefix) = s.split_once('/')?;
        let ip: Ipv4Addr = ip.parse().ok()?;
        let prefix: u8 = prefix.parse().ok().filter(|p| *p <= 32)?;
        let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
        Some(Cidr {
            network: Ipv4Addr::from(u32::from(ip) & mask),
            prefix,
        })
    }

    /// Number of addresses in the range.
    pub fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.prefix))
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Most addresses a pool tracks (a /16); larger CIDRs use their first /16.
const MAX_POOL: u64 = 1 << 16;

/// A bitmap of the pod IPs in use on one node.
#[derive(Debug, Clone)]
pub struct IpPool {
    cidr: Cidr,
    used: Box<[u64]>,
    /// Offset to try next, so a freed address is not reused at once.
    next: u32,
    limit: u32,
}

impl IpPool {
    pub fn new(cidr: Cidr) -> Self {
        let size = cidr.size().min(MAX_POOL);
        // Skip the network address, `.1` and the broadcast address.
        let limit = u32::try_from(size.saturating_sub(1)).unwrap_or(0);
        IpPool {
            cidr,
            used: vec![0u64; size.div_ceil(64) as usize].into_boxed_slice(),
            next: 2,
            limit,
        }
    }

    pub fn cidr(&self) -> Cidr {
        self.cidr
    }

    fn offset(&self, ip: Ipv4Addr) -> Option<u32> {
        let off = u32::from(ip).wrapping_sub(u32::from(self.cidr.network));
        (off >= 2 && off < self.limit).then_some(off)
    }

    fn bit(&self, off: u32) -> bool {
        self.used[(off / 64) as usize] & (1 << (off % 64)) != 0
    }

    fn set(&mut self, off: u32, v: bool) {
        let w = &mut self.used[(off / 64) as usize];
        if v {
            *w |= 1 << (off % 64);
        } else {
            *w &= !(1 << (off % 64));
        }
    }

    /// Hands out a free address, or `None` when the range is full.
    pub fn allocate(&mut self) -> Option<Ipv4Addr> {
        let span = self.limit.saturating_sub(2);
        for i in 0..span {
            let off = 2 + (self.next - 2 + i) % span;
            if !self.bit(off) {
                self.set(off, true);
                self.next = if off + 1 >= self.limit { 2 } else { off + 1 };
                return Some(Ipv4Addr::from(u32::from(self.cidr.network) + off));
            }
        }
        None
    }

    /// Marks `ip` used (a pod that already has it); false if outside the range or taken.
    pub fn reserve(&mut self, ip: Ipv4Addr) -> bool {
        match self.offset(ip) {
            Some(off) if !self.bit(off) => {
                self.set(off, true);
                true
            }
            _ => false,
        }
    }

    /// Returns `ip` to the pool.
    pub fn release(&mut self, ip: Ipv4Addr) {
        if let Some(off) = self.offset(ip) {
            self.set(off, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(node_ip(0), Ipv4Addr::new(10, 254, 0, 1));
        assert_eq!(node_ip(300), Ipv4Addr::new(10, 254, 1, 45));
        assert_eq!(default_pod_cidr(0).unwrap().to_string(), "10.42.0.0/24");
        assert_eq!(default_pod_cidr(257).unwrap().to_string(), "10.43.1.0/24");
        assert_eq!(
            default_pod_cidr(4999).unwrap().to_string(),
            "10.61.135.0/24"
        );
        assert!(default_pod_cidr(60_000).is_none());
        assert_eq!(
            Cidr::parse("10.42.3.7/24").unwrap().to_string(),
            "10.42.3.0/24"
        );
        assert!(Cidr::parse("fd00::/64").is_none());
    }

    #[test]
    fn pool_allocates_releases_and_fills() {
        let mut p = IpPool::new(Cidr::parse("10.42.0.0/24").unwrap());
        let a = p.allocate().unwrap();
        assert_eq!(a, Ipv4Addr::new(10, 42, 0, 2));
        assert!(!p.reserve(a));
        assert!(p.reserve(Ipv4Addr::new(10, 42, 0, 3)));
        assert_eq!(p.allocate().unwrap(), Ipv4Addr::new(10, 42, 0, 4));
        p.release(a);
        // Freed addresses are reused only after the cursor wraps.
        assert_eq!(p.allocate().unwrap(), Ipv4Addr::new(10, 42, 0, 5));
        let mut n = 0;
        while p.allocate().is_some() {
            n += 1;
        }
        // .2 …. .254 = 253 addresses; 4 were taken before the loop (one freed).
        assert_eq!(n, 253 - 3);
        assert!(!p.reserve(Ipv4Addr::new(10, 42, 1, 9)));
    }
}
