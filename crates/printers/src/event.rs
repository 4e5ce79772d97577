//! The event printer, for core/v1 Events and events.k8s.io/v1 Events (read through their core names).

use jiff::Timestamp;
use serde_json::Value;

use crate::duration::since;
use crate::util::{Obj, n, s};
use crate::{Column, NAME_DESC, col};

pub(crate) static EVENT_COLUMNS: &[Column] = &[
    col(
        "Last Seen",
        "string",
        "The time at which the most recent occurrence of this event was recorded.",
        0,
    ),
    col(
        "Type",
        "string",
        "Type of this event (Normal, Warning), new types could be added in the future",
        0,
    ),
    col(
        "Reason",
        "string",
        "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
        0,
    ),
    col(
        "Object",
        "string",
        "The object that this event is about.",
        0,
    ),
    col(
        "Subobject",
        "string",
        "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]. For example, if the object reference is to a container within a pod, this would take on a value like: \"spec.containers{name}\" (where \"name\" refers to the name of the container that triggered the event) or if no container name is specified \"spec.containers[2]\" (container with index 2 in this pod). This syntax is chosen only to have some well-defined way of referencing a part of an object.",
        1,
    ),
    col(
        "Source",
        "string",
        "The component reporting this event. Should be a short machine understandable string.",
        1,
    ),
    col(
        "Message",
        "string",
        "A human-readable description of the status of this operation.",
        0,
    ),
    col(
        "First Seen",
        "string",
        "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
        1,
    ),
    col(
        "Count",
        "string",
        "The number of times this event has occurred.",
        1,
    ),
    Column {
        name: "Name",
        type_: "string",
        format: "name",
        description: NAME_DESC,
        priority: 1,
    },
];

/// Field names of one event shape (core/v1 or events.k8s.io/v1).
struct Fields {
    involved: &'static str,
    message: &'static str,
    source: &'static str,
    first: &'static str,
    last: &'static str,
    count: &'static str,
    controller: &'static str,
}

const CORE: Fields = Fields {
    involved: "involvedObject",
    message: "message",
    source: "source",
    first: "firstTimestamp",
    last: "lastTimestamp",
    count: "count",
    controller: "reportingComponent",
};

const EVENTS_V1: Fields = Fields {
    involved: "regarding",
    message: "note",
    source: "deprecatedSource",
    first: "deprecatedFirstTimestamp",
    last: "deprecatedLastTimestamp",
    count: "deprecatedCount",
    controller: "reportingController",
};

fn event_cells<'a>(ev: Obj<'a>, now: Timestamp, f: &Fields) -> Vec<Value> {
    let first = match ev.time(&[f.first]) {
        Some(t) => since(Some(t), now),
        None => since(ev.time(&["eventTime"]), now),
    };
    let mut last = match ev.time(&[f.last]) {
        Some(t) => since(Some(t), now),
        None => first.clone(),
    };
    let mut count = ev.int(&[f.count]);
    if ev.has(&["series"]) {
        last = since(ev.time(&["series", "lastObservedTime"]), now);
        count = ev.int(&["series", "count"]);
    } else if count == 0 {
        count = 1;
    }
    let kind = ev.str(&[f.involved, "kind"]).to_lowercase();
    let name = ev.str(&[f.involved, "name"]);
    let target = if name.is_empty() {
        kind
    } else {
        format!("{kind}/{name}")
    };
    let first_non_empty = |a: &'a str, b: &'a str| if a.is_empty() { b } else { a };
    let component = first_non_empty(ev.str(&[f.source, "component"]), ev.str(&[f.controller]));
    let host = first_non_empty(ev.str(&[f.source, "host"]), ev.str(&["reportingInstance"]));
    let source = if host.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {host}")
    };
    vec![
        s(last),
        s(ev.str(&["type"])),
        s(ev.str(&["reason"])),
        s(target),
        s(ev.str(&[f.involved, "fieldPath"])),
        s(source),
        s(ev.str(&[f.message]).trim()),
        s(first),
        n(count),
        s(ev.name()),
    ]
}

/// Reads whichever shape the object is in, whatever version it was asked for under.
fn fields_of(ev: Obj<'_>, default: &'static Fields) -> &'static Fields {
    if ev.has(&["regarding"]) || ev.has(&["note"]) {
        &EVENTS_V1
    } else if ev.has(&["involvedObject"]) || ev.has(&["message"]) {
        &CORE
    } else {
        default
    }
}

pub(crate) fn core_event_cells(ev: Obj<'_>, now: Timestamp) -> Vec<Value> {
    event_cells(ev, now, fields_of(ev, &CORE))
}

pub(crate) fn events_v1_cells(ev: Obj<'_>, now: Timestamp) -> Vec<Value> {
    event_cells(ev, now, fields_of(ev, &EVENTS_V1))
}
