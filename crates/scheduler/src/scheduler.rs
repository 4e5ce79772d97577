//! The scheduling loop: pop a pod, place it against the cache, assume it and bind asynchronously.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{ReplicationController, Service};
use kube::Client;
use parking_lot::Mutex;
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::SchedulerConfig;
use crate::api::ClusterApi;
use crate::cache::Cache;
use crate::error::SchedulerError;
use crate::events::Recorder;
use crate::informer::{self, Sinks};
use crate::pod_info::PodInfo;
use crate::preemption;
use crate::queue::{Popped, SchedulingQueue};
use crate::schedule::Algorithm;

/// Runs the scheduler until `stop` is cancelled.
pub async fn run(
    client: Client,
    config: SchedulerConfig,
    stop: CancellationToken,
) -> Result<(), SchedulerError> {
    let sinks = Sinks {
        cache: Arc::new(Mutex::new(Cache::default())),
        queue: Arc::new(SchedulingQueue::default()),
        scheduler_name: config.scheduler_name.clone(),
    };
    let (nodes_tx, mut nodes_rx) = watch::channel(false);
    let (pods_tx, mut pods_rx) = watch::channel(false);
    let mut owners_rx = Vec::new();
    let mut owner_tx = || {
        let (tx, rx) = watch::channel(false);
        owners_rx.push(rx);
        tx
    };
    let (svc_tx, rc_tx, rs_tx, ss_tx) = (owner_tx(), owner_tx(), owner_tx(), owner_tx());
    let tasks = [
        tokio::spawn(
            informer::watch_owners::<Service>(client.clone(), sinks.clone(), svc_tx, stop.clone())
                .instrument(info_span!("scheduler_services")),
        ),
        tokio::spawn(
            informer::watch_owners::<ReplicationController>(
                client.clone(),
                sinks.clone(),
                rc_tx,
                stop.clone(),
            )
            .instrument(info_span!("scheduler_replicationcontrollers")),
        ),
        tokio::spawn(
            informer::watch_owners::<ReplicaSet>(
                client.clone(),
                sinks.clone(),
                rs_tx,
                stop.clone(),
            )
            .instrument(info_span!("scheduler_replicasets")),
        ),
        tokio::spawn(
            informer::watch_owners::<StatefulSet>(
                client.clone(),
                sinks.clone(),
                ss_tx,
                stop.clone(),
            )
            .instrument(info_span!("scheduler_statefulsets")),
        ),
        tokio::spawn(
            informer::watch_nodes(client.clone(), sinks.clone(), nodes_tx, stop.clone())
                .instrument(info_span!("scheduler_nodes")),
        ),
        tokio::spawn(
            informer::watch_pods(client.clone(), sinks.clone(), pods_tx, stop.clone())
                .instrument(info_span!("scheduler_pods")),
        ),
        tokio::spawn(
            informer::watch_namespaces(client.clone(), sinks.clone(), stop.clone())
                .instrument(info_span!("scheduler_namespaces")),
        ),
    ];
    tokio::select! {
        () = stop.cancelled() => {}
        res = async {
            nodes_rx.wait_for(|s| *s).await.map(|_| ())?;
            for rx in &mut owners_rx {
                rx.wait_for(|s| *s).await.map(|_| ())?;
            }
            pods_rx.wait_for(|s| *s).await.map(|_| ())
        } => {
            if res.is_ok() {
                info!(scheduler = %config.scheduler_name, "scheduler caches synced");
            }
        }
    }
    let write_limit = u32::try_from(config.parallelism.clamp(1, 1024) * 16).unwrap_or(256);
    let api = ClusterApi::new(client, &config.scheduler_name);
    let (events, writer) = Recorder::start(api.client(), api.component(), api.instance());
    let looper = Loop {
        api,
        events,
        sinks,
        writes: Arc::new(Semaphore::new(write_limit as usize)),
        write_limit,
        bound: Arc::new(AtomicU64::new(0)),
    };
    looper.run(&config, &stop).await;
    for t in tasks {
        t.await?;
    }
    drop(looper);
    writer.await?;
    Ok(())
}

struct Loop {
    api: ClusterApi,
    events: Recorder,
    sinks: Sinks,
    writes: Arc<Semaphore>,
    write_limit: u32,
    bound: Arc<AtomicU64>,
}

