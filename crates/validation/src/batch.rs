//! Validation of Jobs and CronJobs.

use serde_json::Value;

use crate::apps::render_selector;
use crate::cron;
use crate::pod::validate_pod_template_spec;
use crate::selector::{selector_matches, validate_label_selector};
use crate::util::*;

/// Checks of a `JobSpec` shared by Jobs and CronJob job templates (not the selector).
fn validate_job_spec(spec: &Value, path: &str) -> Errs {
    let mut errs = Errs::new();
    for f in [
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "backoffLimit",
        "ttlSecondsAfterFinished",
    ] {
        nonneg(spec, f, path, &mut errs);
    }
    if let Some(ads) = int(spec, "activeDeadlineSeconds")
        && ads == 0
    {
        errs.push(invalid_int(
            at(path, "activeDeadlineSeconds"),
            ads,
            "must be greater than 0",
        ));
    }
    for f in ["backoffLimitPerIndex", "maxFailedIndexes"] {
        nonneg(spec, f, path, &mut errs);
    }
    match s(spec, "completionMode") {
        None | Some("NonIndexed") => {
            for f in ["backoffLimitPerIndex", "maxFailedIndexes"] {
                if has(spec, f) {
                    errs.push(forbidden(at(path, f), "requires indexed completion mode"));
                }
            }
        }
        Some("Indexed") => {
            if !has(spec, "completions") {
                errs.push(required(
                    at(path, "completions"),
                    "when completion mode is Indexed",
                ));
            }
        }
        Some(other) => errs.push(not_supported(
            at(path, "completionMode"),
            other,
            &["NonIndexed", "Indexed"],
        )),
    }
    if let Some(pr) = s(spec, "podReplacementPolicy")
        && !matches!(pr, "TerminatingOrFailed" | "Failed")
    {
        errs.push(not_supported(
            at(path, "podReplacementPolicy"),
            pr,
            &["Failed", "TerminatingOrFailed"],
        ));
    }
    let tp = at(path, "template");
    let tpl = get(spec, "template");
    errs.extend(validate_pod_template_spec(tpl, &tp));
    let rp = se(get(tpl, "spec"), "restartPolicy");
    if rp != "OnFailure" && rp != "Never" {
        errs.push(not_supported(
            at(&at(&tp, "spec"), "restartPolicy"),
            rp,
            &["OnFailure", "Never"],
        ));
    }
    if let Some(pfp) = spec.get("podFailurePolicy").filter(|v| !v.is_null()) {
        if rp != "Never" {
            errs.push(invalid(
                at(&at(&tp, "spec"), "restartPolicy"),
                rp,
                "only \"Never\" is supported when podFailurePolicy is specified",
            ));
        }
        for (i, rule) in arr(pfp, "rules").iter().enumerate() {
            let a = se(rule, "action");
            if !matches!(a, "FailJob" | "FailIndex" | "Ignore" | "Count") {
                errs.push(not_supported(
                    at(
                        &idx(&at(&at(path, "podFailurePolicy"), "rules"), i),
                        "action",
                    ),
                    a,
                    &["Count", "FailIndex", "FailJob", "Ignore"],
                ));
            }
        }
    }
    errs
}

/// Go's `%#v` of template labels.
fn render_labels(labels: &Value) -> String {
    match labels {
        Value::Object(_) => render(labels),
        _ => "map[string]string(nil)".to_string(),
    }
}

/// Validates a Job; on update the selector and (mostly) the template are immutable.
pub fn validate_job(obj: &Value, old: Option<&Value>) -> Errs {
    let spec = get(obj, "spec");
    let mut errs = Errs::new();
    match spec.get("selector").filter(|v| !v.is_null()) {
        None if flag(spec, "manualSelector") => errs.push(required("spec.selector", "")),
        None => {}
        Some(sel) => {
            errs.extend(validate_label_selector(sel, "spec.selector"));
            let labels = get(get(get(spec, "template"), "metadata"), "labels");
            if !selector_matches(sel, labels) {
                errs.push(invalid_raw(
                    "spec.template.metadata.labels",
                    render_labels(labels),
                    "`selector` does not match template `labels`",
                ));
            }
        }
    }
    errs.extend(validate_job_spec(spec, "spec"));
    if let Some(old) = old {
        let os = get(old, "spec");
        if get(spec, "selector") != get(os, "selector") {
            errs.push(invalid_raw(
                "spec.selector",
                render_selector(get(spec, "selector")),
                IMMUTABLE,
            ));
        }
        if !template_update_allowed(spec, os) {
            errs.push(invalid_raw(
                "spec.template",
                get(spec, "template").to_string(),
                IMMUTABLE,
            ));
        }
        immutable(spec, os, "completionMode", "spec", &mut errs);
        let indexed = se(spec, "completionMode") == "Indexed";
        let elastic = indexed && int(spec, "completions") == int(spec, "parallelism");
        if !elastic {
            immutable(spec, os, "completions", "spec", &mut errs);
        }
    }
    errs
}

/// A suspended Job that never started may change scheduling directives and metadata of its template.
fn template_update_allowed(new: &Value, old: &Value) -> bool {
    let (nt, ot) = (get(new, "template"), get(old, "template"));
    if nt == ot {
        return true;
    }
    if !flag(new, "suspend") {
        return false;
    }
    let strip = |t: &Value| {
        let mut t = t.clone();
        if let Some(m) = t.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("labels");
            m.remove("annotations");
        }
        if let Some(s) = t.get_mut("spec").and_then(Value::as_object_mut) {
            for f in ["nodeSelector", "tolerations", "affinity", "schedulingGates"] {
                s.remove(f);
            }
        }
        t
    };
    strip(nt) == strip(ot)
}

