//! Records core/v1 Events as client-go's recorder does: identical events are counted on
//! one Event (`kubectl describe` shows "(x3 over 2m)"), floods of similar ones combined,
//! and each source rate-limited per object.
//!
//! A [`Recorder`] is a cheap, cloneable handle; [`Recorder::record`] never waits. Events
//! go through a bounded channel to one writer task, which runs them through a
//! [`Correlator`] and writes to an [`EventSink`] (the API server, or [`MemorySink`] in
//! tests).

mod correlator;
mod lru;
mod recorder;
mod sink;
mod spam;

pub use correlator::{COMBINED_PREFIX, Correlation, Correlator, CorrelatorConfig, EventKey};
pub use recorder::{Recorder, RecorderConfig, object_reference};
pub use sink::{EventSink, KubeSink, MemorySink, SinkError};
