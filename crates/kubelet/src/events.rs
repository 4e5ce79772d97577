//! The kubelet's core/v1 Events about pods (Pulling, Created, Started,
//! Killing, BackOff, …), through the shared counting recorder of `rkube-events`.

use k8s_openapi::api::core::v1::Pod;
use rkube_events::{KubeSink, RecorderConfig, object_reference};

/// A handle that records events; clones share one writer. Recording never waits.
#[derive(Clone)]
pub struct Recorder {
    inner: Option<rkube_events::Recorder>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("enabled", &self.inner.is_some())
            .finish()
    }
}

impl Recorder {
    /// A recorder that drops everything (unit tests).
    pub fn disabled() -> Self {
        Recorder { inner: None }
    }

    /// A recorder writing as `kubelet` on node `node`; its writer runs until
    /// every clone is dropped. Must be called within a Tokio runtime.
    pub fn start(client: kube::Client, node: &str) -> Self {
        let mut config = RecorderConfig::new("kubelet");
        config.host = Some(node.to_string());
        config.instance = node.to_string();
        let (recorder, _writer) = rkube_events::Recorder::start(KubeSink::new(client), config);
        Recorder {
            inner: Some(recorder),
        }
    }

    /// Records an event about `pod` (the part at `field_path`, e.g.
    /// `spec.containers{web}`, when given).
    pub fn pod(
        &self,
        pod: &Pod,
        field_path: Option<String>,
        type_: &str,
        reason: &str,
        message: String,
    ) {
        let Some(inner) = &self.inner else { return };
        let mut regarding = object_reference(pod);
        regarding.field_path = field_path;
        inner.record_ref(&regarding, type_, reason, None, message);
    }
}
