//! The CronJob controller: creates a Job per scheduled time, honours concurrencyPolicy,
//! startingDeadlineSeconds, suspend and the history limits, and writes the CronJob's status.

pub mod schedule;

use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, future};
use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, PropagationPolicy};
use kube::runtime::controller::{Action, Config as CtrlConfig, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_util::sync::CancellationToken;

use crate::error::{ControllerError, is_conflict, is_not_found};
use crate::events::Recorder;
use crate::podutil::{controller_ref, new_controller_ref};
use schedule::{Schedule, job_name, missed_deadline, most_recent, zone};

/// The annotation holding a Job's scheduled time.
pub const SCHEDULED_TIMESTAMP_ANNOTATION: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

/// The controller's notion of "now"; injectable for tests.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// What the CronJob reconciler needs.
pub struct CronJobCtx {
    /// The API client.
    pub client: Client,
    /// Every Job.
    pub jobs: Store<Job>,
    /// Events as `cronjob-controller`.
    pub recorder: Recorder,
    /// The current time.
    pub clock: Clock,
}

/// Whether a Job has finished, and how: `Some("Complete")` / `Some("Failed")`.
pub fn finished_condition(job: &Job) -> Option<&'static str> {
    let conds = job.status.as_ref()?.conditions.as_ref()?;
    for c in conds {
        if c.status == "True" {
            match c.type_.as_str() {
                "Complete" => return Some("Complete"),
                "Failed" => return Some("Failed"),
                _ => {}
            }
        }
    }
    None
}

/// What concurrencyPolicy says to do about a due run given the active Jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concurrency {
    /// Create the Job.
    Run,
    /// Skip this run (Forbid with an active Job).
    Skip,
    /// Delete the active Jobs, then create (Replace).
    ReplaceThenRun,
}

/// Upstream's concurrencyPolicy decision.
pub fn concurrency_decision(policy: Option<&str>, active: usize) -> Concurrency {
    match (policy.unwrap_or("Allow"), active) {
        (_, 0) => Concurrency::Run,
        ("Forbid", _) => Concurrency::Skip,
        ("Replace", _) => Concurrency::ReplaceThenRun,
        _ => Concurrency::Run,
    }
}

/// Which finished Jobs to delete: the oldest beyond `limit`. `jobs` is `(name, start)`.
pub fn history_to_delete(mut jobs: Vec<(String, Timestamp)>, limit: i32) -> Vec<String> {
    let limit = usize::try_from(limit.max(0)).unwrap_or(0);
    if jobs.len() <= limit {
        return Vec::new();
    }
    jobs.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    let n = jobs.len() - limit;
    jobs.into_iter().take(n).map(|(n, _)| n).collect()
}

fn job_start(job: &Job) -> Timestamp {
    job.status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .or(job.metadata.creation_timestamp.as_ref())
        .map(|t| t.0)
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

fn job_ref(job: &Job) -> ObjectReference {
    ObjectReference {
        api_version: Some("batch/v1".into()),
        kind: Some("Job".into()),
        name: job.metadata.name.clone(),
        namespace: job.metadata.namespace.clone(),
        uid: job.metadata.uid.clone(),
        resource_version: job.metadata.resource_version.clone(),
        field_path: None,
    }
}

fn requeue_until(next: Option<Timestamp>, now: Timestamp) -> Action {
    match next {
        Some(n) => {
            let ms = (n.as_millisecond() - now.as_millisecond()).max(0) + 100;
            Action::requeue(Duration::from_millis(u64::try_from(ms).unwrap_or(100)))
        }
        None => Action::await_change(),
    }
}

async fn delete_job(
    ctx: &CronJobCtx,
    cj: &CronJob,
    ns: &str,
    name: &str,
) -> Result<(), ControllerError> {
    let api: Api<Job> = Api::namespaced(ctx.client.clone(), ns);
    let dp = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..DeleteParams::default()
    };
    match api.delete(name, &dp).await {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => return Ok(()),
        Err(e) => return Err(ControllerError::api(format!("delete job {ns}/{name}"))(e)),
    }
    ctx.recorder.record(
        cj,
        "Normal",
        "SuccessfulDelete",
        format!("Deleted job {name}"),
    );
    Ok(())
}

