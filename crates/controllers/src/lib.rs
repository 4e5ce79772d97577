//! Workload and cluster controllers of rkube, each a kube-rs client of the API server.
//!
//! [`run`] starts them all: ReplicaSet, ReplicationController, Deployment, the garbage
//! collector, the namespace controller, the ServiceAccount controller, the Endpoints and
//! EndpointSlice controllers and the DaemonSet controller.

pub mod controller_revision;
pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod deployment_rs;
pub mod deployment_status;
pub mod endpoints;
pub mod endpointslice;
pub mod error;
pub mod events;
pub mod expectations;
pub mod garbagecollector;
pub mod informer;
pub mod job;
pub mod namespace;
pub mod nodeipam;
pub mod nodelifecycle;
pub mod podgc;
pub mod podutil;
pub mod replicas;
pub mod replicaset;
pub mod rollout;
pub mod root_ca_publisher;
pub mod serviceaccount;
pub mod statefulset;

use std::sync::Arc;

use futures::{StreamExt, future};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use kube::runtime::controller::{Config as CtrlConfig, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span};

pub use error::ControllerError;

use crate::podutil::{controller_ref, selector_matches};

/// Settings shared by every controller.
#[derive(Debug, Clone)]
pub struct ControllersConfig {
    /// How many objects each controller reconciles at once.
    pub concurrency: usize,
    /// Run the garbage collector.
    pub garbage_collector: bool,
    /// Run the namespace controller.
    pub namespace: bool,
    /// Run the ServiceAccount controller (`default` in every namespace).
    pub service_accounts: bool,
    /// Run the Job controller.
    pub jobs: bool,
    /// Run the CronJob controller.
    pub cronjobs: bool,
    /// How long a node's lease may go unrenewed before the node is marked Unknown.
    pub node_monitor_grace_period: std::time::Duration,
    /// The cluster CIDR node IPAM carves pod CIDRs from.
    pub cluster_cidr: String,
    /// The prefix length of each node's pod CIDR.
    pub node_cidr_mask: u8,
    /// The cluster CA (PEM) the root CA publisher puts in every namespace's
    /// `kube-root-ca.crt` ConfigMap; None runs no publisher.
    pub root_ca_pem: Option<String>,
}

impl Default for ControllersConfig {
    fn default() -> Self {
        ControllersConfig {
            concurrency: 8,
            garbage_collector: true,
            namespace: true,
            service_accounts: true,
            jobs: true,
            cronjobs: true,
            node_monitor_grace_period: std::time::Duration::from_secs(40),
            cluster_cidr: "10.42.0.0/16".to_owned(),
            node_cidr_mask: 24,
            root_ca_pem: None,
        }
    }
}

fn ctrl_config(config: &ControllersConfig) -> CtrlConfig {
    CtrlConfig::default().concurrency(u16::try_from(config.concurrency.max(1)).unwrap_or(u16::MAX))
}

