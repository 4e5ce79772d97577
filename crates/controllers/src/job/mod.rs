//! The Job controller: runs pods from a Job's template until enough succeed, or the Job fails
//! (backoffLimit, activeDeadlineSeconds), and writes the Job's status and conditions.
//!
//! Differences from upstream, on purpose for now:
//! - Pods do not get the `batch.kubernetes.io/job-tracking` finalizer and
//!   `status.uncountedTerminatedPods` stays empty. Finished pods are counted from the pod
//!   cache; `succeeded`/`failed` never go down (Indexed Jobs keep `completedIndexes`), but a
//!   finished pod removed before the controller saw it is not counted.
//! - `SuccessCriteriaMet`/`FailureTarget` are written in the same update as
//!   `Complete`/`Failed` rather than waiting for terminating pods to disappear.
//! - Orphan pods matching the selector are not adopted; `podFailurePolicy`,
//!   `successPolicy`, `backoffLimitPerIndex` and `podReplacementPolicy` are ignored.

pub mod logic;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt, future};
use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus};
use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, PropagationPolicy};
use kube::runtime::controller::{Action, Config as CtrlConfig, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_util::sync::CancellationToken;

use crate::error::{ControllerError, is_not_found};
use crate::events::Recorder;
use crate::expectations::Expectations;
use crate::informer::Informers;
use crate::podutil::{
    controller_ref, is_pod_active, is_pod_ready, new_controller_ref, pod_from_template,
};
use logic::{
    backoff_delay, exceeds_backoff_limit, format_indexes, indexes_to_create, is_complete,
    parse_indexes, pod_diff,
};

/// Annotation (and label) carrying an Indexed Job pod's completion index.
pub const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";
/// Most pods created in one reconcile (upstream's `MaxPodCreateDeletePerSync`).
const MAX_BATCH: i32 = 500;

/// What the Job reconciler needs.
pub struct JobCtx {
    /// The API client.
    pub client: Client,
    /// Every pod.
    pub pods: Store<Pod>,
    /// Pods created/deleted but not yet seen in the cache.
    pub expectations: Expectations,
    /// Events as `job-controller`.
    pub recorder: Recorder,
}

fn finished(status: &JobStatus) -> Option<&JobCondition> {
    status
        .conditions
        .iter()
        .flatten()
        .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
}

fn set_condition(
    conds: &mut Vec<JobCondition>,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) {
    if let Some(c) = conds.iter_mut().find(|c| c.type_ == type_) {
        if c.status != status {
            c.status = status.to_owned();
            c.last_transition_time = Some(Time(now));
        }
        c.reason = Some(reason.to_owned());
        c.message = Some(message.to_owned());
        c.last_probe_time = Some(Time(now));
        return;
    }
    conds.push(JobCondition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: Some(reason.to_owned()),
        message: Some(message.to_owned()),
        last_probe_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    });
}

fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

/// When a pod finished: its containers' latest finishedAt, else its creation.
fn finish_time(pod: &Pod) -> Timestamp {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref())
        .map(|t| t.0)
        .max()
        .or_else(|| pod.metadata.creation_timestamp.as_ref().map(|t| t.0))
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

fn restarts(pod: &Pod) -> i32 {
    let Some(s) = pod.status.as_ref() else {
        return 0;
    };
    s.container_statuses
        .iter()
        .flatten()
        .chain(s.init_container_statuses.iter().flatten())
        .map(|c| c.restart_count)
        .sum()
}

fn pod_index(pod: &Pod) -> Option<i32> {
    pod.annotations().get(COMPLETION_INDEX)?.parse().ok()
}

