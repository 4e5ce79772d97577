//! Controller end-to-end tests, one binary: a real `rkube server` per test, the
//! controllers in-process, checks through the API.

mod support;

mod endpoints_e2e;
mod events_e2e;
mod jobs_e2e;
mod node_e2e;
mod statefulset_e2e;
mod workloads_e2e;
