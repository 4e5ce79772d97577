//! Story 6: the shared Jobs manifest: a one-shot Job, a parallel Job, a failing Job that
//! stops at its backoffLimit, and a CronJob that keeps one successful Job.

use std::sync::atomic::{AtomicBool, Ordering};

use rkube_e2e::Cluster;
use rkube_e2e::kubectl_scenario::manifests_dir;
use rkube_e2e::story::{
    ManifestDir, assert_contains, get_json, jp, pods, wait_nodes_ready, wait_until,
};
use serde_json::Value;

const FAILING: &str = r#"---
apiVersion: batch/v1
kind: Job
metadata:
  name: failing
spec:
  backoffLimit: 2
  template:
    spec:
      containers:
      - name: fail
        image: busybox
        command: ["sh", "-c", "echo trying; exit 1"]
      restartPolicy: Never
"#;

/// The CronJob's Jobs: (name, scheduled-timestamp annotation, finished successfully).
fn cron_jobs(c: &Cluster) -> Vec<(String, String, bool)> {
    get_json(c, &["get", "jobs"])["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|j| {
            j["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|os| {
                    os.iter()
                        .any(|o| o["kind"] == "CronJob" && o["name"] == "hello-cron")
                })
        })
        .map(|j| {
            let complete = j["status"]["conditions"].as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Complete" && c["status"] == "True")
            });
            (
                j["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                j["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                complete,
            )
        })
        .collect()
}

/// The minute in a CronJob Job name `hello-cron-<minute>`.
fn minute_of(name: &str) -> i64 {
    name.strip_prefix("hello-cron-")
        .and_then(|m| m.parse().ok())
        .unwrap_or_else(|| panic!("{name} is not hello-cron-<minute>"))
}

fn condition<'a>(job: &'a Value, type_: &str) -> Option<&'a Value> {
    job["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_ && c["status"] == "True")
}