fn ts_millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Reconciles one Job.
pub async fn reconcile(job: Arc<Job>, ctx: Arc<JobCtx>) -> Result<Action, ControllerError> {
    let ns = job.namespace().unwrap_or_default();
    let name = job.name_any();
    let key = format!("{ns}/{name}");
    let uid = job.uid().unwrap_or_default();
    if job.metadata.deletion_timestamp.is_some() {
        ctx.expectations.forget(&key);
        return Ok(Action::await_change());
    }
    let spec = job.spec.clone().unwrap_or_default();
    let old = job.status.clone().unwrap_or_default();
    let now = Timestamp::now();
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &ns);

    // A finished Job only waits for its TTL.
    if let Some(done) = finished(&old) {
        let Some(ttl) = spec.ttl_seconds_after_finished else {
            return Ok(Action::await_change());
        };
        let at = old
            .completion_time
            .as_ref()
            .or(done.last_transition_time.as_ref())
            .map_or(now, |t| t.0);
        let left = at.as_second() + i64::from(ttl) - now.as_second();
        if left > 0 {
            return Ok(Action::requeue(Duration::from_secs(left.unsigned_abs())));
        }
        let dp = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..DeleteParams::default()
        };
        return match jobs.delete(&name, &dp).await {
            Ok(_) => Ok(Action::await_change()),
            Err(e) if is_not_found(&e) => Ok(Action::await_change()),
            Err(e) => Err(ControllerError::api(format!("delete job {key}"))(e)),
        };
    }

    let pods: Vec<Arc<Pod>> = ctx.pods.state_filter(|p| {
        p.metadata.namespace.as_deref() == Some(ns.as_str())
            && controller_ref(&p.metadata).is_some_and(|r| r.uid == uid)
    });
    let satisfied = ctx.expectations.satisfied(
        &key,
        |n| pods.iter().any(|p| p.metadata.name.as_deref() == Some(n)),
        |u| {
            !pods.iter().any(|p| {
                p.metadata.uid.as_deref() == Some(u) && p.metadata.deletion_timestamp.is_none()
            })
        },
    );
    if !satisfied {
        return Ok(Action::requeue(Duration::from_millis(500)));
    }

    let indexed = spec.completion_mode.as_deref() == Some("Indexed");
    let completions = spec.completions;
    let parallelism = spec.parallelism.unwrap_or(1);
    let backoff_limit = spec.backoff_limit.unwrap_or(6);
    let on_failure = spec
        .template
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        == Some("OnFailure");

    let active: Vec<&Arc<Pod>> = pods.iter().filter(|p| is_pod_active(p)).collect();
    let terminating = pods
        .iter()
        .filter(|p| {
            p.metadata.deletion_timestamp.is_some() && !matches!(phase(p), "Succeeded" | "Failed")
        })
        .count();
    let succeeded_pods: Vec<&Arc<Pod>> = pods.iter().filter(|p| phase(p) == "Succeeded").collect();
    let failed_pods: Vec<&Arc<Pod>> = pods.iter().filter(|p| phase(p) == "Failed").collect();

    let mut completed: BTreeSet<i32> =
        parse_indexes(old.completed_indexes.as_deref().unwrap_or(""));
    let succeeded = if indexed {
        let c = completions.unwrap_or(0);
        completed.extend(
            succeeded_pods
                .iter()
                .filter_map(|p| pod_index(p))
                .filter(|i| (0..c).contains(i)),
        );
        i32::try_from(completed.len()).unwrap_or(i32::MAX)
    } else {
        old.succeeded
            .unwrap_or(0)
            .max(i32::try_from(succeeded_pods.len()).unwrap_or(i32::MAX))
    };
    let mut failed = old
        .failed
        .unwrap_or(0)
        .max(i32::try_from(failed_pods.len()).unwrap_or(i32::MAX));

    let mut status = old.clone();
    let mut conds = old.conditions.clone().unwrap_or_default();
    let mut requeue: Option<Duration> = None;
    let mut active_count = i32::try_from(active.len()).unwrap_or(i32::MAX);
    let suspended = spec.suspend.unwrap_or(false);

    let failure: Option<(&str, &str)> = if suspended {
        None
    } else if let (Some(ads), Some(start)) = (spec.active_deadline_seconds, old.start_time.as_ref())
    {
        let left = start.0.as_second() + ads - now.as_second();
        if left <= 0 {
            Some((
                "DeadlineExceeded",
                "Job was active longer than specified deadline",
            ))
        } else {
            requeue = Some(Duration::from_secs(left.unsigned_abs()));
            None
        }
    } else {
        None
    };
    let failure = failure.or_else(|| {
        let restarts_total = on_failure.then(|| active.iter().map(|p| restarts(p)).sum());
        exceeds_backoff_limit(failed, restarts_total, backoff_limit).then_some((
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
        ))
    });

    if let Some((reason, message)) = failure {
        for p in &active {
            delete_pod(&ctx, &job, &key, p).await?;
        }
        failed += active_count;
        active_count = 0;
        set_condition(&mut conds, "FailureTarget", "True", reason, message, now);
        set_condition(&mut conds, "Failed", "True", reason, message, now);
        ctx.recorder
            .record(job.as_ref(), "Warning", reason, message.to_owned());
    } else if is_complete(completions, succeeded, active_count) {
        for p in &active {
            delete_pod(&ctx, &job, &key, p).await?;
        }
        active_count = 0;
        set_condition(
            &mut conds,
            "SuccessCriteriaMet",
            "True",
            "CompletionsReached",
            "Reached expected number of succeeded pods",
            now,
        );
        set_condition(
            &mut conds,
            "Complete",
            "True",
            "CompletionsReached",
            "Reached expected number of succeeded pods",
            now,
        );
        status.completion_time = Some(Time(now));
        ctx.recorder.record(
            job.as_ref(),
            "Normal",
            "Completed",
            "Job completed".to_owned(),
        );
    } else if suspended {
        for p in &active {
            delete_pod(&ctx, &job, &key, p).await?;
        }
        active_count = 0;
        if !conds
            .iter()
            .any(|c| c.type_ == "Suspended" && c.status == "True")
        {
            set_condition(
                &mut conds,
                "Suspended",
                "True",
                "JobSuspended",
                "Job suspended",
                now,
            );
            ctx.recorder.record(
                job.as_ref(),
                "Normal",
                "Suspended",
                "Job suspended".to_owned(),
            );
        }
        status.start_time = None;
    } else {
        if conds
            .iter()
            .any(|c| c.type_ == "Suspended" && c.status == "True")
        {
            set_condition(
                &mut conds,
                "Suspended",
                "False",
                "JobResumed",
                "Job resumed",
                now,
            );
            ctx.recorder
                .record(job.as_ref(), "Normal", "Resumed", "Job resumed".to_owned());
            status.start_time = Some(Time(now));
        }
        if status.start_time.is_none() {
            status.start_time = Some(Time(now));
            if let Some(ads) = spec.active_deadline_seconds {
                requeue = Some(Duration::from_secs(ads.unsigned_abs()));
            }
        }
        let diff = pod_diff(completions, parallelism, active_count, succeeded);
        if diff < 0 {
            let mut victims: Vec<&Arc<Pod>> = active.clone();
            // Not-ready first, then newest first.
            victims.sort_by_key(|p| {
                (
                    is_pod_ready(p),
                    std::cmp::Reverse(p.metadata.creation_timestamp.as_ref().map(|t| t.0)),
                )
            });
            for p in victims.into_iter().take(diff.unsigned_abs() as usize) {
                delete_pod(&ctx, &job, &key, p).await?;
                active_count -= 1;
            }
        } else if diff > 0 {
            // Back-off after consecutive failures (those after the last success).
            let last_success = succeeded_pods.iter().map(|p| finish_time(p)).max();
            let recent: Vec<Timestamp> = failed_pods
                .iter()
                .map(|p| finish_time(p))
                .filter(|t| last_success.is_none_or(|s| *t > s))
                .collect();
            let delay = backoff_delay(u32::try_from(recent.len()).unwrap_or(u32::MAX));
            let ready_at = recent
                .iter()
                .max()
                .map(|t| t.as_millisecond() + ts_millis(delay));
            match ready_at {
                Some(at) if at > now.as_millisecond() => {
                    let wait = Duration::from_millis((at - now.as_millisecond()).unsigned_abs());
                    requeue = Some(requeue.map_or(wait, |r| r.min(wait)));
                }
                _ => {
                    let n = diff.min(MAX_BATCH);
                    let indexes: Vec<Option<i32>> = if indexed {
                        let busy: BTreeSet<i32> =
                            active.iter().filter_map(|p| pod_index(p)).collect();
                        indexes_to_create(
                            completions.unwrap_or(0),
                            &completed,
                            &busy,
                            n.unsigned_abs() as usize,
                        )
                        .into_iter()
                        .map(Some)
                        .collect()
                    } else {
                        (0..n).map(|_| None).collect()
                    };
                    for idx in indexes {
                        create_pod(&ctx, &job, &key, &uid, idx).await?;
                        active_count += 1;
                    }
                }
            }
        }
    }

    let ready = i32::try_from(active.iter().filter(|p| is_pod_ready(p)).count()).unwrap_or(0);
    status.active = (active_count > 0).then_some(active_count);
    status.ready = Some(ready.min(active_count));
    status.succeeded = (succeeded > 0).then_some(succeeded);
    status.failed = (failed > 0).then_some(failed);
    status.terminating = Some(i32::try_from(terminating).unwrap_or(0));
    status.conditions = (!conds.is_empty()).then_some(conds);
    if indexed {
        let s = format_indexes(&completed);
        status.completed_indexes = (!s.is_empty()).then_some(s);
    }
    if status != old {
        let mut value = serde_json::to_value(&status)
            .map_err(ControllerError::json(format!("status of job {key}")))?;
        if let Some(obj) = value.as_object_mut() {
            for k in ["active", "succeeded", "failed", "startTime"] {
                obj.entry(k).or_insert(serde_json::Value::Null);
            }
        }
        let patch = serde_json::json!({ "status": value });
        match jobs
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => return Ok(Action::await_change()),
            Err(e) => return Err(ControllerError::api(format!("status of job {key}"))(e)),
        }
    }
    Ok(match requeue {
        Some(d) => Action::requeue(d.max(Duration::from_millis(200))),
        None => Action::await_change(),
    })
}

