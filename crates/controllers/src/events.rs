//! Event recording for the controllers: the counting, aggregating recorder of `rkube-events`.

pub use rkube_events::{Recorder, object_reference};