/// Light checks of a Job status write.
pub fn validate_job_status(obj: &Value) -> Errs {
    let status = get(obj, "status");
    let mut errs = Errs::new();
    for f in ["active", "succeeded", "failed", "ready", "terminating"] {
        nonneg(status, f, "status", &mut errs);
    }
    errs
}

/// Validates a CronJob.
pub fn validate_cron_job(obj: &Value, old: Option<&Value>) -> Errs {
    let mut errs = Errs::new();
    let name = se(get(obj, "metadata"), "name");
    if old.is_none() && name.len() > 52 {
        errs.push(invalid(
            "metadata.name",
            name,
            "must be no more than 52 characters",
        ));
    }
    let spec = get(obj, "spec");
    match se(spec, "concurrencyPolicy") {
        "" => errs.push(required("spec.concurrencyPolicy", "")),
        "Allow" | "Forbid" | "Replace" => {}
        other => errs.push(not_supported(
            "spec.concurrencyPolicy",
            other,
            &["Allow", "Forbid", "Replace"],
        )),
    }
    let schedule = se(spec, "schedule");
    let old_had_tz = old.is_some_and(|o| se(get(o, "spec"), "schedule").contains("TZ"));
    if schedule.is_empty() {
        errs.push(required("spec.schedule", ""));
    } else {
        if let Err(e) = cron::parse_standard(schedule) {
            errs.push(invalid("spec.schedule", schedule, e.to_string()));
        }
        if schedule.contains("TZ") {
            if old_had_tz && has(spec, "timeZone") {
                errs.push(invalid(
                    "spec.schedule",
                    schedule,
                    "cannot use both timeZone field and TZ or CRON_TZ in schedule",
                ));
            } else if !old_had_tz {
                errs.push(invalid(
                    "spec.schedule",
                    schedule,
                    "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
                ));
            }
        }
    }
    if let Some(tz) = s(spec, "timeZone") {
        if tz.is_empty() {
            errs.push(invalid(
                "spec.timeZone",
                tz,
                "timeZone must be nil or non-empty string",
            ));
        } else if tz.eq_ignore_ascii_case("local") {
            errs.push(invalid(
                "spec.timeZone",
                tz,
                "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
            ));
        } else if let Err(e) = cron::check_time_zone(tz) {
            errs.push(invalid("spec.timeZone", tz, e));
        }
    }
    for f in [
        "startingDeadlineSeconds",
        "successfulJobsHistoryLimit",
        "failedJobsHistoryLimit",
    ] {
        nonneg(spec, f, "spec", &mut errs);
    }
    let jt = get(spec, "jobTemplate");
    let js = get(jt, "spec");
    errs.extend(validate_job_spec(js, "spec.jobTemplate.spec"));
    if let Some(sel) = js.get("selector").filter(|v| !v.is_null()) {
        errs.push(invalid_raw(
            "spec.jobTemplate.spec.selector",
            render_selector(sel),
            "`selector` will be auto-generated",
        ));
    }
    if flag(js, "manualSelector") {
        errs.push(not_supported(
            "spec.jobTemplate.spec.manualSelector",
            "true",
            &["nil", "false"],
        ));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msgs(e: Errs) -> Vec<String> {
        e.iter().map(ToString::to_string).collect()
    }

    fn job_spec(rp: &str) -> Value {
        json!({"backoffLimit": 6, "completionMode": "NonIndexed", "template": {"spec": {"restartPolicy": rp,
            "dnsPolicy": "ClusterFirst", "containers": [{"name": "c", "image": "busybox"}]}}})
    }

    #[test]
    fn job_restart_policy() {
        let j = json!({"metadata": {"name": "j"}, "spec": job_spec("Always")});
        assert_eq!(
            msgs(validate_job(&j, None)),
            vec![
                "spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\"",
            ]
        );
        let mut j = json!({"metadata": {"name": "j"}, "spec": job_spec("Never")});
        j["spec"]["parallelism"] = json!(-1);
        assert_eq!(
            msgs(validate_job(&j, None)),
            vec!["spec.parallelism: Invalid value: -1: must be greater than or equal to 0"]
        );
    }

    #[test]
    fn job_template_immutable() {
        let old = json!({"spec": job_spec("Never")});
        let mut new = old.clone();
        new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("other");
        let e = validate_job(&new, Some(&old));
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].field, "spec.template");
    }

    #[test]
    fn cron_job() {
        let cj = |schedule: &str| {
            json!({"metadata": {"name": "c"}, "spec": {"schedule": schedule,
            "concurrencyPolicy": "Allow", "jobTemplate": {"spec": job_spec("OnFailure")}}})
        };
        assert!(validate_cron_job(&cj("*/1 * * * *"), None).is_empty());
        assert_eq!(
            msgs(validate_cron_job(&cj("bad"), None)),
            vec![
                "spec.schedule: Invalid value: \"bad\": expected exactly 5 fields, found 1: [bad]",
            ]
        );
        assert_eq!(
            msgs(validate_cron_job(&cj("TZ=UTC * * * * *"), None)),
            vec![
                "spec.schedule: Invalid value: \"TZ=UTC * * * * *\": cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
            ]
        );
        let mut long = cj("@hourly");
        long["metadata"]["name"] = json!("a".repeat(53));
        assert_eq!(
            validate_cron_job(&long, None)[0].detail,
            "must be no more than 52 characters"
        );
        let mut tz = cj("@daily");
        tz["spec"]["timeZone"] = json!("Mars/Olympus");
        assert_eq!(
            msgs(validate_cron_job(&tz, None)),
            vec!["spec.timeZone: Invalid value: \"Mars/Olympus\": unknown time zone Mars/Olympus",]
        );
        tz["spec"]["timeZone"] = json!("Europe/Berlin");
        assert!(validate_cron_job(&tz, None).is_empty());
    }
}
