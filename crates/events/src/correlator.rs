//! Decides for each new event whether to create it, count it on an earlier one, or drop it.
//!
//! The rules are those of client-go's core/v1 recorder:
//!
//! - an event identical to one seen before (same object, type, reason, message, source and
//!   reporting controller) patches that earlier Event: `count + 1`, a new `lastTimestamp`,
//!   the `firstTimestamp` kept;
//! - once a group of similar events (the same but for the message) has seen
//!   [`CorrelatorConfig::aggregate_max_events`] distinct messages with no gap longer than
//!   [`CorrelatorConfig::aggregate_interval`], further ones go to one Event whose message
//!   starts with [`COMBINED_PREFIX`], counted like identical events;
//! - each source may write [`CorrelatorConfig::spam_burst`] events about one object, then
//!   one per [`CorrelatorConfig::spam_refill`]; dropped ones still count, so the next write
//!   carries the full count.
//!
//! Every cache is a bounded LRU map. Time is passed in, so the rules test without a clock.

use std::collections::HashSet;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde_json::{Value, json};

use crate::lru::Lru;
use crate::spam::TokenBucket;

/// What an aggregated event's message starts with.
pub const COMBINED_PREFIX: &str = "(combined from similar events): ";

/// Limits of the correlator; the defaults are client-go's.
#[derive(Debug, Clone)]
pub struct CorrelatorConfig {
    /// Entries in each cache (identical events, similar groups, spam buckets).
    pub cache_size: usize,
    /// Events a source may write about one object in a burst.
    pub spam_burst: u32,
    /// How long a source waits for each further event about that object.
    pub spam_refill: Duration,
    /// Distinct messages of similar events after which they are combined.
    pub aggregate_max_events: usize,
    /// A similar group forgets its messages after this long without an event.
    pub aggregate_interval: Duration,
}

impl Default for CorrelatorConfig {
    fn default() -> Self {
        CorrelatorConfig {
            cache_size: 4096,
            spam_burst: 25,
            spam_refill: Duration::from_secs(300),
            aggregate_max_events: 10,
            aggregate_interval: Duration::from_secs(600),
        }
    }
}

/// A source (component and host) and the object an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SourceObject {
    component: String,
    host: String,
    kind: String,
    namespace: String,
    name: String,
    uid: String,
    api_version: String,
}

/// Events that differ at most in their message (and the object's field path).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SimilarKey {
    source_object: SourceObject,
    type_: String,
    reason: String,
    reporting_controller: String,
    reporting_instance: String,
}

/// Which earlier Event a new one is counted on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum LogKey {
    /// Identical events.
    Exact {
        similar: SimilarKey,
        field_path: String,
        message: String,
    },
    /// The combined event of a similar group.
    Combined(SimilarKey),
}

/// Identifies the Event a write stands for; hand it back to [`Correlator::written`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventKey(LogKey);

/// What to do with a new event.
#[derive(Debug, Clone, PartialEq)]
pub enum Correlation {
    /// Drop it: its source has written too many events about the object.
    Skip,
    /// Create `event` (its first occurrence).
    Create {
        /// The Event to create.
        event: Event,
        /// For [`Correlator::written`].
        key: EventKey,
    },
    /// Apply `patch` (a strategic merge patch) to the Event named `event.metadata.name`;
    /// `event` is the whole counted Event, to create should the earlier one be gone.
    Patch {
        /// The Event after the patch.
        event: Event,
        /// `count`, `lastTimestamp` and `message`.
        patch: Value,
        /// For [`Correlator::written`].
        key: EventKey,
    },
}

/// The last write of an Event: what the next occurrence is counted on.
#[derive(Debug, Clone)]
struct Observation {
    count: i32,
    first_timestamp: Option<Time>,
    name: Option<String>,
    resource_version: Option<String>,
}

/// The distinct messages of a similar group, until it is combined.
#[derive(Debug)]
struct Similar {
    messages: HashSet<String>,
    last: Timestamp,
    combining: bool,
}

/// Counts, combines and rate-limits events; owned by one writer task.
#[derive(Debug)]
pub struct Correlator {
    config: CorrelatorConfig,
    observed: Lru<LogKey, Observation>,
    similar: Lru<SimilarKey, Similar>,
    spam: Lru<SourceObject, TokenBucket>,
}

impl Correlator {
    /// An empty correlator.
    pub fn new(config: CorrelatorConfig) -> Self {
        Correlator {
            observed: Lru::new(config.cache_size),
            similar: Lru::new(config.cache_size),
            spam: Lru::new(config.cache_size),
            config,
        }
    }

