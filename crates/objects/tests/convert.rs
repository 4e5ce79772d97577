//! Conversion between served versions and storage versions.
#![allow(clippy::unwrap_used)]

use rkube_api::RESOURCES;
use rkube_api::registry::find_kind;
use rkube_objects::{from_storage, storage_api_version, to_storage};
use serde_json::json;

#[test]
fn identity_for_single_version_resources() {
    for r in RESOURCES {
        if r.kind == "Event" || r.kind == "HorizontalPodAutoscaler" {
            continue;
        }
        let obj = json!({"apiVersion": r.api_version(), "kind": r.kind, "metadata": {"name": "x"}});
        assert_eq!(storage_api_version(r), r.api_version());
        assert_eq!(to_storage(r, obj.clone()).unwrap(), obj);
        assert_eq!(from_storage(r, obj.clone()).unwrap(), obj);
    }
}

#[test]
fn hpa_is_stored_as_v2() {
    let v1 = find_kind("autoscaling", "v1", "HorizontalPodAutoscaler").unwrap();
    let v2 = find_kind("autoscaling", "v2", "HorizontalPodAutoscaler").unwrap();
    assert_eq!(storage_api_version(v1), "autoscaling/v2");
    let obj = json!({
        "apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d"},
                 "minReplicas": 1, "maxReplicas": 4, "targetCPUUtilizationPercentage": 60},
    });
    let stored = to_storage(v1, obj.clone()).unwrap();
    assert_eq!(stored["apiVersion"], "autoscaling/v2");
    assert_eq!(
        stored["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
        60
    );
    assert_eq!(from_storage(v2, stored.clone()).unwrap(), stored);
    assert_eq!(from_storage(v1, stored).unwrap(), obj);
}

#[test]
fn events_k8s_io_is_stored_as_core() {
    let ev = find_kind("events.k8s.io", "v1", "Event").unwrap();
    let core = find_kind("", "v1", "Event").unwrap();
    assert_eq!(storage_api_version(ev), "v1");
    let stored_core = json!({
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": "e", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"},
        "reason": "Scheduled", "message": "assigned", "type": "Normal",
        "source": {"component": "default-scheduler"},
        "firstTimestamp": "2024-05-01T10:00:00Z", "lastTimestamp": "2024-05-01T10:00:00Z", "count": 1,
        "eventTime": null, "reportingComponent": "", "reportingInstance": "",
    });
    let as_events = from_storage(ev, stored_core.clone()).unwrap();
    assert_eq!(
        as_events,
        json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e", "namespace": "default"},
            "regarding": {"kind": "Pod", "name": "p", "namespace": "default"},
            "reason": "Scheduled", "note": "assigned", "type": "Normal",
            "deprecatedSource": {"component": "default-scheduler"},
            "deprecatedFirstTimestamp": "2024-05-01T10:00:00Z",
            "deprecatedLastTimestamp": "2024-05-01T10:00:00Z", "deprecatedCount": 1,
            "eventTime": null,
        })
    );
    assert_eq!(to_storage(ev, as_events).unwrap(), stored_core);
    assert_eq!(
        from_storage(core, stored_core.clone()).unwrap(),
        stored_core
    );
}