async fn delete_pod(ctx: &JobCtx, job: &Job, key: &str, pod: &Pod) -> Result<(), ControllerError> {
    let ns = pod.namespace().unwrap_or_default();
    let pname = pod.name_any();
    if let Some(u) = pod.uid() {
        ctx.expectations.expect_deletes(key, [u]);
    }
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    match api.delete(&pname, &DeleteParams::default()).await {
        Ok(_) => {
            ctx.recorder.record(
                job,
                "Normal",
                "SuccessfulDelete",
                format!("Deleted pod: {pname}"),
            );
            Ok(())
        }
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => {
            ctx.expectations.forget(key);
            Err(ControllerError::api(format!("delete pod {ns}/{pname}"))(e))
        }
    }
}

/// The pod a Job creates: template plus the job labels, and for Indexed Jobs the index.
pub fn job_pod(job: &Job, uid: &str, index: Option<i32>) -> Pod {
    let ns = job.namespace().unwrap_or_default();
    let name = job.name_any();
    let template = job
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let owner = new_controller_ref("batch/v1", "Job", &name, uid);
    let mut pod = pod_from_template(&template, &ns, &name, owner);
    let labels = pod.metadata.labels.get_or_insert_with(Default::default);
    for (k, v) in [
        ("batch.kubernetes.io/controller-uid", uid),
        ("batch.kubernetes.io/job-name", name.as_str()),
        ("controller-uid", uid),
        ("job-name", name.as_str()),
    ] {
        labels.insert(k.to_owned(), v.to_owned());
    }
    if let Some(i) = index {
        labels.insert(COMPLETION_INDEX.to_owned(), i.to_string());
        pod.metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(COMPLETION_INDEX.to_owned(), i.to_string());
        pod.metadata.generate_name = Some(format!("{name}-{i}-"));
        if let Some(spec) = pod.spec.as_mut() {
            spec.hostname = Some(format!("{name}-{i}"));
            for c in spec
                .containers
                .iter_mut()
                .chain(spec.init_containers.iter_mut().flatten())
            {
                let env = c.env.get_or_insert_with(Vec::new);
                if !env.iter().any(|e| e.name == "JOB_COMPLETION_INDEX") {
                    env.push(EnvVar {
                        name: "JOB_COMPLETION_INDEX".into(),
                        value: None,
                        value_from: Some(EnvVarSource {
                            field_ref: Some(ObjectFieldSelector {
                                api_version: None,
                                field_path: format!("metadata.annotations['{COMPLETION_INDEX}']"),
                            }),
                            ..EnvVarSource::default()
                        }),
                    });
                }
            }
        }
    }
    pod
}