#[test]
fn jobs_parallel_failing_and_cron_history() {
    let c = Cluster::start();
    let _agent = c.simulate_nodes(2);
    wait_nodes_ready(&c, &["sim-0000", "sim-0001"]);
    let src = std::fs::read_to_string(manifests_dir().join("08-jobs.yaml")).expect("manifest");
    let edited = src.replace(
        "  schedule: \"*/1 * * * *\"\n",
        "  schedule: \"*/1 * * * *\"\n  successfulJobsHistoryLimit: 1\n",
    );
    assert_ne!(edited, src, "the CronJob's schedule line moved");
    let dir = ManifestDir::new();
    let f = dir.write("jobs.yaml", &format!("{edited}{FAILING}"));

    let stop = AtomicBool::new(false);
    let most_active = std::thread::scope(|s| {
        // `parallel` may never run more than 2 pods at once.
        let sampler = s.spawn(|| {
            let mut most = 0;
            while !stop.load(Ordering::Relaxed) {
                let running = pods(&c, "job-name=parallel")
                    .iter()
                    .filter(|p| p.active())
                    .count();
                let active = jp(
                    &c,
                    &[
                        "get",
                        "job",
                        "parallel",
                        "--ignore-not-found",
                        "-o",
                        "jsonpath={.status.active}",
                    ],
                )
                .parse::<usize>()
                .unwrap_or(0);
                most = most.max(running).max(active);
            }
            most
        });
        let out = c.ok(&["apply", "-f", &f]);
        for o in [
            "job.batch/myjob created",
            "job.batch/parallel created",
            "cronjob.batch/hello-cron created",
            "job.batch/failing created",
        ] {
            assert_contains(&out, o);
        }
        assert_contains(
            &c.ok(&[
                "wait",
                "--for=condition=complete",
                "job/myjob",
                "--timeout=90s",
            ]),
            "job.batch/myjob condition met",
        );
        assert_contains(
            &c.ok(&[
                "wait",
                "--for=condition=complete",
                "job/parallel",
                "--timeout=120s",
            ]),
            "job.batch/parallel condition met",
        );
        stop.store(true, Ordering::Relaxed);
        sampler.join().expect("sampler")
    });
    let jobs = c.ok(&["get", "jobs", "myjob", "parallel"]);
    let line = |name: &str| {
        jobs.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_default()
            .to_owned()
    };
    assert_contains(&line("myjob"), "Complete");
    assert_contains(&line("myjob"), "1/1");
    assert_contains(&line("parallel"), "6/6");
    let d = c.ok(&["describe", "job", "myjob"]);
    let pod = pods(&c, "job-name=myjob").remove(0);
    for s in [
        "Pods Statuses:    0 Active (0 Ready) / 1 Succeeded / 0 Failed".to_owned(),
        format!("Created pod: {}", pod.name),
        "Job completed".to_owned(),
        "job-controller".to_owned(),
    ] {
        assert_contains(&d, &s);
    }
    assert_eq!(most_active, 2, "parallelism 2: never more, and used");
    let succeeded = pods(&c, "job-name=parallel")
        .iter()
        .filter(|p| p.phase == "Succeeded")
        .count();
    assert_eq!(succeeded, 6);

    // The failing Job: backoffLimit 2 allows 3 pods, then it fails.
    assert_contains(
        &c.ok(&[
            "wait",
            "--for=condition=failed",
            "job/failing",
            "--timeout=150s",
        ]),
        "job.batch/failing condition met",
    );
    let job = get_json(&c, &["get", "job", "failing"]);
    let failed = condition(&job, "Failed").expect("Failed condition");
    assert_eq!(failed["reason"], "BackoffLimitExceeded");
    assert_eq!(
        failed["message"],
        "Job has reached the specified backoff limit"
    );
    assert_eq!(job["status"]["failed"], 3);
    let fp = pods(&c, "job-name=failing");
    assert_eq!(fp.len(), 3, "{fp:?}");
    assert!(fp.iter().all(|p| p.phase == "Failed"), "{fp:?}");
    let d = c.ok(&["describe", "job", "failing"]);
    assert_contains(&d, "BackoffLimitExceeded");
    assert_contains(&c.ok(&["get", "job", "failing"]), "Failed");

    // The CronJob: a Job per minute named after the minute; one successful Job kept.
    wait_until(&c, 100, "a first Job of the CronJob", || {
        cron_jobs(&c).iter().any(|j| j.2)
    });
    let first = cron_jobs(&c).remove(0);
    let scheduled = first
        .1
        .parse::<jiff::Timestamp>()
        .unwrap_or_else(|e| panic!("scheduled timestamp {:?}: {e}", first.1));
    assert_eq!(
        minute_of(&first.0),
        scheduled.as_second() / 60,
        "the Job is named after its scheduled minute"
    );
    wait_until(
        &c,
        100,
        "a later Job completed and the first one removed",
        || {
            let jobs = cron_jobs(&c);
            jobs.iter()
                .any(|j| j.2 && minute_of(&j.0) > minute_of(&first.0))
                && !jobs.iter().any(|j| j.0 == first.0)
        },
    );
    let kept: Vec<(String, String, bool)> = cron_jobs(&c).into_iter().filter(|j| j.2).collect();
    assert_eq!(kept.len(), 1, "successfulJobsHistoryLimit 1: {kept:?}");
    let cj = get_json(&c, &["get", "cronjob", "hello-cron"]);
    assert!(cj["status"]["lastScheduleTime"].is_string(), "{cj}");
    assert!(cj["status"]["lastSuccessfulTime"].is_string(), "{cj}");
    let listing = c.ok(&["get", "cronjob", "hello-cron"]);
    assert_contains(&listing, "*/1 * * * *");
    let row: Vec<&str> = listing
        .lines()
        .find(|l| l.starts_with("hello-cron"))
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert!(
        row.len() >= 2 && row[row.len() - 2] != "<none>",
        "LAST SCHEDULE is set: {listing}"
    );
    let events = c.ok(&["describe", "cronjob", "hello-cron"]);
    assert_contains(&events, &format!("Created job {}", first.0));
    assert_contains(&events, &format!("Deleted job {}", first.0));
}
