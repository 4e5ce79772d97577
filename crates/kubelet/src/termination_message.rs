//! Termination messages, as upstream: every container instance gets a fresh
//! host file mounted at its `terminationMessagePath`; once it has exited, the
//! file's last 4 KiB become `state.terminated.message` (with
//! `FallbackToLogsOnError`, the last 80 lines / 2 KiB of the log of a failed
//! container whose file is empty).

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use k8s_openapi::api::core::v1::{Container, ContainerStatus};
use ring::rand::SecureRandom;

use crate::labels;
use crate::logs::{self, LogOptions};
use crate::runtime::proto;

/// The most read from a termination message file (upstream's
/// `MaxContainerTerminationMessageLength`).
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024;
/// The most taken from the log (`MaxContainerTerminationMessageLogLength`).
pub const MAX_LOG_BYTES: usize = 2 * 1024;
/// The most log lines taken (`MaxContainerTerminationMessageLogLines`).
pub const MAX_LOG_LINES: usize = 80;
/// The most all of a pod's messages may take together, split evenly among
/// its containers (`MaxPodTerminationMessageLogLength`).
pub const MAX_POD_BYTES: usize = 12 * 1024;

/// The default `terminationMessagePath`.
pub const DEFAULT_PATH: &str = "/dev/termination-log";

/// Creates a fresh (world-writable) file for container `c`'s termination
/// message under `pod_dir/containers/<name>/` and returns its mount; none
/// when the spec sets no path or `existing` mounts already cover it.
pub fn mount(pod_dir: &Path, c: &Container, existing: &[proto::Mount]) -> Option<proto::Mount> {
    let path = c
        .termination_message_path
        .as_deref()
        .unwrap_or(DEFAULT_PATH);
    if path.is_empty() || existing.iter().any(|m| m.container_path == path) {
        return None;
    }
    let dir = pod_dir.join("containers").join(&c.name);
    let mut id = [0u8; 4];
    if ring::rand::SystemRandom::new().fill(&mut id).is_err() {
        return None;
    }
    let file = dir.join(format!("{:08x}", u32::from_be_bytes(id)));
    let made = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::File::create(&file))
        .and_then(|_| std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)));
    if let Err(e) = made {
        tracing::warn!(path = %file.display(), error = %e, "cannot create the termination-log file");
        return None;
    }
    Some(proto::Mount {
        container_path: path.to_string(),
        host_path: file.display().to_string(),
        ..Default::default()
    })
}

/// The last `max` bytes of the file at `path`.
fn read_tail(path: &Path, max: usize) -> std::io::Result<Vec<u8>> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let max = u64::try_from(max).unwrap_or(u64::MAX);
    if len > max {
        f.seek(SeekFrom::Start(len - max))?;
    }
    let mut buf = Vec::new();
    f.take(max).read_to_end(&mut buf)?;
    Ok(buf)
}

