//! The etcd ceiling for creates: conditional-put Txns straight to etcd, N concurrent tasks.
//!
//! Starts a private etcd (`/usr/bin/etcd` or `$ETCD_BIN`, flags as the API server bench
//! starts it, plus `$ETCD_EXTRA_FLAGS`) unless `--endpoint` names one, then for each client
//! count runs `count` creates of a pod-sized JSON value through [`EtcdStore::create`]
//! (what the API server does per create) and prints txns/s, latency and the CPU time
//! etcd and this process spent per txn. With `--watch` a watch with previous values
//! follows `/registry/` as the API server's watch cache does.
//!
//! `cargo run --release -p rkube-store --example etcd_throughput -- [--count 20000]
//!  [--clients 8,16,32] [--value-bytes 1300] [--watch] [--endpoint http://127.0.0.1:2379]`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use rkube_store::{EtcdStore, Store};

struct Args {
    endpoint: Option<String>,
    count: usize,
    clients: Vec<usize>,
    value_bytes: usize,
    watch: bool,
}

fn parse_args() -> Args {
    let mut args = Args {
        endpoint: None,
        count: 20_000,
        clients: vec![8, 16, 32],
        value_bytes: 1300,
        watch: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().expect("flag needs a value");
        match flag.as_str() {
            "--endpoint" => args.endpoint = Some(value()),
            "--count" => args.count = value().parse().unwrap(),
            "--value-bytes" => args.value_bytes = value().parse().unwrap(),
            "--clients" => {
                args.clients = value().split(',').map(|c| c.parse().unwrap()).collect();
            }
            "--watch" => args.watch = true,
            other => panic!("unknown flag {other}"),
        }
    }
    args
}

