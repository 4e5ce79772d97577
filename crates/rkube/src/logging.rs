//! Subscriber setup for `tracing`: `RUST_LOG` or [`DEFAULT_FILTER`], to stderr (colours
//! only on a terminal).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Without `RUST_LOG`: `info`, except kube-runtime's controller loop, whose per-reconcile
/// info span (formatted on every pod event) costs more than it tells; its warnings stay.
pub const DEFAULT_FILTER: &str = "info,kube_runtime::controller=warn";

/// Installs the global subscriber once.
pub fn init() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
