//! The real kubectl against a fresh `rkube server` on the embedded store.

use rkube_e2e::{Cluster, kubectl_scenario};

#[test]
fn kubectl_scenario_on_sqlite() {
    let c = Cluster::start();
    kubectl_scenario::run_all(&c);
}
