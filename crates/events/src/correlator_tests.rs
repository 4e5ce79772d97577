//! Unit tests of the correlation rules, with time passed in.

use super::*;
use jiff::SignedDuration;
use k8s_openapi::api::core::v1::{EventSource, ObjectReference};

fn t(secs: i64) -> Timestamp {
    Timestamp::UNIX_EPOCH + SignedDuration::from_secs(1_700_000_000 + secs)
}

/// An event as the recorder makes it, about ReplicaSet `name`, at `at`.
fn event(name: &str, reason: &str, message: &str, at: Timestamp) -> Event {
    Event {
        metadata: ObjectMeta {
            name: Some(format!("{name}.{:x}", at.as_nanosecond())),
            namespace: Some("ns".into()),
            ..ObjectMeta::default()
        },
        involved_object: ObjectReference {
            api_version: Some("apps/v1".into()),
            kind: Some("ReplicaSet".into()),
            name: Some(name.into()),
            namespace: Some("ns".into()),
            uid: Some(format!("uid-{name}")),
            resource_version: Some(format!("{}", at.as_second())),
            field_path: None,
        },
        reason: Some(reason.into()),
        message: Some(message.into()),
        type_: Some("Warning".into()),
        source: Some(EventSource {
            component: Some("replicaset-controller".into()),
            host: None,
        }),
        first_timestamp: Some(Time(at)),
        last_timestamp: Some(Time(at)),
        count: Some(1),
        reporting_component: Some("replicaset-controller".into()),
        reporting_instance: Some("replicaset-controller".into()),
        ..Event::default()
    }
}

fn no_spam_limit() -> CorrelatorConfig {
    CorrelatorConfig {
        spam_burst: 10_000,
        ..CorrelatorConfig::default()
    }
}

/// Feeds `event` and, like the writer task, reports the write as stored.
fn feed(c: &mut Correlator, event: Event, now: Timestamp) -> Correlation {
    let out = c.correlate(event, now);
    match &out {
        Correlation::Create { event, key } | Correlation::Patch { event, key, .. } => {
            c.written(key, event);
        }
        Correlation::Skip => {}
    }
    out
}

fn created(out: Correlation) -> Event {
    match out {
        Correlation::Create { event, .. } => event,
        other => panic!("expected a create, got {other:?}"),
    }
}

fn patched(out: Correlation) -> (Event, Value) {
    match out {
        Correlation::Patch { event, patch, .. } => (event, patch),
        other => panic!("expected a patch, got {other:?}"),
    }
}

#[test]
fn identical_events_patch_the_first_with_a_growing_count() {
    let mut c = Correlator::new(CorrelatorConfig::default());
    let first = created(feed(
        &mut c,
        event("web", "FailedCreate", "quota", t(0)),
        t(0),
    ));
    assert_eq!(first.count, Some(1));

    // The involved object's resourceVersion changed: still the same event.
    let (second, patch) = patched(feed(
        &mut c,
        event("web", "FailedCreate", "quota", t(30)),
        t(30),
    ));
    assert_eq!(second.metadata.name, first.metadata.name);
    assert_eq!(second.count, Some(2));
    assert_eq!(second.first_timestamp, Some(Time(t(0))));
    assert_eq!(second.last_timestamp, Some(Time(t(30))));
    assert_eq!(
        patch,
        json!({"count": 2, "lastTimestamp": Time(t(30)), "message": "quota"})
    );

    let (third, patch) = patched(feed(
        &mut c,
        event("web", "FailedCreate", "quota", t(90)),
        t(90),
    ));
    assert_eq!(third.metadata.name, first.metadata.name);
    assert_eq!(patch["count"], 3);
    assert_eq!(third.first_timestamp, Some(Time(t(0))));
}

#[test]
fn events_differing_in_message_object_or_reason_are_separate() {
    let mut c = Correlator::new(CorrelatorConfig::default());
    let a = created(feed(
        &mut c,
        event("web", "FailedCreate", "one", t(0)),
        t(0),
    ));
    let b = created(feed(
        &mut c,
        event("web", "FailedCreate", "two", t(1)),
        t(1),
    ));
    let d = created(feed(&mut c, event("db", "FailedCreate", "one", t(2)), t(2)));
    let e = created(feed(
        &mut c,
        event("web", "FailedDelete", "one", t(3)),
        t(3),
    ));
    let names: HashSet<_> = [a, b, d, e].into_iter().map(|e| e.metadata.name).collect();
    assert_eq!(names.len(), 4);
}

#[test]
fn the_server_copy_is_what_the_next_occurrence_counts_on() {
    let mut c = Correlator::new(CorrelatorConfig::default());
    let Correlation::Create {
        event: mut stored,
        key,
    } = c.correlate(event("web", "FailedCreate", "quota", t(0)), t(0))
    else {
        panic!("expected a create");
    };
    // Say the server already held this event with count 5 (another writer, a restart).
    stored.count = Some(5);
    stored.metadata.resource_version = Some("42".into());
    c.written(&key, &stored);
    let again = event("web", "FailedCreate", "quota", t(10));
    let (next, patch) = patched(c.correlate(again, t(10)));
    assert_eq!(patch["count"], 6);
    assert_eq!(next.metadata.resource_version.as_deref(), Some("42"));
}

