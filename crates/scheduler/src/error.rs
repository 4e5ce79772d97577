//! Errors of the scheduler.

/// Everything that can go wrong while scheduling.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// An API call failed.
    #[error("{action} {pod}: {source}")]
    Api {
        action: &'static str,
        pod: String,
        #[source]
        source: kube::Error,
    },
    /// A watch stream ended with an error that could not be retried.
    #[error("watch {resource}: {source}")]
    Watch {
        resource: &'static str,
        #[source]
        source: kube::runtime::watcher::Error,
    },
    /// A background task panicked or was aborted.
    #[error("scheduler task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}
