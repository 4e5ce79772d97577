//! Plays the kubelet's part for every pod bound to a simulated node: one watch,
//! one timer wheel, and a bounded number of status updates and deletions in flight.

use std::collections::{HashMap, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use futures::stream::FuturesUnordered;
use futures::{StreamExt, future::BoxFuture};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::time::{DelayQueue, delay_queue};

use crate::clock::Clock;
use crate::fleet::Fleet;
use crate::ipam::IpPool;
use crate::podsim::{PodSim, unready_gate};
use crate::status::{Context, render};

/// Delay before retrying a failed request for a pod.
const RETRY: Duration = Duration::from_secs(1);

/// What the node tracks for one pod bound to it.
#[derive(Debug)]
struct Entry {
    namespace: String,
    name: String,
    uid: String,
    node: u32,
    /// The pod IP we hold in the node's pool (not for hostNetwork pods).
    ip: Option<Ipv4Addr>,
    /// Whether `ip` went back to the pool (the pod finished; status still shows it).
    ip_released: bool,
    host_network: bool,
    /// `None` for pods found already finished: nothing left to simulate.
    sim: Option<PodSim>,
    /// When to finish a pod that is being deleted.
    delete_at: Option<Instant>,
    timer: Option<delay_queue::Key>,
    queued: bool,
    in_flight: bool,
    dirty: bool,
    /// Hash of the last status patch that succeeded.
    last_sent: u64,
    epoch: u64,
}

/// The result of one request: the pod key, the hash of a status sent, and success.
type Done = (String, Option<u64>, bool);

/// The pod half of the simulator.
pub struct Engine {
    client: kube::Client,
    fleet: Arc<Fleet>,
    clock: Clock,
    pools: Vec<IpPool>,
    pods: HashMap<String, Entry>,
    timers: DelayQueue<String>,
    queue: VecDeque<String>,
    in_flight: FuturesUnordered<BoxFuture<'static, Done>>,
    epoch: u64,
}

fn key_of(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    )
}

fn hash_value(v: &serde_json::Value) -> u64 {
    let mut h = DefaultHasher::new();
    v.to_string().hash(&mut h);
    h.finish()
}

impl Engine {
    pub fn new(client: kube::Client, fleet: Arc<Fleet>) -> Self {
        let pools = fleet.nodes.iter().map(|n| IpPool::new(n.cidr)).collect();
        Engine {
            client,
            fleet,
            clock: Clock::now(),
            pools,
            pods: HashMap::new(),
            timers: DelayQueue::new(),
            queue: VecDeque::new(),
            in_flight: FuturesUnordered::new(),
            epoch: 0,
        }
    }

    /// Runs until `stop`.
    pub async fn run(mut self, mut resumed: mpsc::UnboundedReceiver<u32>, stop: CancellationToken) {
        let api: Api<Pod> = Api::all(self.client.clone());
        let cfg = watcher::Config::default()
            .fields("spec.nodeName!=")
            .page_size(500);
        let mut events = watcher(api, cfg).default_backoff().boxed();
        let max = self.fleet.config.max_in_flight.max(1);
        loop {
            while self.in_flight.len() < max {
                let Some(key) = self.queue.pop_front() else {
                    break;
                };
                self.start_sync(key);
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                ev = events.next() => match ev {
                    Some(Ok(ev)) => self.on_event(ev),
                    Some(Err(e)) => tracing::warn!(error = %e, "pod watch failed; retrying"),
                    None => return,
                },
                Some(exp) = self.timers.next() => {
                    let key = exp.into_inner();
                    self.on_timer(&key);
                }
                Some(done) = self.in_flight.next() => self.on_done(done),
                Some(node) = resumed.recv() => self.on_resume(node),
            }
        }
    }