impl Loop {
    async fn run(&self, config: &SchedulerConfig, stop: &CancellationToken) {
        let mut alg = Algorithm::new(config.percentage_of_nodes_to_score);
        while let Some(popped) = self.sinks.queue.pop(stop).await {
            self.schedule_one(&mut alg, popped).await;
        }
        // Let in-flight writes finish (bounded by their own API timeouts).
        let _ = self.writes.acquire_many(self.write_limit).await;
        debug!(
            bound = self.bound.load(Ordering::Relaxed),
            events_dropped = self.events.dropped(),
            "scheduler stopped"
        );
    }

    async fn schedule_one(&self, alg: &mut Algorithm, popped: Popped) {
        let Popped { info, attempts } = popped;
        let key = info.key.clone();
        let result = {
            let cache = self.sinks.cache.lock();
            if cache.contains_pod(&key) {
                drop(cache);
                self.sinks.queue.done(&key);
                return;
            }
            alg.schedule(&cache, &info)
        };
        match result {
            Ok(node) => {
                self.sinks.cache.lock().assume(info.clone(), &node);
                self.sinks.queue.done(&key);
                self.spawn_bind(info, node, attempts).await;
            }
            Err(mut fit) => {
                let outcome = {
                    let cache = self.sinks.cache.lock();
                    preemption::preempt(&cache, &info, &fit)
                };
                fit.post_filter_msg = outcome.message.clone();
                let message = fit.message();
                debug!(pod = %key, %message, "unschedulable");
                self.sinks.queue.unschedulable(&key);
                let Ok(permit) = self.writes.clone().acquire_owned().await else {
                    return;
                };
                let api = self.api.clone();
                let events = self.events.clone();
                let span = info_span!("failed_scheduling", pod = %key);
                tokio::spawn(
                    async move {
                        let _permit = permit;
                        for victim in &outcome.victims {
                            if let Err(error) = api.delete(victim).await {
                                warn!(%error, victim = %victim.key, "preemption delete failed");
                            } else {
                                let msg = format!(
                                    "Preempted by pod {} on node {}",
                                    info.pod.metadata.uid.as_deref().unwrap_or_default(),
                                    outcome.node.as_deref().unwrap_or_default()
                                );
                                events.record(
                                    victim.clone(),
                                    "Normal",
                                    "Preempted",
                                    "Preempting",
                                    msg,
                                );
                            }
                        }
                        events.record(
                            info.clone(),
                            "Warning",
                            "FailedScheduling",
                            "Scheduling",
                            message.clone(),
                        );
                        if let Err(error) = api
                            .set_unschedulable(&info, &message, outcome.node.as_deref())
                            .await
                        {
                            debug!(%error, "updating PodScheduled condition failed");
                        }
                    }
                    .instrument(span),
                );
            }
        }
    }

    async fn spawn_bind(&self, info: Arc<PodInfo>, node: String, attempts: u32) {
        let Ok(permit) = self.writes.clone().acquire_owned().await else {
            return;
        };
        let api = self.api.clone();
        let events = self.events.clone();
        let sinks = self.sinks.clone();
        let bound = self.bound.clone();
        let span = info_span!("bind", pod = %info.key, node = %node);
        tokio::spawn(
            async move {
                let _permit = permit;
                match api.bind(&info, &node).await {
                    Ok(()) => {
                        bound.fetch_add(1, Ordering::Relaxed);
                        let msg = format!("Successfully assigned {} to {node}", info.key);
                        events.record(info, "Normal", "Scheduled", "Binding", msg);
                    }
                    Err(error) => {
                        warn!(%error, "binding failed");
                        sinks.cache.lock().remove_pod(&info.key);
                        if !gone_or_bound(&error) {
                            let msg = format!("Binding rejected: {error}");
                            events.record(
                                info.clone(),
                                "Warning",
                                "FailedScheduling",
                                "Scheduling",
                                msg,
                            );
                            sinks.queue.requeue_after_error(info, attempts);
                        }
                    }
                }
            }
            .instrument(span),
        );
    }
}

/// A binding error meaning the pod is deleted or already assigned: nothing to retry.
fn gone_or_bound(e: &SchedulerError) -> bool {
    match e {
        SchedulerError::Api {
            source: kube::Error::Api(status),
            ..
        } => status.code == 404 || status.code == 409,
        _ => false,
    }
}
