//! End-to-end: Job and CronJob controllers in-process against a real `rkube server`; the test
//! plays the node by writing pod phases itself.

use crate::support::{Env, make_ns, wait_for};

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use rkube_controllers::{ControllersConfig, cronjob};
use serde_json::json;

/// Starts a server, every controller but the CronJob one, and the CronJob controller with
/// a clock `clock_ahead` ahead of the wall clock.
async fn start(clock_ahead: i64) -> Result<Env> {
    let env = Env::start(ControllersConfig {
        cronjobs: false,
        ..ControllersConfig::default()
    })
    .await?;
    tokio::spawn(cronjob::run_with_clock(
        env.client.clone(),
        kube::runtime::controller::Config::default(),
        env.stop.clone(),
        Arc::new(move || {
            jiff::Timestamp::now()
                .checked_add(jiff::SignedDuration::from_secs(clock_ahead))
                .unwrap_or_else(|_| jiff::Timestamp::now())
        }),
    ));
    Ok(env)
}

fn job(name: &str, extra: serde_json::Value) -> Result<Job> {
    let mut v = json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "c", "image": "busybox", "command": ["echo", "hi"]}]
            }}
        }
    });
    if let (Some(spec), Some(extra)) = (v["spec"].as_object_mut(), extra.as_object()) {
        for (k, x) in extra {
            spec.insert(k.clone(), x.clone());
        }
    }
    Ok(serde_json::from_value(v)?)
}

/// The job's pods that have not finished.
async fn active_pods(pods: &Api<Pod>, job: &str) -> Result<Vec<Pod>> {
    let list = pods
        .list(&ListParams::default().labels(&format!("job-name={job}")))
        .await?;
    Ok(list
        .items
        .into_iter()
        .filter(|p| {
            p.metadata.deletion_timestamp.is_none()
                && !matches!(
                    p.status.as_ref().and_then(|s| s.phase.as_deref()),
                    Some("Succeeded" | "Failed")
                )
        })
        .collect())
}

/// Plays the node: the pod's container terminates with `exit` and the pod goes terminal.
async fn finish(pods: &Api<Pod>, pod: &Pod, exit: i32) -> Result<()> {
    let now = jiff::Timestamp::now().to_string();
    let phase = if exit == 0 { "Succeeded" } else { "Failed" };
    let status = json!({"status": {
        "phase": phase,
        "containerStatuses": [{
            "name": "c", "image": "busybox", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": exit, "reason": if exit == 0 { "Completed" } else { "Error" },
                "startedAt": now, "finishedAt": now}}
        }]
    }});
    pods.patch_status(
        &pod.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&status),
    )
    .await?;
    Ok(())
}

fn condition(job: &Job, type_: &str) -> Option<(String, Option<String>)> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone()))
}

async fn wait_condition(jobs: &Api<Job>, name: &str, type_: &str) -> Result<Job> {
    wait_for(&format!("job {name} condition {type_}"), || async {
        let j = jobs.get(name).await?;
        Ok(condition(&j, type_)
            .is_some_and(|(s, _)| s == "True")
            .then_some(j))
    })
    .await
}

