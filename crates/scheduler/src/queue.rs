//! Scheduling queue: active heap (priority, then FIFO), backoff, and the unschedulable pool.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::pod_info::PodInfo;

/// First backoff after a failed attempt.
pub const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
/// Longest backoff.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Unschedulable pods are retried at least this often.
pub const UNSCHEDULABLE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Active,
    Backoff,
    Unschedulable(Instant),
    InFlight,
}

#[derive(Debug)]
struct Entry {
    info: Arc<PodInfo>,
    state: State,
    attempts: u32,
    last_attempt: Option<Instant>,
    /// Bumped whenever the entry is (re)queued; stale heap items are skipped.
    generation: u64,
    /// Move cycle seen when popped.
    popped_cycle: u64,
    updated_in_flight: bool,
}

#[derive(Debug, PartialEq, Eq)]
struct ActiveItem {
    priority: i32,
    seq: u64,
    key: String,
    generation: u64,
}

impl Ord for ActiveItem {
    fn cmp(&self, o: &Self) -> Ordering {
        self.priority
            .cmp(&o.priority)
            .then_with(|| o.seq.cmp(&self.seq))
    }
}

impl PartialOrd for ActiveItem {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

#[derive(Debug, Default)]
struct Inner {
    pods: HashMap<String, Entry>,
    active: BinaryHeap<ActiveItem>,
    backoff: BinaryHeap<Reverse<(Instant, u64, String)>>,
    seq: u64,
    move_cycle: u64,
    /// Keys in the unschedulable state, so cluster events need not scan every pod.
    parked: std::collections::HashSet<String>,
}

/// A popped pod: its info and how many attempts it has had (including this one).
#[derive(Debug, Clone)]
pub struct Popped {
    pub info: Arc<PodInfo>,
    pub attempts: u32,
}

/// The queue; cheap to share behind an `Arc`.
#[derive(Debug, Default)]
pub struct SchedulingQueue {
    inner: Mutex<Inner>,
    notify: Notify,
}

/// Backoff after `attempts` failed attempts: 1 s doubling, capped at 10 s.
pub fn backoff_duration(attempts: u32) -> Duration {
    let shift = attempts.saturating_sub(1).min(10);
    INITIAL_BACKOFF
        .saturating_mul(1u32 << shift)
        .min(MAX_BACKOFF)
}

impl Inner {
    fn push_active(&mut self, key: &str) {
        self.parked.remove(key);
        let Some(e) = self.pods.get_mut(key) else {
            return;
        };
        self.seq += 1;
        e.generation += 1;
        e.state = State::Active;
        self.active.push(ActiveItem {
            priority: e.info.priority,
            seq: self.seq,
            key: key.to_string(),
            generation: e.generation,
        });
    }

    fn push_backoff_or_active(&mut self, key: &str, now: Instant) {
        self.parked.remove(key);
        let Some(e) = self.pods.get_mut(key) else {
            return;
        };
        let until = e
            .last_attempt
            .map(|t| t + backoff_duration(e.attempts))
            .unwrap_or(now);
        if until <= now {
            self.push_active(key);
        } else {
            e.generation += 1;
            e.state = State::Backoff;
            self.backoff
                .push(Reverse((until, e.generation, key.to_string())));
        }
    }

    fn flush(&mut self, now: Instant) {
        while let Some(Reverse((t, generation, key))) = self.backoff.peek().cloned() {
            if t > now {
                break;
            }
            self.backoff.pop();
            let live = self
                .pods
                .get(&key)
                .is_some_and(|e| e.generation == generation && e.state == State::Backoff);
            if live {
                self.push_active(&key);
            }
        }
        let stale: Vec<String> = self
            .parked
            .iter()
            .filter(|k| {
                self.pods.get(*k).is_some_and(|e| {
                    matches!(e.state, State::Unschedulable(since) if now.duration_since(since) >= UNSCHEDULABLE_TIMEOUT)
                })
            })
            .cloned()
            .collect();
        for k in stale {
            self.push_backoff_or_active(&k, now);
        }
    }
}

impl SchedulingQueue {
    /// Adds a pending pod, or updates a queued one (an update retries an unschedulable pod).
    pub fn add(&self, info: Arc<PodInfo>) {
        let mut q = self.inner.lock();
        let key = info.key.clone();
        match q.pods.get_mut(&key) {
            None => {
                q.pods.insert(
                    key.clone(),
                    Entry {
                        info,
                        state: State::Active,
                        attempts: 0,
                        last_attempt: None,
                        generation: 0,
                        popped_cycle: 0,
                        updated_in_flight: false,
                    },
                );
                q.push_active(&key);
            }
            Some(e) => {
                // Only spec or label changes can change the outcome (not our own status patches).
                let resource_version_changed = e.info.pod.spec != info.pod.spec
                    || e.info.pod.metadata.labels != info.pod.metadata.labels;
                e.info = info;
                match e.state {
                    State::InFlight => e.updated_in_flight |= resource_version_changed,
                    State::Unschedulable(_) if resource_version_changed => {
                        q.push_backoff_or_active(&key, Instant::now());
                    }
                    _ => {}
                }
            }
        }
        drop(q);
        self.notify.notify_one();
    }

