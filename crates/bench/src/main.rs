//! `rkube-bench`: load an API server named by a kubeconfig and print figures.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};
use rkube_bench::client::{Api, create_namespace};
use rkube_bench::kubeconfig::{self, Target};
use rkube_bench::load::{CreatePlan, creates_closed, creates_paced};
use rkube_bench::podwatch::Tracker;
use rkube_bench::reads::{gets, list_paged, list_whole};
use rkube_bench::report::mib;
use rkube_bench::scheduling::{self, SchedPlan, Workload};
use rkube_bench::suite::random_namespace;
use rkube_bench::watch::watch_fanout;

#[derive(Parser)]
#[command(
    name = "rkube-bench",
    about = "Benchmarks of a Kubernetes API server (any kubeconfig)"
)]
struct Cli {
    /// Kubeconfig (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true)]
    kubeconfig: Option<PathBuf>,
    /// Namespace to use; default: a new `bench-<random>` one.
    #[arg(long, short = 'n', global = true)]
    namespace: Option<String>,
    /// Give up on a run after this many seconds.
    #[arg(long, global = true, default_value_t = 600)]
    max_seconds: u64,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create pods: closed loop with N clients, or open loop at --rate per second.
    Creates {
        #[arg(long, default_value_t = 8)]
        clients: usize,
        #[arg(long, default_value_t = 10_000)]
        count: usize,
        #[arg(long)]
        rate: Option<f64>,
    },
    /// GET single pods (seeds --pods pods first unless --namespace has them).
    Get {
        #[arg(long, default_value_t = 1)]
        clients: usize,
        #[arg(long, default_value_t = 5_000)]
        count: usize,
        #[arg(long, default_value_t = 1_000)]
        pods: usize,
    },
    /// LIST pods whole (--reps times) or in pages (--page).
    List {
        #[arg(long)]
        page: Option<usize>,
        #[arg(long, default_value_t = 3)]
        reps: usize,
        /// Seed this many pods first when no --namespace is given.
        #[arg(long, default_value_t = 10_000)]
        pods: usize,
    },
    /// Scheduling throughput: create --pods pods (bare, anti-affine groups, or Deployments)
    /// and time each from create to bound (needs a scheduler and nodes, e.g. simulated).
    Sched {
        #[arg(long, default_value_t = 10_000)]
        pods: usize,
        #[arg(long, default_value_t = 16)]
        clients: usize,
        /// Required anti-affinity (hostname) within groups of this many pods.
        #[arg(long, conflicts_with = "deployments")]
        anti_affinity_group: Option<usize>,
        /// Create Deployments of this many replicas instead of bare pods.
        #[arg(long)]
        deployments: Option<usize>,
    },
    /// N watchers each receiving the ADDED events of --events created pods.
    Watch {
        #[arg(long, default_value_t = 100)]
        watchers: usize,
        #[arg(long, default_value_t = 10_000)]
        events: usize,
        /// Create rate; unpaced (8 clients flat out) when absent.
        #[arg(long)]
        rate: Option<f64>,
    },
}

/// The namespace to use (created if new) and whether it is fresh.
async fn namespace(target: &Target, given: &Option<String>) -> Result<(String, bool)> {
    let (ns, fresh) = match given {
        Some(n) => (n.clone(), false),
        None => (random_namespace(), true),
    };
    create_namespace(&Api::new(target)?, &ns).await?;
    println!("namespace: {ns}");
    Ok((ns, fresh))
}

/// Creates pods `p-0..p-<n>` with 16 clients, printing the figures.
async fn seed(target: &Target, ns: &str, n: usize, max: Duration) -> Result<()> {
    let plan = CreatePlan {
        namespace: ns.into(),
        first: 0,
        count: n,
        max_time: max,
    };
    let s = creates_closed(&Api::many(target, 16)?, &plan).await;
    println!("{}", s.line("seed creates (16 clients)"));
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let path = kubeconfig::default_path(cli.kubeconfig.as_deref());
    let target = kubeconfig::load(&path)?;
    println!("server: {}", target.server);
    let max = Duration::from_secs(cli.max_seconds);
    match cli.cmd {
        Cmd::Creates {
            clients,
            count,
            rate,
        } => {
            let (ns, _) = namespace(&target, &cli.namespace).await?;
            let apis = Api::many(&target, clients)?;
            let plan = CreatePlan {
                namespace: ns,
                first: 0,
                count,
                max_time: max,
            };
            let s = match rate {
                Some(r) => creates_paced(&apis, &plan, r).await,
                None => creates_closed(&apis, &plan).await,
            };
            let what = match rate {
                Some(r) => format!("creates paced at {r}/s over {clients} clients"),
                None => format!("creates, {clients} clients"),
            };
            println!("{}", s.line(&what));
        }
        Cmd::Get {
            clients,
            count,
            pods,
        } => {
            let (ns, fresh) = namespace(&target, &cli.namespace).await?;
            if fresh {
                seed(&target, &ns, pods, max).await?;
            }
            let s = gets(&Api::many(&target, clients)?, &ns, pods, count, max).await;
            println!("{}", s.line(&format!("GET one pod, {clients} clients")));
        }
        Cmd::List { page, reps, pods } => {
            let (ns, fresh) = namespace(&target, &cli.namespace).await?;
            if fresh {
                seed(&target, &ns, pods, max).await?;
            }
            let api = Api::new(&target)?;
            match page {
                Some(p) => println!(
                    "LIST by {p}: {}",
                    list_paged(&api, &ns, p, max).await?.line()
                ),
                None => {
                    for r in list_whole(&api, &ns, reps, false).await? {
                        println!(
                            "LIST whole: {} items, {} in {:.3}s",
                            r.items,
                            mib(r.bytes as u64),
                            r.elapsed.as_secs_f64()
                        );
                    }
                }
            }
        }
        Cmd::Sched {
            pods,
            clients,
            anti_affinity_group,
            deployments,
        } => {
            let (ns, _) = namespace(&target, &cli.namespace).await?;
            let api = Api::new(&target)?;
            let mut tracker = Tracker::start(&api, &ns).await?;
            let workload = match (anti_affinity_group, deployments) {
                (Some(group), _) => Workload::AntiAffinity { group },
                (_, Some(replicas)) => Workload::Deployments { replicas },
                _ => Workload::Pods,
            };
            let plan = SchedPlan {
                namespace: ns,
                pods,
                workload,
                clients,
                max_time: max,
                stall: Duration::from_secs(60),
            };
            let r = scheduling::run(&Api::many(&target, clients)?, &mut tracker, &plan).await?;
            println!("sched: {}", r.line());
        }
        Cmd::Watch {
            watchers,
            events,
            rate,
        } => {
            let (ns, _) = namespace(&target, &cli.namespace).await?;
            let w = Api::many(&target, watchers)?;
            let writers = Api::many(&target, 8)?;
            let plan = CreatePlan {
                namespace: ns,
                first: 0,
                count: events,
                max_time: max,
            };
            let r = watch_fanout(&w, &writers, &plan, rate).await?;
            println!("{}", r.creates.line("creates during watch"));
            println!("watch: {}", r.line());
        }
    }
    Ok(())
}
