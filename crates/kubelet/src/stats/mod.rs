//! Resource usage for the Summary API (`/stats/summary`): node, pod and
//! container CPU and memory read from cgroups, in upstream's JSON shape.
//!
//! [`cgroup`] reads one cgroup (v1 or v2), [`summary`] maps the runtime's
//! running sandboxes and containers onto cgroups and builds the answer
//! ([`types`]), [`http`] serves it on the agent's HTTPS server.

pub mod cgroup;
pub mod http;
pub mod summary;
pub mod types;

pub use http::routes;
pub use summary::Collector;
pub use types::Summary;