/// What the message file says, and whether the log should be read instead.
fn from_file(status: &proto::ContainerStatus, path: &str, fallback: bool) -> (String, bool) {
    if path.is_empty() {
        return (String::new(), fallback);
    }
    let Some(m) = status.mounts.iter().find(|m| m.container_path == path) else {
        return (String::new(), fallback);
    };
    match read_tail(Path::new(&m.host_path), MAX_MESSAGE_BYTES) {
        Ok(data) => {
            let empty = data.is_empty();
            (
                String::from_utf8_lossy(&data).into_owned(),
                fallback && empty,
            )
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (String::new(), fallback),
        Err(e) => (
            format!("Error on reading termination log {}: {e}", m.host_path),
            false,
        ),
    }
}

/// The last [`MAX_LOG_LINES`] lines of the CRI log at `path`, at most
/// [`MAX_LOG_BYTES`] of their end.
fn from_log(path: &str) -> String {
    let data = match logs::read_from(Path::new(path), 0) {
        Ok(d) => d,
        Err(e) => return format!("Error on reading termination message from logs: {e}"),
    };
    let opts = LogOptions {
        tail_lines: Some(MAX_LOG_LINES),
        ..Default::default()
    };
    let (out, _) = logs::render(&data, &opts, &mut true);
    let start = out.len().saturating_sub(MAX_LOG_BYTES);
    String::from_utf8_lossy(&out[start..]).into_owned()
}

/// The message of an exited container from its CRI status: the runtime's
/// message, then (after `": "`) the termination message.
pub fn message(status: &proto::ContainerStatus) -> String {
    let path = status
        .annotations
        .get(labels::TERMINATION_MESSAGE_PATH)
        .map_or("", String::as_str);
    let policy = status
        .annotations
        .get(labels::TERMINATION_MESSAGE_POLICY)
        .map_or("", String::as_str);
    // A container that could not even start has no logs to fall back to.
    let fallback = policy == "FallbackToLogsOnError"
        && status.exit_code != 0
        && status.reason != "ContainerCannotRun";
    let (mut text, check_logs) = from_file(status, path, fallback);
    if check_logs {
        text = from_log(&status.log_path);
    }
    match (status.message.is_empty(), text.is_empty()) {
        (_, true) => status.message.clone(),
        (true, false) => text,
        (false, false) => format!("{}: {text}", status.message),
    }
}

/// Cuts `message` to its first `max` bytes (on a character boundary), as
/// upstream's status manager shares [`MAX_POD_BYTES`] among containers.
pub fn truncate(message: &mut String, max: usize) {
    if message.len() > max {
        let mut end = max;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
    }
}

/// Cuts the termination messages of a pod's statuses so that together they
/// take at most [`MAX_POD_BYTES`], shared evenly, as upstream's status manager.
pub fn share(init: &mut [ContainerStatus], app: &mut [ContainerStatus]) {
    let each = MAX_POD_BYTES / (init.len() + app.len()).max(1);
    for s in init.iter_mut().chain(app.iter_mut()) {
        for state in [s.state.as_mut(), s.last_state.as_mut()]
            .into_iter()
            .flatten()
        {
            if let Some(m) = state.terminated.as_mut().and_then(|t| t.message.as_mut()) {
                truncate(m, each);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn status(
        dir: &Path,
        file: Option<&[u8]>,
        policy: &str,
        exit_code: i32,
    ) -> proto::ContainerStatus {
        let host = dir.join("msg");
        if let Some(data) = file {
            std::fs::write(&host, data).unwrap();
        }
        let log = dir.join("0.log");
        let mut lines = String::new();
        for i in 0..100 {
            lines.push_str(&format!(
                "2026-01-01T00:00:00.000000000Z stdout F line {i:03} {}\n",
                "x".repeat(20)
            ));
        }
        std::fs::write(&log, lines).unwrap();
        proto::ContainerStatus {
            exit_code,
            annotations: HashMap::from([
                (
                    labels::TERMINATION_MESSAGE_PATH.to_string(),
                    DEFAULT_PATH.to_string(),
                ),
                (
                    labels::TERMINATION_MESSAGE_POLICY.to_string(),
                    policy.to_string(),
                ),
            ]),
            mounts: vec![proto::Mount {
                container_path: DEFAULT_PATH.into(),
                host_path: host.display().to_string(),
                ..Default::default()
            }],
            log_path: log.display().to_string(),
            ..Default::default()
        }
    }

    #[test]
    fn file_messages_keep_their_last_4_kib() {
        let dir = tempfile::tempdir().unwrap();
        let st = status(dir.path(), Some(b"bye\n"), "File", 3);
        assert_eq!(message(&st), "bye\n");
        let mut big = vec![b'a'; 5000];
        big.extend_from_slice(b"END");
        let st = status(dir.path(), Some(&big), "File", 0);
        let m = message(&st);
        assert_eq!(m.len(), MAX_MESSAGE_BYTES);
        assert!(m.ends_with("aEND"));
        // The runtime's own message comes first.
        let mut st = status(dir.path(), Some(b"bye"), "File", 137);
        st.message = "oom".into();
        assert_eq!(message(&st), "oom: bye");
        // No file (or no mount): nothing.
        let dir2 = tempfile::tempdir().unwrap();
        assert_eq!(message(&status(dir2.path(), None, "File", 1)), "");
    }

    #[test]
    fn logs_only_for_failed_containers_with_an_empty_file() {
        let dir = tempfile::tempdir().unwrap();
        let st = status(dir.path(), Some(b""), "FallbackToLogsOnError", 2);
        let m = message(&st);
        assert!(m.len() <= MAX_LOG_BYTES, "{}", m.len());
        assert!(m.ends_with("line 099 xxxxxxxxxxxxxxxxxxxx\n"), "{m}");
        assert!(!m.contains("line 019 "), "at most 80 lines: {m}");
        // A message in the file wins; success or the File policy read no log.
        let st = status(dir.path(), Some(b"why"), "FallbackToLogsOnError", 2);
        assert_eq!(message(&st), "why");
        let st = status(dir.path(), Some(b""), "FallbackToLogsOnError", 0);
        assert_eq!(message(&st), "");
        let st = status(dir.path(), Some(b""), "File", 2);
        assert_eq!(message(&st), "");
        let mut st = status(dir.path(), Some(b""), "FallbackToLogsOnError", 2);
        st.reason = "ContainerCannotRun".into();
        assert_eq!(message(&st), "");
    }

    #[test]
    fn mounts_a_fresh_world_writable_file() {
        let dir = tempfile::tempdir().unwrap();
        let c = Container {
            name: "app".into(),
            ..Default::default()
        };
        let m = mount(dir.path(), &c, &[]).unwrap();
        assert_eq!(m.container_path, DEFAULT_PATH);
        assert!(
            m.host_path
                .starts_with(&dir.path().join("containers/app").display().to_string())
        );
        let meta = std::fs::metadata(&m.host_path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o666);
        assert_ne!(mount(dir.path(), &c, &[]).unwrap().host_path, m.host_path);
        assert!(mount(dir.path(), &c, &[m]).is_none());
        let custom = Container {
            name: "app".into(),
            termination_message_path: Some("/tmp/why".into()),
            ..Default::default()
        };
        assert_eq!(
            mount(dir.path(), &custom, &[]).unwrap().container_path,
            "/tmp/why"
        );
    }

    #[test]
    fn a_pod_shares_12_kib() {
        use k8s_openapi::api::core::v1::{ContainerState, ContainerStateTerminated};
        let status = |n: usize| ContainerStatus {
            state: Some(ContainerState {
                terminated: Some(ContainerStateTerminated {
                    message: Some("m".repeat(n)),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            last_state: Some(ContainerState {
                terminated: Some(ContainerStateTerminated {
                    message: Some("l".repeat(n)),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut init = vec![status(4096)];
        let mut app = vec![status(4096), status(4096), status(100)];
        share(&mut init, &mut app);
        let len = |s: &ContainerStatus, last: bool| {
            let st = if last { &s.last_state } else { &s.state };
            st.as_ref()
                .unwrap()
                .terminated
                .as_ref()
                .unwrap()
                .message
                .as_ref()
                .unwrap()
                .len()
        };
        assert_eq!(len(&init[0], false), 3072);
        assert_eq!(len(&app[1], true), 3072);
        assert_eq!(len(&app[2], false), 100);
    }

    #[test]
    fn truncates_on_char_boundaries() {
        let mut m = "aé".to_string();
        truncate(&mut m, 2);
        assert_eq!(m, "a");
        let mut m = "abc".to_string();
        truncate(&mut m, 5);
        assert_eq!(m, "abc");
    }
}