/// Starts every controller and runs them until `stop` is cancelled.
pub async fn run(
    client: Client,
    config: ControllersConfig,
    stop: CancellationToken,
) -> Result<(), ControllerError> {
    let mut tasks = tokio::task::JoinSet::new();
    let wc = watcher::Config::default();
    // One watch and one cache each of pods, nodes and ReplicaSets for every controller.
    let informers = informer::Informers::new(&client);

    let pods = informers.pods.store();
    let rss = informers.replicasets.store();
    let (rcs, rc_writer) = reflector::store::<ReplicationController>();
    let (deploys, deploy_writer) = reflector::store::<Deployment>();
    let (rs_tx, rs_rx) = mpsc::unbounded_channel::<ObjectRef<ReplicaSet>>();
    let (rc_tx, rc_rx) = mpsc::unbounded_channel::<ObjectRef<ReplicationController>>();
    let (d_tx, d_rx) = mpsc::unbounded_channel::<ObjectRef<Deployment>>();

    // Pod events wake the owning (or selecting) ReplicaSet / ReplicationController.
    {
        let stream = informers.pods.subscribe();
        let (rss, rcs, stop) = (rss.clone(), rcs.clone(), stop.clone());
        tasks.spawn(
            async move {
                let mut stream = std::pin::pin!(stream);
                loop {
                    let next = tokio::select! {
                        () = stop.cancelled() => break,
                        n = stream.next() => n,
                    };
                    let Some(pod) = next else { break };
                    route_pod(&pod, &rss, &rcs, &rs_tx, &rc_tx);
                }
            }
            .instrument(info_span!("pod-router")),
        );
    }

    let rctx = Arc::new(replicas::ReplicasCtx {
        client: client.clone(),
        pods: pods.clone(),
        pods_by_controller: informers.pods_by_controller.clone(),
        expectations: expectations::Expectations::default(),
        recorder: events::Recorder::new(client.clone(), "replicaset-controller"),
    });

    // ReplicaSets: their events also wake the owning (or selecting) Deployment.
    {
        let deploys = deploys.clone();
        let stream = informers
            .replicasets
            .subscribe()
            .inspect(move |rs| route_rs(rs, &deploys, &d_tx));
        let ctrl = Controller::for_shared_stream(stream, rss.clone())
            .with_config(ctrl_config(&config))
            .reconcile_on(UnboundedReceiverStream::new(rs_rx))
            .graceful_shutdown_on(stop.clone().cancelled_owned())
            .run(
                replicaset::reconcile_rs,
                replicaset::error_policy,
                rctx.clone(),
            )
            .for_each(|_| future::ready(()));
        tasks.spawn(ctrl.instrument(info_span!("replicaset-controller")));
    }

    {
        let stream = watcher(
            Api::<ReplicationController>::all(client.clone()),
            wc.clone(),
        )
        .default_backoff()
        .reflect(rc_writer)
        .touched_objects();
        let rc_ctx = Arc::new(replicas::ReplicasCtx {
            client: client.clone(),
            pods: pods.clone(),
            pods_by_controller: informers.pods_by_controller.clone(),
            expectations: expectations::Expectations::default(),
            recorder: events::Recorder::new(client.clone(), "replication-controller"),
        });
        let ctrl = Controller::for_stream(stream, rcs.clone())
            .with_config(ctrl_config(&config))
            .reconcile_on(UnboundedReceiverStream::new(rc_rx))
            .graceful_shutdown_on(stop.clone().cancelled_owned())
            .run(replicaset::reconcile_rc, replicaset::error_policy, rc_ctx)
            .for_each(|_| future::ready(()));
        tasks.spawn(ctrl.instrument(info_span!("replication-controller")));
    }

    {
        let stream = watcher(Api::<Deployment>::all(client.clone()), wc.clone())
            .default_backoff()
            .reflect(deploy_writer)
            .touched_objects();
        let dctx = Arc::new(deployment::DeploymentCtx {
            client: client.clone(),
            rss: rss.clone(),
            pods: pods.clone(),
            recorder: events::Recorder::new(client.clone(), "deployment-controller"),
        });
        let ctrl = Controller::for_stream(stream, deploys.clone())
            .with_config(ctrl_config(&config))
            .reconcile_on(UnboundedReceiverStream::new(d_rx))
            .graceful_shutdown_on(stop.clone().cancelled_owned())
            .run(deployment::reconcile, replicaset::error_policy, dctx)
            .for_each(|_| future::ready(()));
        tasks.spawn(ctrl.instrument(info_span!("deployment-controller")));
    }

    if config.garbage_collector {
        let gc = garbagecollector::GarbageCollector::new(client.clone(), &config, &informers);
        let stop = stop.clone();
        tasks.spawn(async move { gc.run(stop).await }.instrument(info_span!("garbage-collector")));
    }
    if config.namespace {
        let fut = namespace::run(client.clone(), ctrl_config(&config), stop.clone());
        tasks.spawn(fut.instrument(info_span!("namespace-controller")));
    }
    if config.service_accounts {
        let fut = serviceaccount::run(client.clone(), ctrl_config(&config), stop.clone());
        tasks.spawn(fut.instrument(info_span!("serviceaccount-controller")));
    }
    if let Some(ca) = config.root_ca_pem.clone() {
        let fut = root_ca_publisher::run(client.clone(), ca, ctrl_config(&config), stop.clone());
        tasks.spawn(fut.instrument(info_span!("root-ca-cert-publisher")));
    }

    {
        let fut = endpoints::run(
            client.clone(),
            ctrl_config(&config),
            &informers,
            stop.clone(),
        );
        tasks.spawn(fut.instrument(info_span!("endpoints-controller")));
        let fut = endpointslice::run(
            client.clone(),
            ctrl_config(&config),
            &informers,
            stop.clone(),
        );
        tasks.spawn(fut.instrument(info_span!("endpointslice-controller")));
        let fut = daemonset::run(
            client.clone(),
            ctrl_config(&config),
            &informers,
            stop.clone(),
        );
        tasks.spawn(fut.instrument(info_span!("daemonset-controller")));
        let fut = statefulset::run(
            client.clone(),
            ctrl_config(&config),
            &informers,
            stop.clone(),
        );
        tasks.spawn(fut.instrument(info_span!("statefulset-controller")));
    }

    if config.jobs {
        let fut = job::run(
            client.clone(),
            ctrl_config(&config),
            &informers,
            stop.clone(),
        );
        tasks.spawn(fut.instrument(info_span!("job-controller")));
    }
    {
        let grace = config.node_monitor_grace_period;
        let fut = nodelifecycle::run(client.clone(), grace, &informers, stop.clone());
        tasks.spawn(fut.instrument(info_span!("node-lifecycle-controller")));
        let fut = nodeipam::run(
            client.clone(),
            &informers,
            config.cluster_cidr.clone(),
            config.node_cidr_mask,
            stop.clone(),
        );
        tasks.spawn(fut.instrument(info_span!("node-ipam-controller")));
        // Upstream checks every 20 s with a 40 s quarantine; shorter grace periods (tests)
        // shorten both.
        let gc = podgc::PodGcConfig {
            period: grace.min(std::time::Duration::from_secs(20)),
            quarantine: grace,
            ..podgc::PodGcConfig::default()
        };
        let fut = podgc::run(client.clone(), gc, &informers, stop.clone());
        tasks.spawn(fut.instrument(info_span!("pod-gc-controller")));
    }

    if config.cronjobs {
        let fut = cronjob::run(client.clone(), ctrl_config(&config), stop.clone());
        tasks.spawn(fut.instrument(info_span!("cronjob-controller")));
    }

    // Every controller has subscribed: start the shared watches.
    tasks.spawn(
        informers
            .run(&stop)
            .instrument(info_span!("shared-informers")),
    );
    info!("controllers started");
    stop.cancelled().await;
    // Controllers drain on the token; give them a bounded grace period.
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(std::time::Duration::from_secs(5), drain)
        .await
        .is_err()
    {
        tasks.abort_all();
    }
    info!("controllers stopped");
    Ok(())
}