/// Reconciles one CronJob.
pub async fn reconcile(cj: Arc<CronJob>, ctx: Arc<CronJobCtx>) -> Result<Action, ControllerError> {
    if cj.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let ns = cj.namespace().unwrap_or_default();
    let name = cj.name_any();
    let uid = cj.uid().unwrap_or_default();
    let spec = cj.spec.clone().unwrap_or_default();
    let now = (ctx.clock)();
    let status = cj.status.clone().unwrap_or_default();

    // Children: Jobs whose controller is this CronJob.
    let children: Vec<Arc<Job>> = ctx.jobs.state_filter(|j| {
        j.metadata.namespace.as_deref() == Some(ns.as_str())
            && controller_ref(&j.metadata).is_some_and(|r| r.uid == uid)
    });
    let mut active: Vec<Arc<Job>> = Vec::new();
    let mut succeeded: Vec<(String, Timestamp)> = Vec::new();
    let mut failed: Vec<(String, Timestamp)> = Vec::new();
    let mut last_successful = status.last_successful_time.as_ref().map(|t| t.0);
    let was_active: Vec<String> = status
        .active
        .iter()
        .flatten()
        .filter_map(|r| r.uid.clone())
        .collect();
    for j in &children {
        match finished_condition(j) {
            None => active.push(j.clone()),
            Some(how) => {
                if was_active
                    .iter()
                    .any(|u| Some(u) == j.metadata.uid.as_ref())
                {
                    ctx.recorder.record(
                        cj.as_ref(),
                        "Normal",
                        "SawCompletedJob",
                        format!("Saw completed job: {}, condition: {how}", j.name_any()),
                    );
                }
                let entry = (j.name_any(), job_start(j));
                if how == "Complete" {
                    let done = j
                        .status
                        .as_ref()
                        .and_then(|s| s.completion_time.as_ref())
                        .map(|t| t.0);
                    if let Some(d) = done
                        && last_successful.is_none_or(|l| d > l)
                    {
                        last_successful = Some(d);
                    }
                    succeeded.push(entry);
                } else {
                    failed.push(entry);
                }
            }
        }
    }

    // History limits.
    for n in history_to_delete(succeeded, spec.successful_jobs_history_limit.unwrap_or(3)) {
        delete_job(&ctx, &cj, &ns, &n).await?;
    }
    for n in history_to_delete(failed, spec.failed_jobs_history_limit.unwrap_or(1)) {
        delete_job(&ctx, &cj, &ns, &n).await?;
    }

    let mut last_schedule = status.last_schedule_time.as_ref().map(|t| t.0);
    let mut action = Action::await_change();
    let sched = Schedule::parse(&spec.schedule);
    let tz = zone(spec.time_zone.as_deref());
    match (sched, tz) {
        (Err(e), _) => {
            ctx.recorder.record(
                cj.as_ref(),
                "Warning",
                "UnparseableSchedule",
                format!("unparseable schedule: {:?} : {e}", spec.schedule),
            );
        }
        (_, None) => {
            ctx.recorder.record(
                cj.as_ref(),
                "Warning",
                "UnknownTimeZone",
                format!("invalid timeZone: {:?}", spec.time_zone),
            );
        }
        (Ok(sched), Some(tz)) => {
            let created = cj.metadata.creation_timestamp.as_ref().map_or(now, |t| t.0);
            let due = most_recent(
                &sched,
                &tz,
                last_schedule,
                created,
                spec.starting_deadline_seconds,
                now,
            );
            action = requeue_until(due.next, now);
            if due.missed > 100 {
                ctx.recorder
                    .record(
                        cj.as_ref(),
                        "Warning",
                        "TooManyMissedTimes",
                        "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew".to_owned(),
                    );
            }
            if let Some(scheduled) = due.most_recent
                && !spec.suspend.unwrap_or(false)
            {
                if missed_deadline(scheduled, spec.starting_deadline_seconds, now) {
                    ctx.recorder.record(
                        cj.as_ref(),
                        "Warning",
                        "MissSchedule",
                        format!(
                            "Missed scheduled time to start a job: {}",
                            scheduled.to_zoned(tz.clone())
                        ),
                    );
                } else {
                    let jname = job_name(&name, scheduled);
                    let already = children.iter().any(|j| j.name_any() == jname);
                    let decision =
                        concurrency_decision(spec.concurrency_policy.as_deref(), active.len());
                    if !already && decision == Concurrency::Skip {
                        // Forbid: try again when the active Job finishes (a Job event wakes us).
                    } else if !already {
                        if decision == Concurrency::ReplaceThenRun {
                            for j in std::mem::take(&mut active) {
                                delete_job(&ctx, &cj, &ns, &j.name_any()).await?;
                            }
                        }
                        let created =
                            create_job(&ctx, &cj, &ns, &name, &uid, &jname, scheduled, &tz).await?;
                        if let Some(j) = created {
                            active.push(Arc::new(j));
                        }
                        last_schedule = Some(scheduled);
                    } else {
                        last_schedule = Some(last_schedule.map_or(scheduled, |l| l.max(scheduled)));
                    }
                }
            }
        }
    }

    // Status.
    let active_refs: Vec<ObjectReference> = active.iter().map(|j| job_ref(j)).collect();
    let want = json!({
        "active": if active_refs.is_empty() { serde_json::Value::Null } else { serde_json::to_value(&active_refs).map_err(ControllerError::json("active"))? },
        "lastScheduleTime": last_schedule.map(|t| t.to_string()),
        "lastSuccessfulTime": last_successful.map(|t| t.to_string()),
    });
    let cur_active: Vec<Option<String>> = status
        .active
        .iter()
        .flatten()
        .map(|r| r.uid.clone())
        .collect();
    let want_active: Vec<Option<String>> = active_refs.iter().map(|r| r.uid.clone()).collect();
    let changed = cur_active != want_active
        || status.last_schedule_time.as_ref().map(|t| t.0) != last_schedule
        || status.last_successful_time.as_ref().map(|t| t.0) != last_successful;
    if changed {
        let api: Api<CronJob> = Api::namespaced(ctx.client.clone(), &ns);
        match api
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(&json!({ "status": want })),
            )
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => return Ok(Action::await_change()),
            Err(e) => {
                return Err(ControllerError::api(format!(
                    "status of cronjob {ns}/{name}"
                ))(e));
            }
        }
    }
    Ok(action)
}

