//! Streaming with real containers: `kubectl exec` (with and without stdin,
//! exit codes), `cp` both ways, `attach` and `port-forward`, through the API
//! server to the node agent and on to containerd's streaming server. Each is
//! run twice: with kubectl's defaults (WebSocket: `v5.channel.k8s.io` for
//! exec, attach and cp, SPDY tunneled in WebSocket for port-forward) and with
//! WebSocket turned off (SPDY). Skipped, with a message, when no container
//! runtime answers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rkube_e2e::cluster::send_signal;
use rkube_e2e::real_node::{COMMAND_LIMIT, RealNode, http_request, manifest, run_limited};

const NGINX_POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
  - name: nginx
    image: nginx
    ports:
    - containerPort: 80
";

const TICKER_POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: ticker
spec:
  containers:
  - name: tick
    image: busybox
    command: ['sh', '-c', 'i=0; while true; do echo tick $i; i=$((i+1)); sleep 1; done']
";

/// Its app container waits for an init container that does not end.
const INIT_POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: initializing
spec:
  initContainers:
  - name: wait
    image: busybox
    command: ['sleep', '3600']
  containers:
  - name: app
    image: busybox
    command: ['sleep', '3600']
";

/// A pod that echoes its standard input until its end, for `attach -i`.
fn reader_pod(name: &str) -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  restartPolicy: Never
  containers:
  - name: echo
    image: busybox
    stdin: true
    stdinOnce: true
    command: ['sh', '-c', 'while read l; do echo \"got $l\"; done; echo bye']
"
    )
}

/// Exec and port-forward with the Python client, which speaks the older
/// WebSocket protocols (`v4.channel.k8s.io`; ports in the query), passed
/// through to containerd's own WebSocket server.
const PYTHON_CLIENT: &str = r#"
import sys
from kubernetes import client, config
from kubernetes.stream import stream, portforward
config.load_kube_config(sys.argv[1])
api = client.CoreV1Api()
ex = stream(api.connect_get_namespaced_pod_exec, "myapp-pod", "default",
            command=["sh", "-c", "echo out; echo err >&2; exit 3"],
            stderr=True, stdin=False, stdout=True, tty=False, _preload_content=False)
ex.run_forever(timeout=60)
print("exec", repr(ex.read_stdout()), repr(ex.read_stderr()), ex.returncode)
pf = portforward(api.connect_get_namespaced_pod_portforward, "web", "default", ports="80")
sock = pf.socket(80)
sock.settimeout(30)
sock.sendall(b"GET / HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n")
data = b""
while True:
    chunk = sock.recv(65536)
    if not chunk:
        break
    data += chunk
print("port-forward", data.split(b"\r\n")[0].decode(), b"Welcome to nginx!" in data)
sock.close()
pf.close()
"#;

fn python_client_checks(node: &RealNode) {
    let probe = run_limited(
        {
            let mut c = Command::new("python3");
            c.args(["-c", "import kubernetes.stream"]);
            c
        },
        None,
    );
    if !probe.status.success() {
        eprintln!("skipped the Python client checks: no kubernetes module for python3");
        return;
    }
    let mut cmd = Command::new("python3");
    cmd.args(["-c", PYTHON_CLIENT])
        .arg(&node.cluster.kubeconfig);
    let out = run_limited(cmd, None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text,
        "exec 'out\\n' 'err\\n' 3\nport-forward HTTP/1.1 200 OK True\n"
    );
}

fn tail(s: &str) -> &str {
    let cut = s.len().saturating_sub(4000);
    s.get(cut..).unwrap_or(s)
}

fn kill(pid: u32) {
    send_signal(pid, libc::SIGKILL);
}

/// A child process killed (by PID) when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        kill(self.0.id());
        let _ = self.0.wait();
    }
}

/// The first line of `child`'s stdout that satisfies `want`, waiting at
/// most `secs`.
fn wait_line(child: &mut Child, secs: u64, want: impl Fn(&str) -> bool + Send + 'static) -> String {
    let out = child.stdout.take().expect("stdout piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Reads to the end: kubectl must not find its stdout closed.
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if want(&line) {
                let _ = tx.send(line);
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(secs))
        .expect("the expected line in time")
}

/// GET http://127.0.0.1:port/ (a local kubectl port-forward).
fn local_get(port: u16) -> std::io::Result<String> {
    http_request(
        SocketAddr::from(([127, 0, 0, 1], port)),
        "/",
        "localhost",
        Duration::from_secs(10),
    )
}

fn scratch_file(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).expect("write scratch file");
    p
}