/// Sends a pod's owner (or, for an orphan, every owner whose selector matches) to its queue.
fn route_pod(
    pod: &Pod,
    rss: &Store<ReplicaSet>,
    rcs: &Store<ReplicationController>,
    rs_tx: &mpsc::UnboundedSender<ObjectRef<ReplicaSet>>,
    rc_tx: &mpsc::UnboundedSender<ObjectRef<ReplicationController>>,
) {
    let ns = pod.namespace().unwrap_or_default();
    match controller_ref(&pod.metadata) {
        Some(r) if r.kind == "ReplicaSet" && r.api_version.starts_with("apps/") => {
            let _ = rs_tx.send(ObjectRef::new(&r.name).within(&ns));
        }
        Some(r) if r.kind == "ReplicationController" && r.api_version == "v1" => {
            let _ = rc_tx.send(ObjectRef::new(&r.name).within(&ns));
        }
        Some(_) => {}
        None => {
            let labels = pod.labels();
            for rs in rss.state_filter(|rs| rs.metadata.namespace.as_deref() == Some(&ns)) {
                let matches = rs.spec.as_ref().is_some_and(|s| {
                    !podutil::selector_is_empty(&s.selector)
                        && selector_matches(&s.selector, labels)
                });
                if matches {
                    let _ = rs_tx.send(ObjectRef::from_obj(rs.as_ref()));
                }
            }
            for rc in rcs.state_filter(|rc| rc.metadata.namespace.as_deref() == Some(&ns)) {
                let sel = rc.spec.as_ref().and_then(|s| s.selector.as_ref());
                if sel.is_some_and(|s| {
                    !s.is_empty() && s.iter().all(|(k, v)| labels.get(k) == Some(v))
                }) {
                    let _ = rc_tx.send(ObjectRef::from_obj(rc.as_ref()));
                }
            }
        }
    }
}

/// Sends a ReplicaSet's owning Deployment (or, for an orphan, every selecting one) to its queue.
fn route_rs(
    rs: &ReplicaSet,
    deploys: &Store<Deployment>,
    d_tx: &mpsc::UnboundedSender<ObjectRef<Deployment>>,
) {
    let ns = rs.namespace().unwrap_or_default();
    match controller_ref(&rs.metadata) {
        Some(r) if r.kind == "Deployment" => {
            let _ = d_tx.send(ObjectRef::new(&r.name).within(&ns));
        }
        Some(_) => {}
        None => {
            let labels = rs.labels();
            for d in deploys.state_filter(|d| d.metadata.namespace.as_deref() == Some(&ns)) {
                let matches = d.spec.as_ref().is_some_and(|s| {
                    !podutil::selector_is_empty(&s.selector)
                        && selector_matches(&s.selector, labels)
                });
                if matches {
                    let _ = d_tx.send(ObjectRef::from_obj(d.as_ref()));
                }
            }
        }
    }
}