/// A private etcd on free loopback ports, killed (by PID) on drop.
struct Etcd {
    child: Child,
    endpoint: String,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Etcd {
    fn start() -> Etcd {
        let bin = std::env::var("ETCD_BIN").unwrap_or_else(|_| "/usr/bin/etcd".into());
        let dir = tempfile::Builder::new()
            .prefix("rkube-etcd-throughput")
            .tempdir()
            .unwrap();
        let endpoint = format!("http://127.0.0.1:{}", free_port());
        let peer = format!("http://127.0.0.1:{}", free_port());
        let log = std::fs::File::create(dir.path().join("etcd.log")).unwrap();
        let extra = std::env::var("ETCD_EXTRA_FLAGS").unwrap_or_default();
        let child = Command::new(&bin)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--listen-client-urls", &endpoint])
            .args(["--advertise-client-urls", &endpoint])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .arg("--initial-cluster")
            .arg(format!("default={peer}"))
            .args(["--quota-backend-bytes", "8589934592"])
            .args(extra.split_whitespace())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
        println!("etcd: {bin} pid {} extra flags: {extra:?}", child.id());
        Etcd {
            child,
            endpoint,
            _dir: dir,
        }
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU time (user + system) of a process so far.
fn cpu_time(pid: &str) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rfind(')').map_or("", |i| &stat[i + 2..]);
    let fields: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse().ok())
        .collect();
    Duration::from_millis(fields.iter().sum::<u64>() * 10)
}

/// A pod as the API server stores it (storage JSON, no resourceVersion), padded to `bytes`.
fn pod_value(namespace: &str, name: &str, bytes: usize) -> Vec<u8> {
    let mut v = format!(
        concat!(
            r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"annotations":{{"bench.rkube.io/sent":"01700000000123456789"}},"#,
            r#""creationTimestamp":"2025-01-01T00:00:00Z","labels":{{"app":"bench","bench.rkube.io/ns":"{ns}","tier":"web"}},"#,
            r#""name":"{name}","namespace":"{ns}","uid":"0b4a1f2e-1c4e-4a8e-9a51-3f2d6c1e7b90"}},"spec":{{"containers":[{{"#,
            r#""env":[{{"name":"MODE","value":"bench"}},{{"name":"LOG_LEVEL","value":"info"}}],"image":"nginx:1.27","#,
            r#""imagePullPolicy":"IfNotPresent","name":"nginx","ports":[{{"containerPort":80,"protocol":"TCP"}}],"#,
            r#""resources":{{"limits":{{"memory":"64Mi"}},"requests":{{"cpu":"10m","memory":"16Mi"}}}},"#,
            r#""terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"}}],"#,
            r#""dnsPolicy":"ClusterFirst","enableServiceLinks":true,"preemptionPolicy":"PreemptLowerPriority","#,
            r#""priority":0,"restartPolicy":"Always","schedulerName":"default-scheduler","securityContext":{{}},"#,
            r#""serviceAccountName":"default","terminationGracePeriodSeconds":5}},"#,
            r#""status":{{"phase":"Pending","qosClass":"Burstable"}}}}"#
        ),
        ns = namespace,
        name = name
    )
    .into_bytes();
    const PAD: &str = r#""pad":"","#;
    if v.len() + PAD.len() < bytes {
        // An extra annotation keeps the value one JSON object of the asked size.
        let at = v
            .windows(15)
            .position(|w| w == b"\"annotations\":{")
            .unwrap()
            + 15;
        let pad = format!(r#""pad":"{}","#, "x".repeat(bytes - v.len() - PAD.len()));
        v.splice(at..at, pad.into_bytes());
    }
    v
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    let etcd = args.endpoint.is_none().then(Etcd::start);
    let endpoint = args
        .endpoint
        .clone()
        .unwrap_or_else(|| etcd.as_ref().unwrap().endpoint.clone());
    let etcd_pid = etcd.as_ref().map(|e| e.child.id().to_string());

    let deadline = Instant::now() + Duration::from_secs(30);
    let store = loop {
        if let Ok(store) = EtcdStore::connect(std::slice::from_ref(&endpoint)).await
            && store.current_revision().await.is_ok()
        {
            break store;
        }
        assert!(Instant::now() < deadline, "etcd did not answer");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let sample = pod_value("bench-ns", "p-0000000", args.value_bytes);
    println!(
        "value: {} B pod JSON; {} creates per run; watch: {}",
        sample.len(),
        args.count,
        args.watch
    );
    println!(
        "loadavg: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );

    let watched = Arc::new(AtomicUsize::new(0));
    if args.watch {
        let rev = store.current_revision().await.unwrap();
        let mut events = store.watch("/registry/", rev).await.unwrap();
        let watched = watched.clone();
        tokio::spawn(async move {
            while let Some(Ok(_)) = events.next().await {
                watched.fetch_add(1, Ordering::Relaxed);
            }
        });
    }

    for (run, &clients) in args.clients.iter().enumerate() {
        let namespace = format!("ns{run}");
        let next = Arc::new(AtomicUsize::new(0));
        let etcd_cpu0 = etcd_pid.as_deref().map(cpu_time);
        let self_cpu0 = cpu_time("self");
        let started = Instant::now();
        let tasks: Vec<_> = (0..clients)
            .map(|_| {
                let (store, next, namespace) = (store.clone(), next.clone(), namespace.clone());
                let count = args.count;
                let value_bytes = args.value_bytes;
                tokio::spawn(async move {
                    let mut latencies = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= count {
                            break;
                        }
                        let name = format!("p-{i:07}");
                        let key = format!("/registry/pods/{namespace}/{name}");
                        let value = pod_value(&namespace, &name, value_bytes);
                        let t0 = Instant::now();
                        store.create(&key, value).await.unwrap();
                        latencies.push(t0.elapsed());
                    }
                    latencies
                })
            })
            .collect();
        let mut latencies = Vec::new();
        for task in tasks {
            latencies.extend(task.await.unwrap());
        }
        let elapsed = started.elapsed();
        let self_cpu = cpu_time("self") - self_cpu0;
        let etcd_cpu = etcd_pid
            .as_deref()
            .zip(etcd_cpu0)
            .map(|(pid, c0)| cpu_time(pid) - c0);
        latencies.sort();
        let n = latencies.len() as f64;
        let per_txn = |d: Duration| d.as_secs_f64() * 1e6 / n;
        println!(
            "{clients:>3} clients: {:>6.0} txns/s  p50 {:.2} ms p99 {:.2} ms  CPU/txn: client {:.0} us{}  loadavg {}",
            n / elapsed.as_secs_f64(),
            percentile(&latencies, 0.5).as_secs_f64() * 1e3,
            percentile(&latencies, 0.99).as_secs_f64() * 1e3,
            per_txn(self_cpu),
            etcd_cpu
                .map(|c| format!(", etcd {:.0} us", per_txn(c)))
                .unwrap_or_default(),
            std::fs::read_to_string("/proc/loadavg")
                .unwrap_or_default()
                .split_whitespace()
                .next()
                .unwrap_or("?")
        );
    }
    if args.watch {
        tokio::time::sleep(Duration::from_millis(500)).await;
        println!("watch saw {} events", watched.load(Ordering::Relaxed));
    }
    drop(etcd);
}
