//! Rough SQLite backend figures: concurrent creates/s, listing everything, reopening.
//!
//! `cargo run --release -p rkube-store --example sqlite_throughput -- [keys] [value_bytes] [clients]`
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use rkube_store::{ListOptions, SqliteStore, Store};

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let keys = args.first().copied().unwrap_or(50_000);
    let value_bytes = args.get(1).copied().unwrap_or(2048);
    let clients = args.get(2).copied().unwrap_or(32);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");

    let store = SqliteStore::open(&path).unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (store, next) = (store.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= keys {
                        break;
                    }
                    let key = format!("/registry/configmaps/ns{}/cm{i:07}", i % 10);
                    store.create(&key, vec![b'x'; value_bytes]).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{keys} creates of {value_bytes} B with {clients} clients: {:.0}/s ({elapsed:.2}s)",
        keys as f64 / elapsed
    );
    drop(store);

    let started = Instant::now();
    let store = SqliteStore::open(&path).unwrap();
    println!("reopen: {:.1} ms", started.elapsed().as_secs_f64() * 1000.0);
    for _ in 0..2 {
        let started = Instant::now();
        let list = store
            .list("/registry/configmaps/", ListOptions::default())
            .await
            .unwrap();
        println!(
            "list all {} items: {:.0} ms",
            list.items.len(),
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
    let started = Instant::now();
    let mut pages = 0;
    let mut start_after = None;
    loop {
        let opts = ListOptions {
            start_after,
            limit: 500,
            ..Default::default()
        };
        let page = store.list("/registry/configmaps/", opts).await.unwrap();
        pages += 1;
        if !page.more {
            break;
        }
        start_after = page.items.last().map(|kv| kv.key.clone());
    }
    println!(
        "paged list ({pages} pages of 500): {:.0} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    let started = Instant::now();
    let one = store
        .list(
            "/registry/configmaps/ns3/",
            ListOptions {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    println!(
        "first page of one namespace: {} items, {:.1} ms",
        one.items.len(),
        started.elapsed().as_secs_f64() * 1000.0
    );
}
