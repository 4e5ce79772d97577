//! The store conformance suite: the same cases against the memory, SQLite and etcd backends.
#![allow(clippy::unwrap_used)]

#[path = "conformance/cases.rs"]
mod cases;
#[path = "conformance/etcd_server.rs"]
mod etcd_server;

use cases::Ctx;
use rkube_store::{AnyStore, EtcdStore, MemoryStore, SqliteStore, Store};

/// More committed batches than the live broadcast holds, so the watcher must catch up from history.
const LAG_WRITES: usize = 5000;

/// Lists the cases once; `$then!` receives them all. `compaction` stays last:
/// on a shared etcd it compacts everyone's history.
macro_rules! all_cases {
    ($then:ident) => {
        $then!(
            create_get_conflict,
            update_semantics,
            delete_semantics,
            list_prefix_isolation,
            list_at_revision,
            list_paging,
            list_future_revision,
            watch_from_current,
            watch_from_history,
            watch_from_zero,
            watch_slow_consumer,
            concurrent_creates,
            compaction
        );
    };
}

macro_rules! memory_tests {
    ($($case:ident),*) => {
        mod memory {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let store = MemoryStore::new();
                    cases::$case(&store, Ctx { ns: "", slow_consumer_writes: LAG_WRITES }).await;
                }
            )*
        }
    };
}

macro_rules! sqlite_tests {
    ($($case:ident),*) => {
        mod sqlite {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let dir = tempfile::tempdir().unwrap();
                    let store = SqliteStore::open(dir.path().join("state.db")).unwrap();
                    cases::$case(&store, Ctx { ns: "", slow_consumer_writes: LAG_WRITES }).await;
                }
            )*
        }
    };
}

macro_rules! etcd_test {
    ($($case:ident),*) => {
        /// One etcd for all cases (each under its own key prefix), then a restart check.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn etcd() {
            let mut server = etcd_server::EtcdServer::start().await;
            let store = EtcdStore::connect(&[server.endpoint()]).await.unwrap();
            $(
                eprintln!("etcd case {}", stringify!($case));
                let ns = concat!("/", stringify!($case));
                cases::$case(&store, Ctx { ns, slow_consumer_writes: 300 }).await;
            )*
            let before = store.current_revision().await.unwrap();
            // The server's endpoint syntax: several comma-separated URLs.
            let any = AnyStore::open(&format!("{0},{0}", server.endpoint())).await.unwrap();
            assert!(matches!(any, AnyStore::Etcd(_)));
            assert_eq!(any.current_revision().await.unwrap(), before);
            server.restart().await;
            let store = EtcdStore::connect(&[server.endpoint()]).await.unwrap();
            assert_eq!(store.current_revision().await.unwrap(), before);
            assert!(store.create("/restart/a", b"x".to_vec()).await.unwrap() > before);
        }
    };
}

all_cases!(memory_tests);
all_cases!(sqlite_tests);
all_cases!(etcd_test);

mod sqlite_restart {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    use rkube_store::{ListOptions, Revision, SqliteStore, Store};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn revisions_increase_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let store = SqliteStore::open(&path).unwrap();
        let r1 = store
            .create("/registry/pods/ns/a", b"a".to_vec())
            .await
            .unwrap();
        let r2 = store
            .create("/registry/pods/ns/b", b"b".to_vec())
            .await
            .unwrap();
        // The newest row is a tombstone that compaction removes: the revision must survive anyway.
        let (r3, _) = store.delete("/registry/pods/ns/b", None).await.unwrap();
        store.compact(r3).await.unwrap();
        drop(store);

        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.current_revision().await.unwrap(), r3);
        assert_eq!(store.compacted_revision().await.unwrap(), r3);
        let r4 = store
            .create("/registry/pods/ns/b", b"b2".to_vec())
            .await
            .unwrap();
        assert!(r1 < r2 && r2 < r3 && r3 < r4);
        let list = store
            .list("/registry/pods/", ListOptions::default())
            .await
            .unwrap();
        assert_eq!(list.items.len(), 2);
        assert_eq!(list.revision, r4);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn answered_writes_survive_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let store = SqliteStore::open(&path).unwrap();
        let written = futures::future::join_all((0..200).map(|i| {
            let store = store.clone();
            async move {
                let key = format!("/registry/configmaps/ns/c{i:03}");
                (store.create(&key, vec![b'x'; 100]).await.unwrap(), key)
            }
        }))
        .await;
        drop(store);
        let store = SqliteStore::open(&path).unwrap();
        for (revision, key) in written {
            assert_eq!(
                store.get(&key).await.unwrap().unwrap().mod_revision,
                revision
            );
        }
    }

    const CHILD_ENV: &str = "RKUBE_STORE_KILL9_DB";

    /// Writes acknowledged by a process killed with SIGKILL are all there after reopen.
    #[test]
    fn answered_writes_survive_kill_9() {
        if let Ok(path) = std::env::var(CHILD_ENV) {
            return write_until_killed(&path);
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "sqlite_restart::answered_writes_survive_kill_9",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut acked: Vec<(Revision, String)> = Vec::new();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        while acked.len() < 2000 {
            let line = lines.next().expect("child stopped early").unwrap();
            if let Some(rest) = line.strip_prefix("ack ") {
                let (revision, key) = rest.split_once(' ').unwrap();
                acked.push((revision.parse().unwrap(), key.to_owned()));
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();

        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let store = SqliteStore::open(&path).unwrap();
            for (revision, key) in &acked {
                let kv = store
                    .get(key)
                    .await
                    .unwrap()
                    .unwrap_or_else(|| panic!("{key} lost"));
                assert_eq!(kv.mod_revision, *revision);
            }
            let max = acked.iter().map(|(r, _)| *r).max().unwrap();
            assert!(store.current_revision().await.unwrap() >= max);
        });
    }

    /// The child: 8 writers creating keys forever, printing each acknowledgement.
    fn write_until_killed(path: &str) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let store = SqliteStore::open(path).unwrap();
            let writers = (0..8).map(|w| {
                let store = store.clone();
                tokio::spawn(async move {
                    for i in 0.. {
                        let key = format!("/registry/pods/w{w}/p{i}");
                        let revision = store.create(&key, vec![b'x'; 500]).await.unwrap();
                        println!("ack {revision} {key}");
                    }
                })
            });
            futures::future::join_all(writers).await;
        });
    }
}