    /// Decides what to write for `event` (as a recorder makes it: count 1, first and last
    /// timestamps set) at `now`.
    pub fn correlate(&mut self, event: Event, now: Timestamp) -> Correlation {
        let similar = similar_key(&event);
        let (mut event, key) = self.aggregate(event, similar, now);
        let patch = self.observe(&mut event, &key);
        if !self.admit(&key, now) {
            return Correlation::Skip;
        }
        let key = EventKey(key);
        match patch {
            Some(patch) => Correlation::Patch { event, patch, key },
            None => Correlation::Create { event, key },
        }
    }

    /// Remembers the Event the API server stored for `key`, so the next occurrence
    /// patches it with the right count.
    pub fn written(&mut self, key: &EventKey, stored: &Event) {
        self.observed.insert(
            key.0.clone(),
            Observation {
                count: stored.count.unwrap_or(1).max(1),
                first_timestamp: stored.first_timestamp.clone(),
                name: stored.metadata.name.clone(),
                resource_version: stored.metadata.resource_version.clone(),
            },
        );
    }

    /// Returns the event to count (the combined one once its group has too many distinct
    /// messages) and the key it is counted under.
    fn aggregate(&mut self, event: Event, similar: SimilarKey, now: Timestamp) -> (Event, LogKey) {
        let interval = self.config.aggregate_interval.as_secs_f64();
        let max = self.config.aggregate_max_events;
        let message = event.message.clone().unwrap_or_default();
        let group = self.similar.get_or_insert_with(&similar, || Similar {
            messages: HashSet::new(),
            last: now,
            combining: false,
        });
        if now.duration_since(group.last).as_secs_f64() > interval {
            group.messages.clear();
            group.combining = false;
        }
        group.last = now;
        if !group.combining {
            group.messages.insert(message.clone());
            if group.messages.len() < max {
                let field_path = event.involved_object.field_path.clone().unwrap_or_default();
                let key = LogKey::Exact {
                    similar,
                    field_path,
                    message,
                };
                return (event, key);
            }
            // From now on the group's messages are not needed: every event is combined.
            group.combining = true;
            group.messages = HashSet::new();
        }
        let object = event.involved_object.name.clone().unwrap_or_default();
        let combined = Event {
            metadata: ObjectMeta {
                name: Some(format!("{object}.{:x}", now.as_nanosecond())),
                namespace: event.metadata.namespace.clone(),
                ..ObjectMeta::default()
            },
            message: Some(format!("{COMBINED_PREFIX}{message}")),
            count: Some(1),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            ..event
        };
        (combined, LogKey::Combined(similar))
    }

    /// Counts `event` on the earlier Event under `key`, if any: renames it to that Event
    /// and returns the patch.
    fn observe(&mut self, event: &mut Event, key: &LogKey) -> Option<Value> {
        let Some(last) = self.observed.get_mut(key) else {
            self.observed.insert(
                key.clone(),
                Observation {
                    count: event.count.unwrap_or(1),
                    first_timestamp: event.first_timestamp.clone(),
                    name: event.metadata.name.clone(),
                    resource_version: None,
                },
            );
            return None;
        };
        last.count = last.count.saturating_add(1);
        event.metadata.name.clone_from(&last.name);
        event
            .metadata
            .resource_version
            .clone_from(&last.resource_version);
        event.first_timestamp.clone_from(&last.first_timestamp);
        event.count = Some(last.count);
        Some(json!({
            "count": last.count,
            "lastTimestamp": event.last_timestamp,
            "message": event.message,
        }))
    }

    /// Takes a token from the bucket of the event's source and object.
    fn admit(&mut self, key: &LogKey, now: Timestamp) -> bool {
        let similar = match key {
            LogKey::Exact { similar, .. } | LogKey::Combined(similar) => similar,
        };
        let (burst, refill) = (
            self.config.spam_burst,
            self.config.spam_refill.as_secs_f64(),
        );
        self.spam
            .get_or_insert_with(&similar.source_object, || {
                TokenBucket::new(burst, refill, now)
            })
            .try_take(now)
    }
}

fn similar_key(event: &Event) -> SimilarKey {
    let s = |v: &Option<String>| v.clone().unwrap_or_default();
    let source = event.source.clone().unwrap_or_default();
    let obj = &event.involved_object;
    SimilarKey {
        source_object: SourceObject {
            component: s(&source.component),
            host: s(&source.host),
            kind: s(&obj.kind),
            namespace: s(&obj.namespace),
            name: s(&obj.name),
            uid: s(&obj.uid),
            api_version: s(&obj.api_version),
        },
        type_: s(&event.type_),
        reason: s(&event.reason),
        reporting_controller: s(&event.reporting_component),
        reporting_instance: s(&event.reporting_instance),
    }
}

#[cfg(test)]
#[path = "correlator_tests.rs"]
mod tests;
