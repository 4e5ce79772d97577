//! The Kubernetes API server of rkube: HTTPS with bearer tokens, discovery, OpenAPI,
//! the REST verbs over a revisioned store, a watch cache, and Table printing.

pub mod alloc;
pub mod auth;
pub mod bootstrap;
pub mod cache;
pub mod config;
pub mod discovery;
pub mod error;
pub mod kubeconfig;
pub mod loopback;
pub mod meta;
pub mod request;
pub mod rest;
pub mod sa_token;
pub mod server;
pub mod state;
pub mod tls;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rkube_store::{AnyStore, Store};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use config::{Cidr, ServerConfig};
pub use error::ApiError;

/// Why the server could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("datastore: {0}")]
    Store(#[from] rkube_store::StoreError),
    #[error("creating system objects: {0}")]
    Bootstrap(ApiError),
    #[error("listening on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

fn io_err<'a>(
    what: &'static str,
    path: &'a std::path::Path,
) -> impl FnOnce(std::io::Error) -> ServerError + 'a {
    move |source| ServerError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// The first non-loopback IPv4 address of the host, or loopback.
pub fn host_addresses() -> Vec<IpAddr> {
    if_addrs::get_if_addrs()
        .map(|ifs| {
            ifs.into_iter()
                .filter(|i| !i.is_loopback())
                .map(|i| i.ip())
                .filter(IpAddr::is_ipv4)
                .collect()
        })
        .unwrap_or_default()
}

/// Runs the API server until `stop` is cancelled. `on_ready` gets the in-process way in
/// once `/readyz` is ok.
pub async fn run(
    config: ServerConfig,
    stop: CancellationToken,
    on_ready: Option<tokio::sync::oneshot::Sender<loopback::Loopback>>,
) -> Result<(), ServerError> {
    let dir = config.data_dir.clone();
    std::fs::create_dir_all(&dir).map_err(io_err("creating", &dir))?;
    let tls_dir = dir.join("tls");
    let db_dir = dir.join("db");
    std::fs::create_dir_all(&db_dir).map_err(io_err("creating", &db_dir))?;

    let node_token = auth::load_or_create_token(&dir.join("token"), config.token.as_deref())
        .map_err(io_err("writing", &dir))?;
    std::fs::create_dir_all(&tls_dir).map_err(io_err("creating", &tls_dir))?;
    let admin_token = auth::load_or_create_token(&tls_dir.join("admin.token"), None)
        .map_err(io_err("writing", &tls_dir))?;
    let sa_key = auth::load_or_create_token(&tls_dir.join("service-account.key"), None)
        .map_err(io_err("writing", &tls_dir))?;

    let hosts = host_addresses();
    let advertise_ip = if config.bind_address.is_unspecified() {
        hosts
            .first()
            .copied()
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
    } else {
        config.bind_address
    };
    let (dns, ips) = tls::serving_names(
        &hosts,
        IpAddr::V4(config.first_service_ip()),
        &config.cluster_domain,
    );
    let certs = tls::load_or_create(&tls_dir, &dns, &ips)?;
    let tls_config = tls::server_config(&certs)?;

    let endpoint = config
        .datastore_endpoint
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", db_dir.join("state.db").display()));
    let store = Arc::new(AnyStore::open(&endpoint).await?);
    let caches = cache::CacheSet::start(store.clone(), stop.clone()).await?;

    let services = alloc::ServiceAllocator::new(config.service_cidr, config.node_port_range);
    if let Some(svc_info) = rkube_api::registry::find("", "v1", "services")
        && let Some(c) = caches.for_resource(svc_info)
    {
        for e in c.list(&svc_info.key_prefix()).items {
            services.observe(&e.value());
        }
    }

    let connect_host = if config.bind_address.is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        config.bind_address.to_string()
    };
    let server_url = format!("https://{connect_host}:{}", config.port);
    let state = Arc::new(state::AppState {
        store: store.clone(),
        caches,
        auth: auth::Authenticator::new(admin_token.clone(), node_token).with_service_accounts(
            sa_token::ServiceAccountTokens::new(
                sa_key.as_bytes(),
                sa_token::issuer_for(&config.cluster_domain),
            ),
        ),
        services,
        server_address: format!("{advertise_ip}:{}", config.port),
        advertise_ip,
        config: config.clone(),
        ca_pem: certs.ca_pem.clone(),
        ready: AtomicBool::new(false),
        stop: stop.clone(),
    });
    bootstrap::run(&state)
        .await
        .map_err(ServerError::Bootstrap)?;

    let kubeconfig = kubeconfig::render(&server_url, &certs.ca_pem, &admin_token);
    let kc_path = dir.join("kubeconfig.yaml");
    tls::write_private(&kc_path, &kubeconfig)?;
    if let Some(extra) = &config.write_kubeconfig {
        if let Some(parent) = extra.parent() {
            std::fs::create_dir_all(parent).map_err(io_err("creating", parent))?;
        }
        tls::write_private(extra, &kubeconfig)?;
    }

    let addr = SocketAddr::new(config.bind_address, config.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Listen { addr, source })?;
    tokio::spawn(compactor(store, stop.clone()).instrument(tracing::info_span!("compactor")));
    state.ready.store(true, Ordering::Release);
    tracing::info!(%addr, kubeconfig = %kc_path.display(), "API server ready");
    if let Some(tx) = on_ready {
        let _ = tx.send(loopback::Loopback::new(
            server::router(state.clone()),
            &admin_token,
        ));
    }
    server::serve(state, listener, tls_config).await;
    Ok(())
}

/// Every minute, compacts the store's history older than about five minutes, as kube-apiserver does.
async fn compactor(store: Arc<AnyStore>, stop: CancellationToken) {
    let mut seen: std::collections::VecDeque<i64> = std::collections::VecDeque::new();
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        match store.current_revision().await {
            Ok(r) => seen.push_back(r),
            Err(e) => tracing::warn!(error = %e, "reading revision for compaction"),
        }
        if seen.len() > 5
            && let Some(old) = seen.pop_front()
            && old > 1
            && let Err(e) = store.compact(old).await
        {
            tracing::warn!(error = %e, revision = old, "compaction failed");
        }
    }
}
