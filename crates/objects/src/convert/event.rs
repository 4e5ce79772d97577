//! events.k8s.io/v1 ⇄ core v1 Event conversion (the same objects under two schemas).

use serde_json::Value;

use crate::error::DecodeError;

/// events.k8s.io/v1 field names and the core v1 fields they are stored as.
const RENAMES: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

/// Fields of events.k8s.io/v1 that Go omits when empty (core v1 always shows some).
const OMIT_EMPTY: &[&str] = &[
    "reportingController",
    "reportingInstance",
    "action",
    "reason",
    "note",
    "type",
];

/// Converts an events.k8s.io/v1 Event into a core v1 Event.
pub(crate) fn events_to_core(obj: Value) -> Result<Value, DecodeError> {
    let mut obj = rename(obj, |(events, core)| (events, core));
    if let Value::Object(m) = &mut obj {
        crate::defaults::core_event(m);
    }
    Ok(obj)
}

/// Converts a core v1 Event into an events.k8s.io/v1 Event.
pub(crate) fn core_to_events(obj: Value) -> Result<Value, DecodeError> {
    let mut obj = rename(obj, |(events, core)| (core, events));
    if let Value::Object(m) = &mut obj {
        m.retain(|k, v| !(OMIT_EMPTY.contains(&k.as_str()) && v.as_str() == Some("")));
        crate::defaults::events_event(m);
    }
    Ok(obj)
}

fn rename(
    mut obj: Value,
    dir: impl Fn((&'static str, &'static str)) -> (&'static str, &'static str),
) -> Value {
    if let Value::Object(m) = &mut obj {
        let moved: Vec<(&str, Option<Value>)> = RENAMES
            .iter()
            .map(|pair| {
                let (from, to) = dir(*pair);
                (to, m.remove(from))
            })
            .collect();
        for (to, v) in moved {
            match v {
                Some(v) => {
                    m.insert(to.to_string(), v);
                }
                None => {
                    m.remove(to);
                }
            }
        }
    }
    obj
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_are_renamed_both_ways() {
        let ev = json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "e", "namespace": "default"},
            "eventTime": "2024-01-01T00:00:00.000000Z",
            "reportingController": "kubelet", "reportingInstance": "node-1",
            "action": "Pulling", "reason": "Pulling", "type": "Normal",
            "regarding": {"kind": "Pod", "name": "p"},
            "note": "pulling image",
            "deprecatedSource": {"component": "kubelet", "host": "node-1"},
            "deprecatedCount": 2,
            "series": {"count": 2, "lastObservedTime": "2024-01-01T00:00:01.000000Z"},
        });
        let core = events_to_core(ev.clone()).unwrap();
        assert_eq!(core["firstTimestamp"], Value::Null);
        assert_eq!(core["involvedObject"]["kind"], "Pod");
        assert_eq!(core["involvedObject"]["name"], "p");
        assert_eq!(core["message"], "pulling image");
        assert_eq!(core["reportingComponent"], "kubelet");
        assert_eq!(core["source"]["host"], "node-1");
        assert_eq!(core["count"], 2);
        assert!(core.get("note").is_none());
        let mut back = core_to_events(core).unwrap();
        let m = back.as_object_mut().unwrap();
        assert_eq!(m.remove("deprecatedFirstTimestamp"), Some(Value::Null));
        assert_eq!(m.remove("deprecatedLastTimestamp"), Some(Value::Null));
        assert_eq!(back, ev);
    }
}
