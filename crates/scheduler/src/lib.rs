//! The rkube pod scheduler: informer cache, scheduling queue, filter/score plugins, binding and preemption.
//!
//! [`run`] watches nodes and pods through the API (kube-rs), places every pending pod
//! whose `spec.schedulerName` is [`SchedulerConfig::scheduler_name`], binds it through
//! `pods/<name>/binding` and records `Scheduled`/`FailedScheduling` events like upstream.

mod api;
pub mod cache;
mod error;
pub mod events;
pub mod framework;
mod informer;
pub mod owners;
pub mod plugins;
pub mod pod_info;
pub mod preemption;
pub mod queue;
pub mod resources;
pub mod schedule;
mod scheduler;
pub mod selectors;

pub use error::SchedulerError;
pub use scheduler::run;

/// Settings of a scheduler instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerConfig {
    /// Pods naming this scheduler are scheduled; others are left alone.
    pub scheduler_name: String,
    /// Share of nodes to find feasible before scoring; 0 = adaptive like upstream
    /// (50% − nodes/125, at least 5% and 100 nodes).
    pub percentage_of_nodes_to_score: u8,
    /// Bounds concurrent API writes (binds, events) as `parallelism * 16`.
    pub parallelism: usize,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            scheduler_name: "default-scheduler".into(),
            percentage_of_nodes_to_score: 0,
            parallelism: 16,
        }
    }
}