#[tokio::test]
async fn jobs_complete_run_in_parallel_and_fail() -> Result<()> {
    let env = start(0).await?;
    let c = env.client.clone();
    make_ns(&c, "jobs").await?;
    let jobs: Api<Job> = Api::namespaced(c.clone(), "jobs");
    let pods: Api<Pod> = Api::namespaced(c.clone(), "jobs");

    // A Job of 1 completes: COMPLETIONS 1/1.
    jobs.create(&PostParams::default(), &job("myjob", json!({}))?)
        .await?;
    let pod = wait_for("myjob pod", || async {
        Ok(active_pods(&pods, "myjob").await?.into_iter().next())
    })
    .await?;
    let labels = pod.labels();
    assert_eq!(
        labels
            .get("batch.kubernetes.io/job-name")
            .map(String::as_str),
        Some("myjob")
    );
    assert!(labels.contains_key("batch.kubernetes.io/controller-uid"));
    assert!(labels.contains_key("controller-uid"));
    assert_eq!(pod.metadata.generate_name.as_deref(), Some("myjob-"));
    finish(&pods, &pod, 0).await?;
    let done = wait_condition(&jobs, "myjob", "Complete").await?;
    let st = done.status.clone().unwrap_or_default();
    assert_eq!(st.succeeded, Some(1));
    assert!(st.completion_time.is_some());
    assert!(st.start_time.is_some());
    assert!(condition(&done, "SuccessCriteriaMet").is_some());

    // 6 completions, 2 at a time.
    jobs.create(
        &PostParams::default(),
        &job("parallel", json!({"completions": 6, "parallelism": 2}))?,
    )
    .await?;
    let mut finished = 0;
    let start = Instant::now();
    while finished < 6 {
        if start.elapsed() > Duration::from_secs(40) {
            bail!("parallel job stuck after {finished} completions");
        }
        let active = active_pods(&pods, "parallel").await?;
        assert!(active.len() <= 2, "{} active pods", active.len());
        if let Some(p) = active.first() {
            finish(&pods, p, 0).await?;
            finished += 1;
            // Wait for the controller to see it before looking again.
            wait_for("parallel succeeded count", || async {
                let j = jobs.get("parallel").await?;
                let s = j.status.unwrap_or_default().succeeded.unwrap_or(0);
                Ok((s >= finished).then_some(()))
            })
            .await?;
        } else {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let done = wait_condition(&jobs, "parallel", "Complete").await?;
    assert_eq!(done.status.unwrap_or_default().succeeded, Some(6));

    // A failing Job stops after backoffLimit with Failed/BackoffLimitExceeded.
    jobs.create(
        &PostParams::default(),
        &job("failing", json!({"backoffLimit": 1}))?,
    )
    .await?;
    let mut failures = 0;
    let start = Instant::now();
    let failed = loop {
        if start.elapsed() > Duration::from_secs(40) {
            bail!("failing job did not fail after {failures} pod failures");
        }
        let j = jobs.get("failing").await?;
        if condition(&j, "Failed").is_some_and(|(s, _)| s == "True") {
            break j;
        }
        for p in active_pods(&pods, "failing").await? {
            finish(&pods, &p, 1).await?;
            failures += 1;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        condition(&failed, "Failed").and_then(|(_, r)| r).as_deref(),
        Some("BackoffLimitExceeded")
    );
    assert_eq!(failed.status.clone().unwrap_or_default().failed, Some(2));
    assert_eq!(failures, 2);
    assert!(active_pods(&pods, "failing").await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn cronjob_creates_job_named_after_the_minute() -> Result<()> {
    // The controller's clock runs 90 s ahead, so a `*/1` schedule is due at once.
    let env = start(90).await?;
    let c = env.client.clone();
    make_ns(&c, "cron").await?;
    let cjs: Api<CronJob> = Api::namespaced(c.clone(), "cron");
    let cj: CronJob = serde_json::from_value(json!({
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "hello-cron"},
        "spec": {
            "schedule": "*/1 * * * *",
            "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "OnFailure",
                "containers": [{"name": "c", "image": "busybox", "command": ["date"]}]
            }}}}
        }
    }))?;
    let created = cjs.create(&PostParams::default(), &cj).await?;
    let created_at = created
        .metadata
        .creation_timestamp
        .as_ref()
        .context("creationTimestamp")?
        .0
        .as_second();
    let jobs: Api<Job> = Api::namespaced(c.clone(), "cron");
    let job = wait_for("cron job", || async {
        Ok(jobs
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .next())
    })
    .await?;
    let name = job.name_any();
    let minute: i64 = name
        .strip_prefix("hello-cron-")
        .context("job name prefix")?
        .parse()
        .context("job name suffix is minutes")?;
    assert!(minute * 60 > created_at, "{name} scheduled before creation");
    assert!(
        job.annotations()
            .contains_key("batch.kubernetes.io/cronjob-scheduled-timestamp")
    );
    let owner = job
        .owner_references()
        .iter()
        .find(|r| r.controller == Some(true))
        .context("controller ref")?;
    assert_eq!(owner.kind, "CronJob");
    let cj = wait_for("cronjob status", || async {
        let cj = cjs.get("hello-cron").await?;
        let st = cj.status.clone().unwrap_or_default();
        Ok((st.last_schedule_time.is_some() && st.active.is_some()).then_some(cj))
    })
    .await?;
    let st = cj.status.unwrap_or_default();
    assert_eq!(
        st.last_schedule_time.map(|t| t.0.as_second()),
        Some(minute * 60)
    );
    Ok(())
}
