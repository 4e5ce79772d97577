//! Defaults of batch/v1 Jobs and CronJobs, and the selector a Job gets on create.

use serde_json::{Value, json};

use super::pod;
use super::util::{Obj, each_obj, ensure_obj, get_obj, set_if_nil, set_if_zero, with_obj};

/// `SetObjectDefaults_Job`.
pub(crate) fn job(o: &mut Obj) {
    let spec = ensure_obj(o, "spec");
    if spec.get("completions").is_none_or(Value::is_null)
        && spec.get("parallelism").is_none_or(Value::is_null)
    {
        spec.insert("completions".into(), json!(1));
        spec.insert("parallelism".into(), json!(1));
    }
    set_if_nil(spec, "parallelism", json!(1));
    let per_index = spec
        .get("backoffLimitPerIndex")
        .is_some_and(|v| !v.is_null());
    set_if_nil(
        spec,
        "backoffLimit",
        json!(if per_index { i32::MAX } else { 6 }),
    );
    set_if_nil(spec, "completionMode", json!("NonIndexed"));
    set_if_nil(spec, "suspend", json!(false));
    let has_failure_policy = spec.get("podFailurePolicy").is_some_and(|v| !v.is_null());
    with_obj(spec, "podFailurePolicy", |p| {
        each_obj(p, "rules", |r| {
            each_obj(r, "onPodConditions", |c| {
                set_if_zero(c, "status", json!("True"))
            })
        })
    });
    let replacement = if has_failure_policy {
        "Failed"
    } else {
        "TerminatingOrFailed"
    };
    set_if_nil(spec, "podReplacementPolicy", json!(replacement));
    let template = ensure_obj(spec, "template");
    pod::template(template);
    let template_labels = labels_of(template);
    copy_labels_if_empty(o, template_labels);
    set_if_nil(o, "status", json!({}));
}

/// `SetObjectDefaults_CronJob`.
pub(crate) fn cron_job(o: &mut Obj) {
    let spec = ensure_obj(o, "spec");
    set_if_zero(spec, "concurrencyPolicy", json!("Allow"));
    set_if_nil(spec, "suspend", json!(false));
    set_if_nil(spec, "successfulJobsHistoryLimit", json!(3));
    set_if_nil(spec, "failedJobsHistoryLimit", json!(1));
    let jt = ensure_obj(spec, "jobTemplate");
    pod::template_metadata(jt);
    let job_spec = ensure_obj(jt, "spec");
    pod::template(ensure_obj(job_spec, "template"));
    set_if_nil(o, "status", json!({}));
}

fn labels_of(o: &mut Obj) -> Option<Value> {
    let meta = get_obj(o, "metadata")?;
    meta.get("labels").filter(|l| l.is_object()).cloned()
}

/// Gives the object `labels` when it has none of its own.
pub(crate) fn copy_labels_if_empty(o: &mut Obj, labels: Option<Value>) {
    let Some(labels) = labels else { return };
    let meta = ensure_obj(o, "metadata");
    let empty = meta
        .get("labels")
        .and_then(Value::as_object)
        .is_none_or(|m| m.is_empty());
    if empty {
        meta.insert("labels".into(), labels);
    }
}

/// The selector and pod labels upstream's Job strategy generates on create, unless
/// `spec.manualSelector` is true.
pub fn apply_job_create_defaults(obj: &mut Value, uid: &str) {
    let Some(o) = obj.as_object_mut() else { return };
    let name = o
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let spec = ensure_obj(o, "spec");
    if spec.get("manualSelector").and_then(Value::as_bool) == Some(true) {
        return;
    }
    let template_meta = ensure_obj(ensure_obj(spec, "template"), "metadata");
    let labels = ensure_obj(template_meta, "labels");
    for (k, v) in [
        ("batch.kubernetes.io/controller-uid", uid),
        ("batch.kubernetes.io/job-name", name.as_str()),
        ("controller-uid", uid),
        ("job-name", name.as_str()),
    ] {
        labels.entry(k).or_insert_with(|| json!(v));
    }
    let labels = Value::Object(labels.clone());
    let match_labels = ensure_obj(ensure_obj(spec, "selector"), "matchLabels");
    match_labels
        .entry("batch.kubernetes.io/controller-uid")
        .or_insert_with(|| json!(uid));
    copy_labels_if_empty(o, Some(labels));
}