async fn create_pod(
    ctx: &JobCtx,
    job: &Job,
    key: &str,
    uid: &str,
    index: Option<i32>,
) -> Result<(), ControllerError> {
    let pod = job_pod(job, uid, index);
    let ns = job.namespace().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    match api.create(&PostParams::default(), &pod).await {
        Ok(created) => {
            let pname = created.name_any();
            ctx.expectations.expect_creates(key, [pname.clone()]);
            ctx.recorder.record(
                job,
                "Normal",
                "SuccessfulCreate",
                format!("Created pod: {pname}"),
            );
            Ok(())
        }
        Err(e) => {
            ctx.recorder.record(
                job,
                "Warning",
                "FailedCreate",
                format!("Error creating: {e}"),
            );
            Err(ControllerError::api(format!("create pod for job {key}"))(e))
        }
    }
}

/// The Job controller over the shared pod informer; runs until `stop` is cancelled.
pub fn run(
    client: Client,
    config: CtrlConfig,
    informers: &Informers,
    stop: CancellationToken,
) -> impl Future<Output = ()> + Send + 'static + use<> {
    let pods = informers.pods.store();
    let pod_stream = informers.pods.subscribe();
    run_with(client, config, pods, pod_stream, stop)
}

async fn run_with(
    client: Client,
    config: CtrlConfig,
    pods: Store<Pod>,
    pod_stream: impl Stream<Item = Arc<Pod>> + Send + 'static,
    stop: CancellationToken,
) {
    let wc = watcher::Config::default();
    let (jobs, job_writer) = reflector::store::<Job>();
    let (tx, rx) = mpsc::unbounded_channel::<ObjectRef<Job>>();
    let pod_task = {
        let stop = stop.clone();
        async move {
            let mut stream = std::pin::pin!(pod_stream);
            loop {
                let next = tokio::select! {
                    () = stop.cancelled() => break,
                    n = stream.next() => n,
                };
                let Some(pod) = next else { break };
                if let Some(r) = controller_ref(&pod.metadata)
                    && r.kind == "Job"
                    && r.api_version.starts_with("batch/")
                {
                    let ns = pod.namespace().unwrap_or_default();
                    let _ = tx.send(ObjectRef::new(&r.name).within(&ns));
                }
            }
        }
    };
    let stream = watcher(Api::<Job>::all(client.clone()), wc)
        .default_backoff()
        .reflect(job_writer)
        .touched_objects();
    let ctx = Arc::new(JobCtx {
        client: client.clone(),
        pods: pods.clone(),
        expectations: Expectations::default(),
        recorder: Recorder::new(client, "job-controller"),
    });
    let ctrl = Controller::for_stream(stream, jobs)
        .with_config(config)
        .reconcile_on(UnboundedReceiverStream::new(rx))
        .graceful_shutdown_on(stop.cancelled_owned())
        .run(reconcile, crate::replicaset::error_policy, ctx)
        .for_each(|_| future::ready(()));
    tokio::join!(pod_task, async move {
        let _ = crate::informer::wait_ready(&pods).await;
        ctrl.await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::JobSpec;
    use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    #[test]
    fn pods_carry_job_labels_and_index() {
        let job = Job {
            metadata: ObjectMeta {
                name: Some("pi".into()),
                namespace: Some("default".into()),
                ..ObjectMeta::default()
            },
            spec: Some(JobSpec {
                template: PodTemplateSpec {
                    metadata: None,
                    spec: Some(PodSpec {
                        containers: vec![Container {
                            name: "c".into(),
                            ..Container::default()
                        }],
                        ..PodSpec::default()
                    }),
                },
                ..JobSpec::default()
            }),
            status: None,
        };
        let p = job_pod(&job, "u1", None);
        assert_eq!(p.metadata.generate_name.as_deref(), Some("pi-"));
        let l = p.metadata.labels.clone().unwrap();
        assert_eq!(l["batch.kubernetes.io/controller-uid"], "u1");
        assert_eq!(l["batch.kubernetes.io/job-name"], "pi");
        assert_eq!(l["controller-uid"], "u1");
        assert_eq!(l["job-name"], "pi");
        let r = controller_ref(&p.metadata).unwrap();
        assert_eq!((r.kind.as_str(), r.uid.as_str()), ("Job", "u1"));
        let p = job_pod(&job, "u1", Some(3));
        assert_eq!(p.metadata.generate_name.as_deref(), Some("pi-3-"));
        assert_eq!(pod_index(&p), Some(3));
        assert_eq!(p.metadata.labels.unwrap()[COMPLETION_INDEX], "3");
        assert_eq!(p.spec.unwrap().hostname.as_deref(), Some("pi-3"));
    }
}