    /// Forgets a pod (deleted, bound elsewhere, or no longer ours).
    pub fn delete(&self, key: &str) {
        let mut q = self.inner.lock();
        q.pods.remove(key);
        q.parked.remove(key);
    }

    /// Whether the queue holds the pod in any state.
    pub fn contains(&self, key: &str) -> bool {
        self.inner.lock().pods.contains_key(key)
    }

    /// Waits for the next pod to schedule; `None` once `stop` fires.
    pub async fn pop(&self, stop: &CancellationToken) -> Option<Popped> {
        loop {
            {
                let mut q = self.inner.lock();
                let now = Instant::now();
                q.flush(now);
                while let Some(item) = q.active.pop() {
                    let cycle = q.move_cycle;
                    let Some(e) = q.pods.get_mut(&item.key) else {
                        continue;
                    };
                    if e.generation != item.generation || e.state != State::Active {
                        continue;
                    }
                    e.state = State::InFlight;
                    e.attempts += 1;
                    e.last_attempt = Some(now);
                    e.popped_cycle = cycle;
                    e.updated_in_flight = false;
                    return Some(Popped {
                        info: e.info.clone(),
                        attempts: e.attempts,
                    });
                }
            }
            tokio::select! {
                () = stop.cancelled() => return None,
                () = self.notify.notified() => {}
                () = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    }

    /// The popped pod was bound (or assumed): it leaves the queue.
    pub fn done(&self, key: &str) {
        let mut q = self.inner.lock();
        if q.pods.get(key).is_some_and(|e| e.state == State::InFlight) {
            q.pods.remove(key);
        }
    }

    /// The popped pod fits nowhere: park it until the cluster changes (or back off if it already did).
    pub fn unschedulable(&self, key: &str) {
        let mut q = self.inner.lock();
        let now = Instant::now();
        let cycle = q.move_cycle;
        let Some(e) = q.pods.get_mut(key) else {
            return;
        };
        if e.state != State::InFlight {
            return;
        }
        if e.updated_in_flight || e.popped_cycle < cycle {
            q.push_backoff_or_active(key, now);
        } else {
            e.generation += 1;
            e.state = State::Unschedulable(now);
            q.parked.insert(key.to_string());
        }
    }

    /// The popped pod hit an error (e.g. binding failed): retry after backoff.
    pub fn error(&self, key: &str) {
        let mut q = self.inner.lock();
        if q.pods.get(key).is_some_and(|e| e.state == State::InFlight) {
            q.push_backoff_or_active(key, Instant::now());
        }
    }

    /// Re-adds a pod whose binding failed after it had left the queue.
    pub fn requeue_after_error(&self, info: Arc<PodInfo>, attempts: u32) {
        let mut q = self.inner.lock();
        let key = info.key.clone();
        q.pods.insert(
            key.clone(),
            Entry {
                info,
                state: State::InFlight,
                attempts,
                last_attempt: Some(Instant::now()),
                generation: 0,
                popped_cycle: 0,
                updated_in_flight: false,
            },
        );
        q.push_backoff_or_active(&key, Instant::now());
        drop(q);
        self.notify.notify_one();
    }

    /// A cluster change that may make pods schedulable: retry every unschedulable pod
    /// (those matching `pred`), respecting their backoff.
    pub fn move_all(&self, pred: impl Fn(&PodInfo) -> bool) {
        let mut q = self.inner.lock();
        q.move_cycle += 1;
        let now = Instant::now();
        let keys: Vec<String> = q
            .parked
            .iter()
            .filter(|k| q.pods.get(*k).is_some_and(|e| pred(&e.info)))
            .cloned()
            .collect();
        for k in keys {
            q.push_backoff_or_active(&k, now);
        }
        drop(q);
        self.notify.notify_one();
    }

    /// Counts of (active, backoff, unschedulable, in flight) pods.
    pub fn stats(&self) -> (usize, usize, usize, usize) {
        let q = self.inner.lock();
        let mut s = (0, 0, 0, 0);
        for e in q.pods.values() {
            match e.state {
                State::Active => s.0 += 1,
                State::Backoff => s.1 += 1,
                State::Unschedulable(_) => s.2 += 1,
                State::InFlight => s.3 += 1,
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testutil::pod;
    use serde_json::json;

    fn prio(name: &str, p: i32) -> Arc<PodInfo> {
        pod(name, json!({"spec": {"priority": p}}))
    }

    #[test]
    fn backoff_doubles_to_ten_seconds() {
        assert_eq!(backoff_duration(1), Duration::from_secs(1));
        assert_eq!(backoff_duration(2), Duration::from_secs(2));
        assert_eq!(backoff_duration(4), Duration::from_secs(8));
        assert_eq!(backoff_duration(5), Duration::from_secs(10));
        assert_eq!(backoff_duration(50), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn priority_then_fifo() {
        let q = SchedulingQueue::default();
        let stop = CancellationToken::new();
        q.add(prio("low1", 0));
        q.add(prio("high", 100));
        q.add(prio("low2", 0));
        let mut order = Vec::new();
        for _ in 0..3 {
            order.push(q.pop(&stop).await.unwrap().info.key.clone());
        }
        assert_eq!(order, vec!["default/high", "default/low1", "default/low2"]);
    }

    #[tokio::test(start_paused = true)]
    async fn errors_back_off_then_retry() {
        let q = SchedulingQueue::default();
        let stop = CancellationToken::new();
        q.add(prio("p", 0));
        let first = q.pop(&stop).await.unwrap();
        assert_eq!(first.attempts, 1);
        let t0 = Instant::now();
        q.error("default/p");
        assert_eq!(q.stats(), (0, 1, 0, 0));
        let again = q.pop(&stop).await.unwrap();
        assert_eq!(again.attempts, 2);
        assert!(Instant::now() - t0 >= Duration::from_secs(1));
        q.error("default/p");
        let t1 = Instant::now();
        q.pop(&stop).await.unwrap();
        assert!(Instant::now() - t1 >= Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn unschedulable_waits_for_cluster_change() {
        let q = SchedulingQueue::default();
        let stop = CancellationToken::new();
        q.add(prio("p", 0));
        q.pop(&stop).await.unwrap();
        q.unschedulable("default/p");
        assert_eq!(q.stats(), (0, 0, 1, 0));
        tokio::time::advance(Duration::from_secs(5)).await;
        q.move_all(|_| true);
        let p = q.pop(&stop).await.unwrap();
        assert_eq!(p.attempts, 2);
        q.done("default/p");
        assert!(!q.contains("default/p"));
    }

    #[tokio::test(start_paused = true)]
    async fn unschedulable_retried_after_timeout() {
        let q = SchedulingQueue::default();
        let stop = CancellationToken::new();
        q.add(prio("p", 0));
        q.pop(&stop).await.unwrap();
        q.unschedulable("default/p");
        let t0 = Instant::now();
        q.pop(&stop).await.unwrap();
        assert!(Instant::now() - t0 >= UNSCHEDULABLE_TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn change_during_attempt_skips_parking() {
        let q = SchedulingQueue::default();
        let stop = CancellationToken::new();
        q.add(prio("p", 0));
        q.pop(&stop).await.unwrap();
        q.move_all(|_| true);
        q.unschedulable("default/p");
        assert_eq!(q.stats(), (0, 1, 0, 0));
        stop.cancel();
        q.delete("default/p");
        assert!(q.pop(&stop).await.is_none());
    }
}
