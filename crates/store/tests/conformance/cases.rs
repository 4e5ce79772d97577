//! The conformance cases; each runs against any `Store`, with its keys under a namespace prefix.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use rkube_store::{KeyValue, ListOptions, Revision, Store, StoreError, WatchEvent, WatchStream};

/// Where a case runs: the key prefix isolating it, and how hard it may push.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub ns: &'a str,
    /// Writes the slow-consumer case makes while its watcher does not read.
    pub slow_consumer_writes: usize,
}

impl Ctx<'_> {
    fn key(&self, rest: &str) -> String {
        format!("{}{rest}", self.ns)
    }
}

fn kv(key: &str, value: &str, create_revision: Revision, mod_revision: Revision) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Bytes::copy_from_slice(value.as_bytes()),
        create_revision,
        mod_revision,
    }
}

fn v(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn keys(items: &[KeyValue]) -> Vec<&str> {
    items.iter().map(|kv| kv.key.as_str()).collect()
}

async fn next_event(watch: &mut WatchStream) -> WatchEvent {
    match tokio::time::timeout(Duration::from_secs(10), watch.next()).await {
        Ok(Some(Ok(event))) => event,
        Ok(Some(Err(e))) => panic!("watch failed: {e}"),
        Ok(None) => panic!("watch ended"),
        Err(_) => panic!("no watch event within 10s"),
    }
}

async fn next_events(watch: &mut WatchStream, n: usize) -> Vec<WatchEvent> {
    let mut events = Vec::with_capacity(n);
    for _ in 0..n {
        events.push(next_event(watch).await);
    }
    events
}

async fn assert_quiet(watch: &mut WatchStream) {
    if let Ok(item) = tokio::time::timeout(Duration::from_millis(300), watch.next()).await {
        panic!("unexpected watch item: {item:?}");
    }
}

pub async fn create_get_conflict<S: Store>(store: &S, ctx: Ctx<'_>) {
    let key = ctx.key("/registry/pods/default/a");
    assert_eq!(store.get(&key).await.unwrap(), None);
    let r1 = store.create(&key, v("v1")).await.unwrap();
    assert_eq!(store.get(&key).await.unwrap(), Some(kv(&key, "v1", r1, r1)));
    assert_eq!(store.current_revision().await.unwrap(), r1);
    match store.create(&key, v("v2")).await {
        Err(StoreError::AlreadyExists { key: k }) => assert_eq!(k, key),
        other => panic!("want AlreadyExists, got {other:?}"),
    }
    // A refused write does not use a revision.
    assert_eq!(store.current_revision().await.unwrap(), r1);
    assert_eq!(store.get(&key).await.unwrap(), Some(kv(&key, "v1", r1, r1)));

    let (r2, _) = store.delete(&key, None).await.unwrap();
    let r3 = store.create(&key, v("v3")).await.unwrap();
    assert!(r1 < r2 && r2 < r3);
    assert_eq!(store.get(&key).await.unwrap(), Some(kv(&key, "v3", r3, r3)));
}

pub async fn update_semantics<S: Store>(store: &S, ctx: Ctx<'_>) {
    let key = ctx.key("/registry/pods/default/a");
    let r1 = store.create(&key, v("v1")).await.unwrap();
    let r2 = store.update(&key, v("v2"), r1).await.unwrap();
    assert!(r2 > r1);
    assert_eq!(store.get(&key).await.unwrap(), Some(kv(&key, "v2", r1, r2)));
    match store.update(&key, v("stale"), r1).await {
        Err(StoreError::Conflict {
            key: k,
            expected,
            actual,
        }) => assert_eq!((k, expected, actual), (key.clone(), r1, r2)),
        other => panic!("want Conflict, got {other:?}"),
    }
    assert_eq!(store.current_revision().await.unwrap(), r2);
    let missing = ctx.key("/registry/pods/default/missing");
    for expected in [r1, 0] {
        match store.update(&missing, v("x"), expected).await {
            Err(StoreError::NotFound { key: k }) => assert_eq!(k, missing),
            other => panic!("want NotFound, got {other:?}"),
        }
    }
    assert_eq!(store.get(&missing).await.unwrap(), None);
    let (r3, _) = store.delete(&key, None).await.unwrap();
    assert!(matches!(
        store.update(&key, v("x"), r2).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.update(&key, v("x"), r3).await,
        Err(StoreError::NotFound { .. })
    ));
}

pub async fn delete_semantics<S: Store>(store: &S, ctx: Ctx<'_>) {
    let a = ctx.key("/registry/pods/default/a");
    let r1 = store.create(&a, v("v1")).await.unwrap();
    match store.delete(&a, Some(r1 + 100)).await {
        Err(StoreError::Conflict {
            expected, actual, ..
        }) => assert_eq!((expected, actual), (r1 + 100, r1)),
        other => panic!("want Conflict, got {other:?}"),
    }
    let (r2, prev) = store.delete(&a, Some(r1)).await.unwrap();
    assert!(r2 > r1);
    assert_eq!(prev, kv(&a, "v1", r1, r1));
    assert_eq!(store.get(&a).await.unwrap(), None);
    assert!(matches!(
        store.delete(&a, None).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.delete(&a, Some(r1)).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(store.current_revision().await.unwrap(), r2);

    let b = ctx.key("/registry/pods/default/b");
    let r3 = store.create(&b, v("b")).await.unwrap();
    let r4 = store.update(&b, v("b2"), r3).await.unwrap();
    let (r5, prev) = store.delete(&b, None).await.unwrap();
    assert!(r5 > r4);
    assert_eq!(prev, kv(&b, "b2", r3, r4));
}

pub async fn list_prefix_isolation<S: Store>(store: &S, ctx: Ctx<'_>) {
    let pods = ctx.key("/registry/pods/");
    let a = ctx.key("/registry/pods/default/a");
    let b = ctx.key("/registry/pods/kube-system/b");
    for key in [
        &a,
        &b,
        &ctx.key("/registry/podtemplates/default/t"),
        &ctx.key("/registry/pods0/x"),
        &ctx.key("/registry/pod"),
        &ctx.key("/registry/pods/default/gone"),
    ] {
        store.create(key, v("x")).await.unwrap();
    }
    store
        .delete(&ctx.key("/registry/pods/default/gone"), None)
        .await
        .unwrap();
    let list = store.list(&pods, ListOptions::default()).await.unwrap();
    assert_eq!(keys(&list.items), [a.as_str(), b.as_str()]);
    assert!(!list.more);
    assert_eq!(list.revision, store.current_revision().await.unwrap());
    let list = store
        .list(&ctx.key("/registry/pods/default/"), ListOptions::default())
        .await
        .unwrap();
    assert_eq!(keys(&list.items), [a.as_str()]);
    let list = store
        .list(&ctx.key("/registry/secrets/"), ListOptions::default())
        .await
        .unwrap();
    assert!(list.items.is_empty());
}

pub async fn list_at_revision<S: Store>(store: &S, ctx: Ctx<'_>) {
    let prefix = ctx.key("/registry/pods/");
    let (a, b, c) = (
        ctx.key("/registry/pods/ns/a"),
        ctx.key("/registry/pods/ns/b"),
        ctx.key("/registry/pods/ns/c"),
    );
    let r1 = store.create(&a, v("a1")).await.unwrap();
    let r2 = store.create(&b, v("b1")).await.unwrap();
    let r3 = store.update(&a, v("a2"), r1).await.unwrap();
    let (r4, _) = store.delete(&b, None).await.unwrap();
    let r5 = store.create(&c, v("c1")).await.unwrap();
    let at = |revision| ListOptions {
        revision,
        ..Default::default()
    };

    let list = store.list(&prefix, at(r2)).await.unwrap();
    assert_eq!(list.revision, r2);
    assert_eq!(list.items, [kv(&a, "a1", r1, r1), kv(&b, "b1", r2, r2)]);
    let list = store.list(&prefix, at(r3)).await.unwrap();
    assert_eq!(list.items, [kv(&a, "a2", r1, r3), kv(&b, "b1", r2, r2)]);
    let list = store.list(&prefix, at(r4)).await.unwrap();
    assert_eq!(list.items, [kv(&a, "a2", r1, r3)]);
    let list = store.list(&prefix, at(0)).await.unwrap();
    assert_eq!(list.revision, r5);
    assert_eq!(list.items, [kv(&a, "a2", r1, r3), kv(&c, "c1", r5, r5)]);
}

pub async fn list_paging<S: Store>(store: &S, ctx: Ctx<'_>) {
    let prefix = ctx.key("/registry/configmaps/");
    let names: Vec<String> = (0..7)
        .map(|i| ctx.key(&format!("/registry/configmaps/ns/k{i}")))
        .collect();
    for name in &names {
        store.create(name, v("x")).await.unwrap();
    }
    let first = store
        .list(
            &prefix,
            ListOptions {
                limit: 3,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        keys(&first.items),
        names[0..3].iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert!(first.more);

    // Changes after the first page must not show in later pages read at its revision.
    store
        .create(&ctx.key("/registry/configmaps/ns/k35"), v("new"))
        .await
        .unwrap();
    store.delete(&names[5], None).await.unwrap();

    let mut all = first.items.clone();
    let mut last = first;
    while last.more {
        let opts = ListOptions {
            revision: last.revision,
            start_after: last.items.last().map(|kv| kv.key.clone()),
            limit: 3,
        };
        let page = store.list(&prefix, opts).await.unwrap();
        assert_eq!(page.revision, last.revision);
        assert!(page.items.len() <= 3);
        all.extend(page.items.iter().cloned());
        last = page;
    }
    assert_eq!(
        keys(&all),
        names.iter().map(String::as_str).collect::<Vec<_>>()
    );
    // Exactly-full last page: no phantom "more".
    let opts = ListOptions {
        revision: last.revision,
        start_after: Some(names[3].clone()),
        limit: 3,
    };
    let page = store.list(&prefix, opts).await.unwrap();
    assert_eq!(page.items.len(), 3);
    assert!(!page.more);
}

pub async fn list_future_revision<S: Store>(store: &S, ctx: Ctx<'_>) {
    store
        .create(&ctx.key("/registry/pods/ns/a"), v("x"))
        .await
        .unwrap();
    let current = store.current_revision().await.unwrap();
    let opts = ListOptions {
        revision: current + 1000,
        ..Default::default()
    };
    match store.list(&ctx.key("/registry/pods/"), opts).await {
        Err(StoreError::FutureRevision { .. }) => {}
        other => panic!("want FutureRevision, got {other:?}"),
    }
}

/// Writes create a, update a, delete a, create b (plus noise outside the
/// prefix) and returns the expected events for `prefix`.
async fn write_sequence<S: Store>(store: &S, ctx: Ctx<'_>) -> Vec<WatchEvent> {
    let (a, b) = (
        ctx.key("/registry/pods/ns/a"),
        ctx.key("/registry/pods/ns/b"),
    );
    let r1 = store.create(&a, v("a1")).await.unwrap();
    let r2 = store.update(&a, v("a2"), r1).await.unwrap();
    store
        .create(&ctx.key("/registry/podtemplates/ns/t"), v("noise"))
        .await
        .unwrap();
    let (r3, _) = store.delete(&a, Some(r2)).await.unwrap();
    let r4 = store.create(&b, v("b1")).await.unwrap();
    vec![
        WatchEvent::Put {
            kv: kv(&a, "a1", r1, r1),
            prev: None,
        },
        WatchEvent::Put {
            kv: kv(&a, "a2", r1, r2),
            prev: Some(kv(&a, "a1", r1, r1)),
        },
        WatchEvent::Delete {
            revision: r3,
            prev: kv(&a, "a2", r1, r2),
        },
        WatchEvent::Put {
            kv: kv(&b, "b1", r4, r4),
            prev: None,
        },
    ]
}

pub async fn watch_from_current<S: Store>(store: &S, ctx: Ctx<'_>) {
    let start = store.current_revision().await.unwrap();
    let mut watch = store
        .watch(&ctx.key("/registry/pods/"), start)
        .await
        .unwrap();
    let expected = write_sequence(store, ctx).await;
    assert_eq!(next_events(&mut watch, expected.len()).await, expected);
    assert_quiet(&mut watch).await;
}

pub async fn watch_from_history<S: Store>(store: &S, ctx: Ctx<'_>) {
    let start = store.current_revision().await.unwrap();
    let expected = write_sequence(store, ctx).await;
    let prefix = ctx.key("/registry/pods/");
    let mut watch = store.watch(&prefix, start).await.unwrap();
    assert_eq!(next_events(&mut watch, expected.len()).await, expected);
    // History hands over to live events without a gap or a repeat.
    let c = ctx.key("/registry/pods/ns/c");
    let r = store.create(&c, v("c1")).await.unwrap();
    assert_eq!(
        next_event(&mut watch).await,
        WatchEvent::Put {
            kv: kv(&c, "c1", r, r),
            prev: None
        }
    );
    assert_quiet(&mut watch).await;

    // From the middle of history: only later events.
    let mut watch = store.watch(&prefix, expected[1].revision()).await.unwrap();
    assert_eq!(next_events(&mut watch, 2).await, expected[2..]);
    assert_eq!(next_event(&mut watch).await.revision(), r);
    assert_quiet(&mut watch).await;
}

pub async fn watch_from_zero<S: Store>(store: &S, ctx: Ctx<'_>) {
    let expected = write_sequence(store, ctx).await;
    let mut watch = store.watch(&ctx.key("/registry/pods/"), 0).await.unwrap();
    assert_eq!(next_events(&mut watch, expected.len()).await, expected);
    assert_quiet(&mut watch).await;
}

pub async fn watch_slow_consumer<S: Store>(store: &S, ctx: Ctx<'_>) {
    let start = store.current_revision().await.unwrap();
    let mut watch = store
        .watch(&ctx.key("/registry/events/"), start)
        .await
        .unwrap();
    let mut revisions = Vec::new();
    for i in 0..ctx.slow_consumer_writes {
        revisions.push(
            store
                .create(&ctx.key(&format!("/registry/events/ns/e{i:05}")), v("e"))
                .await
                .unwrap(),
        );
    }
    let events = next_events(&mut watch, revisions.len()).await;
    assert_eq!(
        events.iter().map(WatchEvent::revision).collect::<Vec<_>>(),
        revisions
    );
    assert_quiet(&mut watch).await;
}

pub async fn concurrent_creates<S: Store>(store: &S, ctx: Ctx<'_>) {
    const TASKS: usize = 32;
    const EACH: usize = 25;
    let start = store.current_revision().await.unwrap();
    let prefix = ctx.key("/registry/leases/");
    let mut watch = store.watch(&prefix, start).await.unwrap();
    let results = futures::future::join_all((0..TASKS).map(|t| {
        let prefix = prefix.clone();
        async move {
            let mut revisions = Vec::new();
            for i in 0..EACH {
                let key = format!("{prefix}ns/t{t:02}-{i:02}");
                revisions.push((store.create(&key, v("x")).await.unwrap(), key));
            }
            revisions
        }
    }))
    .await;
    let mut all = Vec::new();
    for revisions in &results {
        assert!(
            revisions.windows(2).all(|w| w[0].0 < w[1].0),
            "one client's revisions must increase"
        );
        all.extend(revisions.iter().cloned());
    }
    all.sort();
    all.dedup_by_key(|(revision, _)| *revision);
    assert_eq!(all.len(), TASKS * EACH, "revisions must be distinct");
    assert!(all[0].0 > start);
    for (revision, key) in all.iter().step_by(37) {
        assert_eq!(
            store.get(key).await.unwrap().unwrap().mod_revision,
            *revision
        );
    }
    let events = next_events(&mut watch, all.len()).await;
    let seen: Vec<(Revision, String)> = events
        .iter()
        .map(|e| (e.revision(), e.key().to_owned()))
        .collect();
    assert_eq!(seen, all);
    let list = store.list(&prefix, ListOptions::default()).await.unwrap();
    assert_eq!(list.items.len(), TASKS * EACH);
}

pub async fn compaction<S: Store>(store: &S, ctx: Ctx<'_>) {
    let prefix = ctx.key("/registry/pods/");
    let (a, b, c) = (
        ctx.key("/registry/pods/ns/a"),
        ctx.key("/registry/pods/ns/b"),
        ctx.key("/registry/pods/ns/c"),
    );
    let r1 = store.create(&a, v("a1")).await.unwrap();
    let r2 = store.update(&a, v("a2"), r1).await.unwrap();
    let r3 = store.create(&b, v("b1")).await.unwrap();
    let (r4, _) = store.delete(&b, Some(r3)).await.unwrap();
    let r5 = store.update(&a, v("a3"), r2).await.unwrap();
    let r6 = store.create(&c, v("c1")).await.unwrap();
    store.compact(r4).await.unwrap();

    let mut watch = store.watch(&prefix, r1).await.unwrap();
    match tokio::time::timeout(Duration::from_secs(10), watch.next())
        .await
        .unwrap()
    {
        Some(Err(StoreError::Compacted { compacted, .. })) => assert_eq!(compacted, r4),
        other => panic!("want Compacted, got {other:?}"),
    }
    assert!(
        tokio::time::timeout(Duration::from_secs(10), watch.next())
            .await
            .unwrap()
            .is_none()
    );

    let at = |revision| ListOptions {
        revision,
        ..Default::default()
    };
    assert!(matches!(
        store.list(&prefix, at(r2)).await,
        Err(StoreError::Compacted { .. })
    ));
    assert_eq!(
        store.list(&prefix, at(r4)).await.unwrap().items,
        [kv(&a, "a2", r1, r2)]
    );
    assert_eq!(
        store.list(&prefix, at(0)).await.unwrap().items,
        [kv(&a, "a3", r1, r5), kv(&c, "c1", r6, r6)]
    );
    assert_eq!(store.get(&a).await.unwrap(), Some(kv(&a, "a3", r1, r5)));

    // From the compacted revision on, history is intact (prev values included).
    let mut watch = store.watch(&prefix, r4).await.unwrap();
    assert_eq!(
        next_events(&mut watch, 2).await,
        [
            WatchEvent::Put {
                kv: kv(&a, "a3", r1, r5),
                prev: Some(kv(&a, "a2", r1, r2))
            },
            WatchEvent::Put {
                kv: kv(&c, "c1", r6, r6),
                prev: None
            },
        ]
    );

    // Compacting again, or lower, is a no-op; the future is refused.
    store.compact(r4).await.unwrap();
    store.compact(r2).await.unwrap();
    let current = store.current_revision().await.unwrap();
    assert!(matches!(
        store.compact(current + 100).await,
        Err(StoreError::FutureRevision { .. })
    ));
    assert_eq!(current, r6);
}