    fn on_event(&mut self, ev: watcher::Event<Pod>) {
        match ev {
            watcher::Event::Init => self.epoch += 1,
            watcher::Event::InitApply(pod) | watcher::Event::Apply(pod) => self.on_apply(&pod),
            watcher::Event::Delete(pod) => self.remove(&key_of(&pod)),
            watcher::Event::InitDone => {
                let stale: Vec<String> = self
                    .pods
                    .iter()
                    .filter(|(_, e)| e.epoch != self.epoch)
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in stale {
                    self.remove(&k);
                }
                tracing::info!(pods = self.pods.len(), "simulated nodes synced their pods");
            }
        }
    }

    fn on_apply(&mut self, pod: &Pod) {
        let node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref());
        let Some(&node) = node.and_then(|n| self.fleet.by_name.get(n)) else {
            return;
        };
        let key = key_of(pod);
        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        if self.pods.get(&key).is_some_and(|e| e.uid != uid) {
            self.remove(&key);
        }
        let now = Instant::now();
        if !self.pods.contains_key(&key) {
            let entry = self.adopt(pod, node, now);
            self.pods.insert(key.clone(), entry);
            self.advance(&key, now);
            self.enqueue(&key);
        }
        let epoch = self.epoch;
        let termination = self.fleet.config.termination_delay;
        let Some(e) = self.pods.get_mut(&key) else {
            return;
        };
        e.epoch = epoch;
        if pod.metadata.deletion_timestamp.is_some() && e.delete_at.is_none() {
            let grace = pod
                .metadata
                .deletion_grace_period_seconds
                .unwrap_or(0)
                .max(0);
            let delay = termination.min(Duration::from_secs(grace.unsigned_abs()));
            e.delete_at = Some(now + delay);
            self.schedule(&key, now + delay);
            return;
        }
        let gate = unready_gate(pod);
        if e.sim.as_mut().is_some_and(|s| s.set_gate(gate, now)) {
            self.enqueue(&key);
        }
    }

    /// Starts tracking a pod: reuses its IP and start time when it already has them.
    fn adopt(&mut self, pod: &Pod, node: u32, now: Instant) -> Entry {
        let status = pod.status.as_ref();
        let host_network = pod
            .spec
            .as_ref()
            .and_then(|s| s.host_network)
            .unwrap_or(false);
        let finished = status
            .and_then(|s| s.phase.as_deref())
            .is_some_and(|p| p == "Succeeded" || p == "Failed");
        let started = status
            .and_then(|s| s.start_time.as_ref())
            .map_or(now, |t| self.clock.instant(t.0).min(now));
        let mut ip = None;
        if !host_network && !finished {
            let pool = &mut self.pools[node as usize];
            let old = status
                .and_then(|s| s.pod_ip.as_deref())
                .and_then(|s| s.parse::<Ipv4Addr>().ok());
            ip = match old {
                Some(old) if pool.reserve(old) => Some(old),
                _ => pool.allocate(),
            };
            if ip.is_none() {
                tracing::warn!(pod = %key_of(pod), node = %self.fleet.nodes[node as usize].name, "pod CIDR exhausted");
            }
        }
        let ready_delay = self.fleet.config.ready_delay;
        Entry {
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            name: pod.metadata.name.clone().unwrap_or_default(),
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            node,
            ip,
            ip_released: false,
            host_network,
            sim: (!finished).then(|| PodSim::new(pod, started, ready_delay)),
            delete_at: None,
            timer: None,
            queued: false,
            in_flight: false,
            dirty: false,
            last_sent: 0,
            epoch: self.epoch,
        }
    }

    /// Steps a pod's simulation to `now` and arms its timer for the next change.
    fn advance(&mut self, key: &str, now: Instant) {
        let Some(e) = self.pods.get_mut(key) else {
            return;
        };
        if e.delete_at.is_some() {
            return;
        }
        if let Some(next) = e.sim.as_mut().and_then(|s| s.advance(now)) {
            self.schedule(key, next);
        }
    }

    fn schedule(&mut self, key: &str, at: Instant) {
        let Some(e) = self.pods.get_mut(key) else {
            return;
        };
        match e.timer {
            Some(t) => self.timers.reset_at(&t, at),
            None => e.timer = Some(self.timers.insert_at(key.to_string(), at)),
        }
    }

    fn on_timer(&mut self, key: &str) {
        let now = Instant::now();
        let Some(e) = self.pods.get_mut(key) else {
            return;
        };
        e.timer = None;
        if e.delete_at.is_none() {
            self.advance(key, now);
        }
        self.enqueue(key);
    }

    fn enqueue(&mut self, key: &str) {
        let Some(e) = self.pods.get_mut(key) else {
            return;
        };
        if e.in_flight {
            e.dirty = true;
        } else if !e.queued {
            e.queued = true;
            self.queue.push_back(key.to_string());
        }
    }

    fn remove(&mut self, key: &str) {
        let Some(e) = self.pods.remove(key) else {
            return;
        };
        if let Some(t) = e.timer {
            self.timers.remove(&t);
        }
        if let (Some(ip), false) = (e.ip, e.ip_released) {
            self.pools[e.node as usize].release(ip);
        }
    }

    fn on_resume(&mut self, node: u32) {
        let keys: Vec<String> = self
            .pods
            .iter_mut()
            .filter(|(_, e)| e.node == node)
            .map(|(k, e)| {
                e.last_sent = 0;
                k.clone()
            })
            .collect();
        for k in keys {
            self.enqueue(&k);
        }
    }

    fn on_done(&mut self, (key, sent, ok): Done) {
        let Some(e) = self.pods.get_mut(&key) else {
            return;
        };
        e.in_flight = false;
        if let (true, Some(h)) = (ok, sent) {
            e.last_sent = h;
        }
        let dirty = std::mem::take(&mut e.dirty);
        if !ok && e.timer.is_none() {
            self.schedule(&key, Instant::now() + RETRY);
        }
        if dirty {
            self.enqueue(&key);
        }
    }

    /// Sends what a pod needs now: its deletion, or its status if it changed.
    fn start_sync(&mut self, key: String) {
        let now = Instant::now();
        let Some(e) = self.pods.get_mut(&key) else {
            return;
        };
        e.queued = false;
        let Some(slot) = self.fleet.slot(e.node) else {
            return;
        };
        if slot.silenced() {
            return;
        }
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &e.namespace);
        let name = e.name.clone();
        if let Some(at) = e.delete_at {
            if at > now {
                return;
            }
            e.in_flight = true;
            let dp = DeleteParams {
                grace_period_seconds: Some(0),
                preconditions: Some(Preconditions {
                    uid: Some(e.uid.clone()),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            };
            self.in_flight.push(Box::pin(async move {
                let ok = match api.delete(&name, &dp).await {
                    Ok(_) => true,
                    Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => true,
                    Err(err) => {
                        tracing::warn!(pod = %key, error = %err, "deleting pod failed");
                        false
                    }
                };
                (key, None, ok)
            }));
            return;
        }
        let Some(sim) = e.sim.as_ref() else { return };
        // A finished pod's sandbox is gone: its IP may be reused, as on a real node.
        if let (Some(ip), false, true) = (e.ip, e.ip_released, sim.phase().is_terminal()) {
            e.ip_released = true;
            self.pools[e.node as usize].release(ip);
        }
        let pod_ip = if e.host_network {
            Some(IpAddr::V4(slot.ip))
        } else {
            e.ip.map(IpAddr::V4)
        };
        let ctx = Context {
            clock: &self.clock,
            uid: &e.uid,
            host_ip: IpAddr::V4(slot.ip),
            pod_ip,
        };
        let patch = render(sim, &ctx, now);
        let hash = hash_value(&patch);
        if hash == e.last_sent {
            return;
        }
        e.in_flight = true;
        self.in_flight.push(Box::pin(async move {
            let res = api
                .patch_status(&name, &PatchParams::default(), &Patch::Strategic(&patch))
                .await;
            let ok = match res {
                Ok(_) => true,
                Err(kube::Error::Api(s)) if s.code == 404 => true,
                Err(err) => {
                    tracing::warn!(pod = %key, error = %err, "updating pod status failed");
                    false
                }
            };
            (key, Some(hash), ok)
        }));
    }
}