#[test]
fn the_tenth_distinct_similar_message_is_combined_and_later_ones_counted_on_it() {
    let mut c = Correlator::new(no_spam_limit());
    for i in 0..9 {
        let e = created(feed(
            &mut c,
            event("web", "FailedCreate", &format!("m{i}"), t(i)),
            t(i),
        ));
        assert_eq!(e.message.as_deref(), Some(format!("m{i}").as_str()));
    }
    let combined = created(feed(&mut c, event("web", "FailedCreate", "m9", t(9)), t(9)));
    assert_eq!(
        combined.message.as_deref(),
        Some("(combined from similar events): m9")
    );
    assert_eq!(combined.count, Some(1));
    assert_eq!(combined.reason.as_deref(), Some("FailedCreate"));
    assert_eq!(combined.involved_object.name.as_deref(), Some("web"));

    // Any later similar event, even with an earlier message, goes to the combined one.
    for (i, msg) in [(10, "m10"), (11, "m0")] {
        let (e, patch) = patched(feed(&mut c, event("web", "FailedCreate", msg, t(i)), t(i)));
        assert_eq!(e.metadata.name, combined.metadata.name);
        assert_eq!(
            patch["message"],
            format!("(combined from similar events): {msg}")
        );
        assert_eq!(patch["count"], i - 8);
        assert_eq!(e.first_timestamp, Some(Time(t(9))));
    }
    // Other reasons on the same object are not affected.
    created(feed(
        &mut c,
        event("web", "FailedDelete", "x", t(12)),
        t(12),
    ));
}

#[test]
fn a_quiet_similar_group_starts_afresh() {
    let mut c = Correlator::new(no_spam_limit());
    for i in 0..9 {
        created(feed(
            &mut c,
            event("web", "FailedCreate", &format!("m{i}"), t(i)),
            t(i),
        ));
    }
    // Eleven minutes later the nine messages are forgotten: no combining.
    let later = t(8 + 11 * 60);
    let e = created(feed(
        &mut c,
        event("web", "FailedCreate", "m9", later),
        later,
    ));
    assert_eq!(e.message.as_deref(), Some("m9"));
    // Gaps under ten minutes keep a group alive, however long it lasts in total.
    let mut now = later;
    for i in 10..18 {
        now += SignedDuration::from_mins(9);
        let e = created(feed(
            &mut c,
            event("web", "FailedCreate", &format!("m{i}"), now),
            now,
        ));
        assert_eq!(e.message, Some(format!("m{i}")));
    }
    now += SignedDuration::from_mins(9);
    let e = created(feed(&mut c, event("web", "FailedCreate", "m18", now), now));
    assert!(
        e.message
            .as_deref()
            .is_some_and(|m| m.starts_with(COMBINED_PREFIX))
    );
}

#[test]
fn spam_filter_allows_a_burst_then_one_per_refill_and_keeps_counting() {
    let mut c = Correlator::new(CorrelatorConfig::default());
    // 25 distinct-reason events about one object pass; the 26th does not.
    for i in 0..25 {
        let out = feed(&mut c, event("web", &format!("R{i}"), "m", t(0)), t(0));
        assert!(matches!(out, Correlation::Create { .. }), "event {i}");
    }
    assert_eq!(
        feed(&mut c, event("web", "R0", "m", t(1)), t(1)),
        Correlation::Skip
    );
    assert_eq!(
        feed(&mut c, event("web", "R0", "m", t(2)), t(2)),
        Correlation::Skip
    );
    // Another object has its own bucket.
    created(feed(&mut c, event("db", "R0", "m", t(3)), t(3)));
    // Five minutes on, one more token: the write carries the skipped occurrences too.
    let (_, patch) = patched(feed(&mut c, event("web", "R0", "m", t(301)), t(301)));
    assert_eq!(patch["count"], 4);
    assert_eq!(
        feed(&mut c, event("web", "R0", "m", t(302)), t(302)),
        Correlation::Skip
    );
}

#[test]
fn caches_are_bounded_and_forget_the_least_recent() {
    let mut c = Correlator::new(CorrelatorConfig {
        cache_size: 2,
        ..CorrelatorConfig::default()
    });
    created(feed(&mut c, event("a", "R", "m", t(0)), t(0)));
    created(feed(&mut c, event("b", "R", "m", t(1)), t(1)));
    patched(feed(&mut c, event("a", "R", "m", t(2)), t(2)));
    created(feed(&mut c, event("c", "R", "m", t(3)), t(3)));
    // "b" was the least recently seen, so it was forgotten.
    created(feed(&mut c, event("b", "R", "m", t(4)), t(4)));
    assert!(c.observed.len() <= 2 && c.similar.len() <= 2 && c.spam.len() <= 2);
}
