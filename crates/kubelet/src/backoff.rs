//! Exponential back-off per key, as upstream's `flowcontrol.Backoff`: 10 s
//! doubling to 300 s for crashing containers and failed pulls, forgotten when
//! the key stays quiet for twice the cap.

use std::collections::HashMap;
use std::time::Duration;

use jiff::Timestamp;

/// The first delay of CrashLoopBackOff and ImagePullBackOff.
pub const INITIAL: Duration = Duration::from_secs(10);
/// Their cap.
pub const MAX: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy)]
struct Entry {
    backoff: Duration,
    last_update: Timestamp,
}

/// Back-off delays per key.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    entries: HashMap<String, Entry>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(INITIAL, MAX)
    }
}

fn since(later: Timestamp, earlier: Timestamp) -> Duration {
    Duration::try_from(later.duration_since(earlier)).unwrap_or(Duration::ZERO)
}

impl Backoff {
    /// Delays from `initial`, doubling up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max,
            entries: HashMap::new(),
        }
    }

    /// The key was quiet for longer than twice the cap since its last update.
    fn expired(&self, e: &Entry, event: Timestamp) -> bool {
        since(event, e.last_update) > 2 * self.max
    }

    /// The current delay of `key`, if any.
    pub fn get(&self, key: &str) -> Option<Duration> {
        self.entries.get(key).map(|e| e.backoff)
    }

    /// Records a failure of `key` at `event`: the first (or the first after a
    /// long quiet) sets the initial delay, later ones double it.
    pub fn next(&mut self, key: &str, event: Timestamp) {
        let backoff = match self.entries.get(key) {
            Some(e) if !self.expired(e, event) => (e.backoff * 2).min(self.max),
            _ => self.initial,
        };
        self.entries.insert(
            key.to_string(),
            Entry {
                backoff,
                last_update: event,
            },
        );
    }

    /// Whether `key` must still wait at `now` after an event at `event`
    /// (a container's finish time); returns the time left.
    pub fn remaining_since(&self, key: &str, event: Timestamp, now: Timestamp) -> Option<Duration> {
        let e = self.entries.get(key)?;
        if self.expired(e, event) {
            return None;
        }
        let waited = since(now, event);
        (waited < e.backoff).then(|| e.backoff - waited)
    }

    /// Whether `key` must still wait at `now` after its last update.
    pub fn remaining_since_update(&self, key: &str, now: Timestamp) -> Option<Duration> {
        let e = self.entries.get(key)?;
        self.remaining_since(key, e.last_update, now)
    }

    /// Forgets `key`.
    pub fn reset(&mut self, key: &str) {
        self.entries.remove(key);
    }

    /// Forgets keys quiet for longer than twice the cap.
    pub fn gc(&mut self, now: Timestamp) {
        let limit = 2 * self.max;
        self.entries
            .retain(|_, e| since(now, e.last_update) <= limit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).unwrap()
    }

    #[test]
    fn crash_loop_delays_double_to_the_cap() {
        let mut b = Backoff::default();
        // The first failure restarts at once (no entry yet), as upstream.
        assert_eq!(b.remaining_since("c", t(0), t(0)), None);
        b.next("c", t(0));
        let mut delays = vec![];
        let mut now = 0;
        for _ in 0..8 {
            // The container fails again right after its restart.
            let left = b.remaining_since("c", t(now), t(now)).unwrap();
            delays.push(left.as_secs());
            now += left.as_secs() as i64;
            assert_eq!(
                b.remaining_since("c", t(now - left.as_secs() as i64), t(now)),
                None
            );
            b.next("c", t(now));
        }
        assert_eq!(delays, [10, 20, 40, 80, 160, 300, 300, 300]);
    }

    #[test]
    fn a_long_quiet_resets_the_delay() {
        let mut b = Backoff::default();
        for s in [0, 1, 2, 3] {
            b.next("c", t(s));
        }
        assert_eq!(b.get("c"), Some(Duration::from_secs(80)));
        // Ten minutes later the delay starts over.
        b.next("c", t(3 + 601));
        assert_eq!(b.get("c"), Some(INITIAL));
        assert_eq!(
            b.remaining_since("c", t(604), t(607)),
            Some(Duration::from_secs(7))
        );
        b.gc(t(604 + 601));
        assert_eq!(b.get("c"), None);
    }

    #[test]
    fn pull_backoff_counts_from_the_last_failure() {
        let mut b = Backoff::default();
        assert_eq!(b.remaining_since_update("pull", t(0)), None);
        b.next("pull", t(0));
        assert_eq!(
            b.remaining_since_update("pull", t(4)),
            Some(Duration::from_secs(6))
        );
        assert_eq!(b.remaining_since_update("pull", t(10)), None);
        b.reset("pull");
        assert_eq!(b.get("pull"), None);
    }
}