#[allow(clippy::too_many_arguments)]
async fn create_job(
    ctx: &CronJobCtx,
    cj: &CronJob,
    ns: &str,
    name: &str,
    uid: &str,
    jname: &str,
    scheduled: Timestamp,
    tz: &jiff::tz::TimeZone,
) -> Result<Option<Job>, ControllerError> {
    let template = cj
        .spec
        .as_ref()
        .map(|s| s.job_template.clone())
        .unwrap_or_default();
    let tmeta = template.metadata.unwrap_or_default();
    let mut annotations = tmeta.annotations.unwrap_or_default();
    annotations.insert(
        SCHEDULED_TIMESTAMP_ANNOTATION.to_owned(),
        scheduled
            .to_zoned(tz.clone())
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string(),
    );
    let job = Job {
        metadata: ObjectMeta {
            name: Some(jname.to_owned()),
            namespace: Some(ns.to_owned()),
            labels: tmeta.labels,
            annotations: Some(annotations),
            owner_references: Some(vec![new_controller_ref("batch/v1", "CronJob", name, uid)]),
            ..ObjectMeta::default()
        },
        spec: template.spec,
        status: None,
    };
    let api: Api<Job> = Api::namespaced(ctx.client.clone(), ns);
    match api.create(&PostParams::default(), &job).await {
        Ok(j) => {
            ctx.recorder.record(
                cj,
                "Normal",
                "SuccessfulCreate",
                format!("Created job {jname}"),
            );
            Ok(Some(j))
        }
        // Created by an earlier pass whose status write was lost.
        Err(e) if is_conflict(&e) => Ok(None),
        Err(e) => {
            ctx.recorder.record(
                cj,
                "Warning",
                "FailedCreate",
                format!("Error creating job: {e}"),
            );
            Err(ControllerError::api(format!("create job {ns}/{jname}"))(e))
        }
    }
}