/// Every streaming command in one mode (`env` picks the protocol).
fn streaming_checks(node: &RealNode, mode: &str, env: &[(&str, &str)]) {
    // exec: output, stdin, exit code.
    assert_eq!(
        node.ok_env(env, &["exec", "myapp-pod", "--", "hostname"], None),
        "myapp-pod\n"
    );
    assert_eq!(
        node.ok_env(
            env,
            &["exec", "-i", "myapp-pod", "--", "sh", "-c", "tr a-z A-Z"],
            Some(b"hello stdin\n")
        ),
        "HELLO STDIN\n"
    );
    let out = node.kubectl_env(
        env,
        &["exec", "myapp-pod", "--", "sh", "-c", "exit 3"],
        None,
    );
    assert_eq!(out.status.code(), Some(3), "{mode}: {out:?}");
    let out = node.kubectl_env(
        env,
        &["exec", "myapp-pod", "--", "sh", "-c", "echo to-stderr >&2"],
        None,
    );
    assert!(out.status.success(), "{mode}: {out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "to-stderr\n");

    // The protocol kubectl ended up with: WebSocket v5 unless turned off.
    let out = node.kubectl_env(env, &["exec", "myapp-pod", "-v=6", "--", "true"], None);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{mode}: {log}");
    assert_eq!(
        log.contains("The subprotocol is v5.channel.k8s.io"),
        mode == "websocket",
        "{mode}: {log}"
    );
    assert!(!log.contains("fallback"), "{mode}: {log}");

    // A terminal (`script` gives kubectl one): the shell's prompt, its
    // output and its exit code.
    let mut tty = Command::new("script");
    tty.args(["-qec", "kubectl exec -it myapp-pod -- sh", "/dev/null"])
        .env("KUBECONFIG", &node.cluster.kubeconfig)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = Running(tty.spawn().expect("script"));
    if let Some(mut input) = child.0.stdin.take() {
        input
            .write_all(b"echo tty-$((40 + 2))\nexit 4\n")
            .expect("terminal input");
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let mut stdout = child.0.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        let _ = tx.send(text);
    });
    let text = rx
        .recv_timeout(COMMAND_LIMIT)
        .expect("kubectl exec -it to end");
    let status = child.0.wait().expect("script status");
    assert!(text.contains("tty-42"), "{mode}: {text}");
    assert_eq!(status.code(), Some(4), "{mode}: {text}");

    // cp both ways.
    let dir = tempfile::tempdir().expect("tempdir");
    let content: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let local = scratch_file(dir.path(), "in.bin", &content);
    let remote = format!("myapp-pod:/tmp/copied-{mode}.bin");
    node.ok_env(env, &["cp", &local.display().to_string(), &remote], None);
    assert_eq!(
        node.ok_env(
            env,
            &[
                "exec",
                "myapp-pod",
                "--",
                "wc",
                "-c",
                &format!("/tmp/copied-{mode}.bin")
            ],
            None
        )
        .split_whitespace()
        .next(),
        Some("200000")
    );
    let back = dir.path().join("back.bin");
    node.ok_env(env, &["cp", &remote, &back.display().to_string()], None);
    assert_eq!(
        std::fs::read(&back).expect("copied back"),
        content,
        "{mode}"
    );

    // A command the image lacks: the runtime's status, passed on.
    let out = node.kubectl_env(env, &["exec", "myapp-pod", "--", "nosuchcmd"], None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\"nosuchcmd\": executable file not found in $PATH"),
        "{mode}: {err}"
    );

    // A container that does not exist: upstream's message.
    let out = node.kubectl_env(
        env,
        &["exec", "myapp-pod", "-c", "nope", "--", "true"],
        None,
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("container nope is not valid for pod myapp-pod"),
        "{mode}: {err}"
    );

    // attach: the running container's output.
    let mut attach = node.command(env, &["attach", "ticker"]);
    attach
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut attach = Running(attach.spawn().expect("kubectl attach"));
    let line = wait_line(&mut attach.0, 60, |l| l.starts_with("tick "));
    assert!(line.starts_with("tick "), "{mode}: {line}");
    drop(attach);

    // attach -i: stdin reaches the container, its end closes the
    // container's stdin (stdinOnce), the attach ends with the container.
    let reader = format!("reader-{mode}");
    let out = node.ok_env(env, &["attach", "-i", &reader], Some(b"hello\nworld\n"));
    assert_eq!(out, "got hello\ngot world\nbye\n", "{mode}");

    // port-forward to nginx, then GET through the local port.
    let pf_log = dir.path().join("port-forward.log");
    let mut pf = node.command(env, &["port-forward", "pod/web", ":80", "-v=6"]);
    pf.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&pf_log).expect("log file"));
    let mut pf = Running(pf.spawn().expect("kubectl port-forward"));
    let line = wait_line(&mut pf.0, 60, |l| {
        l.starts_with("Forwarding from 127.0.0.1:")
    });
    let port: u16 = line
        .trim_start_matches("Forwarding from 127.0.0.1:")
        .split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .expect("local port");
    // nginx may still be starting: retry the first GET for a while.
    let deadline = Instant::now() + Duration::from_secs(30);
    let page = loop {
        match local_get(port) {
            Ok(page) => break page,
            Err(e) if Instant::now() > deadline => panic!(
                "{mode}: GET through port-forward: {e}\nkubectl:\n{}\nagent:\n{}",
                std::fs::read_to_string(&pf_log).unwrap_or_default(),
                tail(&node.agent.log_text())
            ),
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    };
    assert!(page.starts_with("HTTP/1.1 200"), "{mode}: {page}");
    assert!(page.contains("Welcome to nginx!"), "{mode}: {page}");
    // A second connection over the same session.
    let again = local_get(port).expect("second GET through port-forward");
    assert!(again.contains("Welcome to nginx!"), "{mode}: {again}");
    let log = std::fs::read_to_string(&pf_log).unwrap_or_default();
    assert_eq!(
        log.contains("negotiated protocol: portforward.k8s.io") && !log.contains("fallback"),
        mode == "websocket",
        "{mode}: {log}"
    );
    drop(pf);
}

