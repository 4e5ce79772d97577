//! Termination messages with real containers: `rkube server --disable-agent`
//! plus `rkube agent` on the machine's containerd, checked with the real
//! kubectl. Skipped, with a message, when no container runtime answers
//! (scripts/node-services.sh start; images/build.sh).

use rkube_e2e::real_node::RealNode;

const POD: &str = r#"{
  "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "last-words"},
  "spec": {"restartPolicy": "Never", "containers": [
    {"name": "file", "image": "busybox",
     "command": ["sh", "-c", "echo bye > /dev/termination-log; exit 3"]},
    {"name": "logs", "image": "busybox", "terminationMessagePolicy": "FallbackToLogsOnError",
     "command": ["sh", "-c", "echo first; echo oops; exit 1"]}
  ]}
}"#;

#[test]
fn termination_messages_from_the_file_and_the_log() {
    let Some(node) = RealNode::start("termination") else {
        return;
    };
    let manifest = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(manifest.path(), POD).expect("manifest");
    node.ok(&["create", "-f", manifest.path().to_str().expect("path")]);

    let pod = node.wait_phase("last-words", "Failed", 120);
    let terminated = |name: &str| {
        pod["status"]["containerStatuses"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["name"] == name)
            .map(|c| c["state"]["terminated"].clone())
            .unwrap_or_default()
    };
    let file = terminated("file");
    assert_eq!(file["exitCode"], 3, "{file}");
    assert_eq!(file["reason"], "Error", "{file}");
    assert_eq!(file["message"], "bye\n", "{file}");
    let logs = terminated("logs");
    assert_eq!(logs["exitCode"], 1, "{logs}");
    assert_eq!(logs["message"], "first\noops\n", "{logs}");

    let describe = node.ok(&["describe", "pod", "last-words"]);
    let messages: Vec<&str> = describe
        .lines()
        .filter(|l| l.trim_start().starts_with("Message:"))
        .collect();
    assert!(
        messages.iter().any(|l| l.trim_end().ends_with(" bye")),
        "{describe}"
    );
}
