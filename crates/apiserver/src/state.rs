//! The shared state every request handler sees.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use rkube_store::AnyStore;
use tokio_util::sync::CancellationToken;

use crate::alloc::ServiceAllocator;
use crate::auth::Authenticator;
use crate::cache::CacheSet;
use crate::config::ServerConfig;

/// Everything handlers share.
pub struct AppState {
    pub store: Arc<AnyStore>,
    pub caches: Arc<CacheSet>,
    pub auth: Authenticator,
    pub services: ServiceAllocator,
    pub config: ServerConfig,
    /// `host:port` clients are told to use.
    pub server_address: String,
    /// The address the `kubernetes` Endpoints point at.
    pub advertise_ip: std::net::IpAddr,
    /// The cluster CA in PEM, served at `/cacerts` so agents can trust the server (as k3s does).
    pub ca_pem: String,
    pub ready: AtomicBool,
    pub stop: CancellationToken,
}

/// A handle to the state.
pub type State = Arc<AppState>;