/// Runs the CronJob controller with the wall clock until `stop` is cancelled.
pub async fn run(client: Client, config: CtrlConfig, stop: CancellationToken) {
    run_with_clock(client, config, stop, Arc::new(Timestamp::now)).await;
}

/// Runs the CronJob controller with an injected clock (tests move time forward).
pub async fn run_with_clock(
    client: Client,
    config: CtrlConfig,
    stop: CancellationToken,
    clock: Clock,
) {
    let wc = watcher::Config::default();
    let (jobs, job_writer) = reflector::store::<Job>();
    let (cjs, cj_writer) = reflector::store::<CronJob>();
    let (tx, rx) = mpsc::unbounded_channel::<ObjectRef<CronJob>>();
    let job_stream = watcher(Api::<Job>::all(client.clone()), wc.clone())
        .default_backoff()
        .reflect(job_writer)
        .touched_objects();
    let job_task = {
        let stop = stop.clone();
        async move {
            let mut stream = std::pin::pin!(job_stream);
            loop {
                let next = tokio::select! {
                    () = stop.cancelled() => break,
                    n = stream.next() => n,
                };
                let Some(item) = next else { break };
                let Ok(job) = item else { continue };
                if let Some(r) = controller_ref(&job.metadata)
                    && r.kind == "CronJob"
                {
                    let ns = job.namespace().unwrap_or_default();
                    let _ = tx.send(ObjectRef::new(&r.name).within(&ns));
                }
            }
        }
    };
    let stream = watcher(Api::<CronJob>::all(client.clone()), wc)
        .default_backoff()
        .reflect(cj_writer)
        .touched_objects();
    let ctx = Arc::new(CronJobCtx {
        client: client.clone(),
        jobs: jobs.clone(),
        recorder: Recorder::new(client, "cronjob-controller"),
        clock,
    });
    let ctrl = Controller::for_stream(stream, cjs)
        .with_config(config)
        .reconcile_on(UnboundedReceiverStream::new(rx))
        .graceful_shutdown_on(stop.cancelled_owned())
        .run(reconcile, crate::replicaset::error_policy, ctx)
        .for_each(|_| future::ready(()));
    tokio::join!(job_task, async move {
        // Wait for the Job cache so the first reconciles see existing children.
        let _ = crate::informer::wait_ready(&jobs).await;
        ctrl.await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrency_policy() {
        assert_eq!(concurrency_decision(None, 0), Concurrency::Run);
        assert_eq!(concurrency_decision(Some("Allow"), 2), Concurrency::Run);
        assert_eq!(concurrency_decision(Some("Forbid"), 0), Concurrency::Run);
        assert_eq!(concurrency_decision(Some("Forbid"), 1), Concurrency::Skip);
        assert_eq!(
            concurrency_decision(Some("Replace"), 1),
            Concurrency::ReplaceThenRun
        );
        assert_eq!(concurrency_decision(Some("Replace"), 0), Concurrency::Run);
    }

    #[test]
    fn history_keeps_newest() {
        let t = |s: i64| Timestamp::from_second(s).unwrap();
        let jobs = vec![
            ("c".to_owned(), t(300)),
            ("a".to_owned(), t(100)),
            ("d".to_owned(), t(400)),
            ("b".to_owned(), t(200)),
        ];
        assert_eq!(history_to_delete(jobs.clone(), 3), vec!["a"]);
        assert_eq!(history_to_delete(jobs.clone(), 1), vec!["a", "b", "c"]);
        assert_eq!(history_to_delete(jobs.clone(), 0).len(), 4);
        assert!(history_to_delete(jobs, 4).is_empty());
    }
}
