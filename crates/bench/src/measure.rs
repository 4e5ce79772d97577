//! The API measurements (creates, paced creates, GET, watch, load, LIST) against any target.

use std::time::Duration;

use anyhow::Result;
use serde_json::json;

use crate::client::{Api, create_namespace};
use crate::config::{Config, random_namespace};
use crate::kubeconfig::Target;
use crate::load::{CreatePlan, creates_closed, creates_paced};
use crate::reads::{gets, list_paged, list_whole};
use crate::report::{Report, mib};
use crate::stats::ms;
use crate::watch::watch_fanout;

/// Runs the API measurements (creates, paced creates, GET, watch, load to N, LIST) against
/// `target`, adding figures to `rep`. Returns the pods now stored in the bench namespace.
pub async fn measure_api(rep: &mut Report, target: &Target, cfg: &Config) -> Result<usize> {
    let ns = random_namespace();
    let admin = Api::new(target)?;
    create_namespace(&admin, &ns).await?;
    rep.json.insert("namespace".into(), json!(ns));
    let mut next = 0usize;
    let mut stored = 0usize;
    let per_run = cfg.per_run();

    for c in [8, 16, 32] {
        let clients = Api::many(target, c)?;
        let plan = CreatePlan {
            namespace: ns.clone(),
            first: next,
            count: per_run,
            max_time: Duration::from_secs(300),
        };
        let s = creates_closed(&clients, &plan).await;
        next += per_run;
        stored += s.ok as usize;
        rep.add(
            &format!("creates_{c}_clients"),
            &format!("pod creates/s, {c} clients ({per_run} creates)"),
            format!(
                "{:.0}/s  (p50 {} p99 {}, {} errors)",
                s.rate(),
                ms(s.p50_us),
                ms(s.p99_us),
                s.errors
            ),
            ">= 5,000/s",
            s.json(),
        );
    }

    let paced_count = ((cfg.rate * 10.0) as usize).min((cfg.pods / 5).max(500));
    let clients = Api::many(target, 32)?;
    let plan = CreatePlan {
        namespace: ns.clone(),
        first: next,
        count: paced_count,
        max_time: Duration::from_secs(300),
    };
    let s = creates_paced(&clients, &plan, cfg.rate).await;
    next += paced_count;
    stored += s.ok as usize;
    rep.add(
        "creates_paced",
        &format!(
            "create latency at {:.0}/s open loop ({paced_count})",
            cfg.rate
        ),
        format!(
            "p50 {} p99 {} max {}  (achieved {:.0}/s, {} errors)",
            ms(s.p50_us),
            ms(s.p99_us),
            ms(s.max_us),
            s.rate(),
            s.errors
        ),
        "p99 <= 25 ms",
        s.json(),
    );

    let s = gets(
        &Api::many(target, 1)?,
        &ns,
        stored,
        5_000,
        Duration::from_secs(120),
    )
    .await;
    rep.add(
        "get_1_client",
        "GET one pod, 1 client (5,000)",
        format!(
            "p50 {} p99 {} max {}  ({:.0}/s)",
            ms(s.p50_us),
            ms(s.p99_us),
            ms(s.max_us),
            s.rate()
        ),
        "",
        s.json(),
    );
    let s = gets(
        &Api::many(target, 8)?,
        &ns,
        stored,
        20_000,
        Duration::from_secs(120),
    )
    .await;
    rep.add(
        "get_8_clients",
        "GET one pod, 8 clients (20,000)",
        format!(
            "{:.0}/s  (p50 {} p99 {})",
            s.rate(),
            ms(s.p50_us),
            ms(s.p99_us)
        ),
        "",
        s.json(),
    );

    let watchers = Api::many(target, cfg.watchers)?;
    let writers = Api::many(target, 8)?;
    let mut rates = Vec::new();
    if cfg.watch_rate > 0.0 {
        rates.push(Some(cfg.watch_rate));
    }
    rates.push(None);
    for rate in rates {
        let plan = CreatePlan {
            namespace: ns.clone(),
            first: next,
            count: cfg.watch_events,
            max_time: Duration::from_secs(300),
        };
        next += cfg.watch_events;
        let key = if rate.is_some() {
            "watch_paced"
        } else {
            "watch_unpaced"
        };
        let how = rate
            .map(|r| format!("at {r:.0}/s"))
            .unwrap_or_else(|| "unpaced, 8 clients".into());
        let name = format!(
            "watch lag, {} watchers x {} events (creates {how})",
            cfg.watchers, cfg.watch_events
        );
        match watch_fanout(&watchers, &writers, &plan, rate).await {
            Ok(w) => {
                stored += w.creates.ok as usize;
                let mut raw = w.lag.json();
                raw["delivered"] = json!(w.received);
                raw["complete_watchers"] = json!(w.complete);
                raw["creates"] = w.creates.json();
                let value = format!(
                    "p50 {} p99 {} max {}  ({}/{} complete, {:.0} events/s, creates {:.0}/s)",
                    ms(w.lag.p50_us),
                    ms(w.lag.p99_us),
                    ms(w.lag.max_us),
                    w.complete,
                    w.watchers,
                    w.lag.rate(),
                    w.creates.rate()
                );
                rep.add(key, &name, value, "", raw);
            }
            Err(e) => rep.failed(key, &name, &e),
        }
    }
    drop(watchers);

    if stored < cfg.pods {
        let count = cfg.pods - stored;
        let clients = Api::many(target, 16)?;
        let plan = CreatePlan {
            namespace: ns.clone(),
            first: next,
            count,
            max_time: Duration::from_secs(1800),
        };
        let s = creates_closed(&clients, &plan).await;
        stored += s.ok as usize;
        rep.add(
            "load",
            &format!("load to {} pods, 16 clients ({count} creates)", cfg.pods),
            format!(
                "{:.0}/s  (p50 {} p99 {}, {} errors)",
                s.rate(),
                ms(s.p50_us),
                ms(s.p99_us),
                s.errors
            ),
            "",
            s.json(),
        );
    }
    rep.json.insert("pods_stored".into(), json!(stored));

    for (key, rv0) in [("list_whole", false), ("list_whole_rv0", true)] {
        let name = format!(
            "LIST {stored} pods whole{}",
            if rv0 { ", resourceVersion=0" } else { "" }
        );
        match list_whole(&admin, &ns, cfg.list_reps, rv0).await {
            Ok(runs) => {
                let mut secs: Vec<f64> = runs.iter().map(|r| r.elapsed.as_secs_f64()).collect();
                secs.sort_by(f64::total_cmp);
                let (items, bytes) = runs.first().map(|r| (r.items, r.bytes)).unwrap_or_default();
                rep.add(
                    key,
                    &name,
                    format!(
                        "median {:.2}s min {:.2}s  ({items} items, {})",
                        secs[secs.len() / 2],
                        secs[0],
                        mib(bytes as u64)
                    ),
                    "",
                    json!({ "seconds": secs, "items": items, "bytes": bytes }),
                );
            }
            Err(e) => rep.failed(key, &name, &e),
        }
    }
    let name = format!("LIST {stored} pods in pages of {}", cfg.page);
    match list_paged(&admin, &ns, cfg.page, Duration::from_secs(900)).await {
        Ok(w) => {
            let mut raw = w.page.json();
            raw["items"] = json!(w.items);
            raw["pages"] = json!(w.pages);
            rep.add(
                "list_paged",
                &name,
                format!(
                    "walk {:.2}s, page p50 {} p99 {} max {}  ({} items)",
                    w.elapsed.as_secs_f64(),
                    ms(w.page.p50_us),
                    ms(w.page.p99_us),
                    ms(w.page.max_us),
                    w.items
                ),
                "",
                raw,
            );
        }
        Err(e) => rep.failed("list_paged", &name, &e),
    }
    Ok(stored)
}
