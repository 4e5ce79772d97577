//! Remembers pods a controller created or deleted until its cache has seen them, so a
//! reconcile running on a stale cache does not create or delete twice.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// How long unobserved expectations are trusted before they are dropped (upstream: 5 min).
pub const EXPECTATIONS_TTL: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct Pending {
    creates: HashSet<String>,
    deletes: HashSet<String>,
    since: Instant,
}

/// Outstanding creations (pod names) and deletions (pod uids) per controller key.
#[derive(Debug, Default)]
pub struct Expectations {
    inner: Mutex<HashMap<String, Pending>>,
}

impl Expectations {
    /// Records that pods with these names were just created for `key`.
    pub fn expect_creates(&self, key: &str, names: impl IntoIterator<Item = String>) {
        self.entry(key, |p| p.creates.extend(names));
    }

    /// Records that pods with these uids were just deleted for `key`.
    pub fn expect_deletes(&self, key: &str, uids: impl IntoIterator<Item = String>) {
        self.entry(key, |p| p.deletes.extend(uids));
    }

    fn entry(&self, key: &str, f: impl FnOnce(&mut Pending)) {
        let mut m = self.inner.lock();
        let p = m.entry(key.to_owned()).or_insert_with(|| Pending {
            creates: HashSet::new(),
            deletes: HashSet::new(),
            since: Instant::now(),
        });
        p.since = Instant::now();
        f(p);
    }

    /// Whether the cache has caught up with everything expected for `key`: every created
    /// name is `seen`, every deleted uid is `gone`, or the expectations expired.
    pub fn satisfied(
        &self,
        key: &str,
        seen: impl Fn(&str) -> bool,
        gone: impl Fn(&str) -> bool,
    ) -> bool {
        let mut m = self.inner.lock();
        let Some(p) = m.get_mut(key) else {
            return true;
        };
        p.creates.retain(|n| !seen(n));
        p.deletes.retain(|u| !gone(u));
        if (p.creates.is_empty() && p.deletes.is_empty()) || p.since.elapsed() > EXPECTATIONS_TTL {
            m.remove(key);
            return true;
        }
        false
    }

    /// Forgets everything about `key` (its owner is gone).
    pub fn forget(&self, key: &str) {
        self.inner.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn satisfied_once_everything_observed() {
        let e = Expectations::default();
        assert!(e.satisfied("a", |_| false, |_| false));
        e.expect_creates("a", ["p1".to_owned(), "p2".to_owned()]);
        e.expect_deletes("a", ["u1".to_owned()]);
        assert!(!e.satisfied("a", |n| n == "p1", |_| true));
        assert!(!e.satisfied("a", |_| false, |_| false));
        assert!(e.satisfied("a", |n| n == "p2", |_| false));
        e.expect_creates("b", ["x".to_owned()]);
        e.forget("b");
        assert!(e.satisfied("b", |_| false, |_| false));
    }
}
