//! The kubectl scenario again with the datastore on a real etcd.

use rkube_e2e::etcd::Etcd;
use rkube_e2e::{Cluster, ServerOptions, kubectl_scenario};

#[test]
fn kubectl_scenario_on_etcd() {
    let etcd = Etcd::start();
    let c = Cluster::start_with(ServerOptions {
        datastore_endpoint: Some(etcd.endpoint.clone()),
        ..Default::default()
    });
    kubectl_scenario::run_all(&c);
    drop(c);
    drop(etcd);
}