#[test]
fn exec_cp_attach_and_port_forward_with_real_containers() {
    let Some(node) = RealNode::start("stream") else {
        return;
    };
    let hello = manifest("01-pod-hello.yaml");
    node.ok_env(&[], &["apply", "-f", &hello.display().to_string()], None);
    node.ok_env(&[], &["apply", "-f", "-"], Some(NGINX_POD.as_bytes()));
    node.ok_env(&[], &["apply", "-f", "-"], Some(TICKER_POD.as_bytes()));
    node.ok_env(&[], &["apply", "-f", "-"], Some(INIT_POD.as_bytes()));
    for mode in ["websocket", "spdy"] {
        let pod = reader_pod(&format!("reader-{mode}"));
        node.ok_env(&[], &["apply", "-f", "-"], Some(pod.as_bytes()));
    }
    for pod in [
        "myapp-pod",
        "web",
        "ticker",
        "reader-websocket",
        "reader-spdy",
    ] {
        node.wait_phase(pod, "Running", 120);
    }

    streaming_checks(&node, "websocket", &[]);
    streaming_checks(
        &node,
        "spdy",
        &[
            ("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false"),
            ("KUBECTL_PORT_FORWARD_WEBSOCKETS", "false"),
        ],
    );

    python_client_checks(&node);

    // A container that is not running yet: the agent's refusal, as upstream's.
    node.wait_for("the init container to run", 120, || {
        let out = node.kubectl_env(
            &[],
            &[
                "get",
                "pod",
                "initializing",
                "-o",
                "jsonpath={.status.initContainerStatuses[0].state.running.startedAt}",
            ],
            None,
        );
        (!out.stdout.is_empty()).then_some(())
    });
    for env in [
        &[][..],
        &[("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false")][..],
    ] {
        let out = node.kubectl_env(
            env,
            &["exec", "initializing", "-c", "app", "--", "true"],
            None,
        );
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("unable to upgrade connection: container not found (\"app\")"),
            "{env:?}: {err}"
        );
    }

    // A pod that does not exist.
    let out = node.kubectl_env(&[], &["exec", "nosuch", "--", "true"], None);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("pods \"nosuch\" not found"),
        "{out:?}"
    );
}
