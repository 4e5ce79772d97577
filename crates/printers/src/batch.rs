//! Printers for batch kinds: jobs (with 1.33's STATUS column) and cron jobs (with TIMEZONE).

use jiff::Timestamp;
use serde_json::Value;

use crate::duration::{human_duration, since};
use crate::util::{Obj, bool_ptr, container_cells, format_label_selector, n, s};
use crate::{AGE, Column, NAME, col};

const CONTAINERS_DESC: &str = "Names of each container in the template.";
const IMAGES_DESC: &str = "Images referenced by each container in the template.";
const SELECTOR_DESC: &str = "A label query over pods that should match the pod count. Normally, the system sets this field for you. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors";

pub(crate) static JOB_COLUMNS: &[Column] = &[
    NAME,
    col("Status", "string", "Status of the job.", 0),
    col(
        "Completions",
        "string",
        "The number of pods which reached phase Succeeded. The value increases monotonically for a given spec. However, it may decrease in reaction to scale down of elastic indexed jobs.",
        0,
    ),
    col(
        "Duration",
        "string",
        "Time required to complete the job.",
        0,
    ),
    AGE,
    col("Containers", "string", CONTAINERS_DESC, 1),
    col("Images", "string", IMAGES_DESC, 1),
    col("Selector", "string", SELECTOR_DESC, 1),
];

/// Upstream's `hasJobCondition`: the first condition of that type decides.
fn has_condition(job: Obj<'_>, kind: &str) -> bool {
    job.arr(&["status", "conditions"])
        .iter()
        .map(Obj)
        .find(|c| c.str(&["type"]) == kind)
        .is_some_and(|c| c.str(&["status"]) == "True")
}

fn job_status(job: Obj<'_>) -> &'static str {
    if has_condition(job, "Complete") {
        "Complete"
    } else if has_condition(job, "Failed") {
        "Failed"
    } else if job.deleting() {
        "Terminating"
    } else if has_condition(job, "Suspended") {
        "Suspended"
    } else if has_condition(job, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    }
}

pub(crate) fn job_cells(job: Obj<'_>, now: Timestamp) -> Vec<Value> {
    let succeeded = job.int(&["status", "succeeded"]);
    let completions = match job.opt_int(&["spec", "completions"]) {
        Some(c) => format!("{succeeded}/{c}"),
        None => match job.int(&["spec", "parallelism"]) {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let duration = match (
        job.time(&["status", "startTime"]),
        job.time(&["status", "completionTime"]),
    ) {
        (None, _) => String::new(),
        (Some(start), None) => since(Some(start), now),
        (Some(start), Some(end)) => human_duration(end.duration_since(start)),
    };
    let (names, images) = container_cells(job.at(&["spec", "template", "spec"]));
    vec![
        s(job.name()),
        s(job_status(job)),
        s(completions),
        s(duration),
        s(job.age(now)),
        s(names),
        s(images),
        s(format_label_selector(job.at(&["spec", "selector"]))),
    ]
}

pub(crate) static CRONJOB_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Schedule",
        "string",
        "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.",
        0,
    ),
    col(
        "Timezone",
        "string",
        "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones. If not specified, this will default to the time zone of the kube-controller-manager process. The set of valid time zone names and the time zone offset is loaded from the system-wide time zone database by the API server during CronJob validation and the controller manager during execution. If no system-wide time zone database can be found a bundled version of the database is used instead. If the time zone name becomes invalid during the lifetime of a CronJob or due to a change in host configuration, the controller will stop creating new new Jobs and will create a system event with the reason UnknownTimeZone. More information can be found in https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#time-zones",
        0,
    ),
    col(
        "Suspend",
        "boolean",
        "This flag tells the controller to suspend subsequent executions, it does not apply to already started executions.  Defaults to false.",
        0,
    ),
    col(
        "Active",
        "integer",
        "A list of pointers to currently running jobs.",
        0,
    ),
    col(
        "Last Schedule",
        "string",
        "Information when was the last time the job was successfully scheduled.",
        0,
    ),
    AGE,
    col("Containers", "string", CONTAINERS_DESC, 1),
    col("Images", "string", IMAGES_DESC, 1),
    col("Selector", "string", SELECTOR_DESC, 1),
];

pub(crate) fn cronjob_cells(cj: Obj<'_>, now: Timestamp) -> Vec<Value> {
    let last = match cj.time(&["status", "lastScheduleTime"]) {
        Some(t) => since(Some(t), now),
        None if cj.has(&["status", "lastScheduleTime"]) => "<unknown>".to_string(),
        None => "<none>".to_string(),
    };
    let job_spec = cj.at(&["spec", "jobTemplate", "spec"]);
    let (names, images) = container_cells(job_spec.at(&["template", "spec"]));
    vec![
        s(cj.name()),
        s(cj.str(&["spec", "schedule"])),
        s(cj.opt_str(&["spec", "timeZone"]).unwrap_or("<none>")),
        s(bool_ptr(cj.opt_bool(&["spec", "suspend"]))),
        n(cj.arr(&["status", "active"]).len() as i64),
        s(last),
        s(cj.age(now)),
        s(names),
        s(images),
        s(format_label_selector(job_spec.at(&["selector"]))),
    ]
}
