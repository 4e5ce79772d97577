//! First start generates credentials, later starts reuse them, SIGTERM shuts down cleanly.

use std::os::unix::fs::PermissionsExt;

use rkube_e2e::{Cluster, ServerOptions};

#[test]
fn credentials_are_generated_once_and_sigterm_is_clean() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = ServerOptions {
        data_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let mut c = Cluster::start_with(opts.clone());
    let ca = std::fs::read_to_string(dir.path().join("tls/server-ca.crt")).expect("ca");
    let token = std::fs::read_to_string(dir.path().join("token")).expect("node token");
    let mode = std::fs::metadata(&c.kubeconfig)
        .expect("kubeconfig")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "kubeconfig must be private");
    let v = c.raw("GET", "/version", "application/json", None, None);
    assert_eq!(v.body["major"], "1");
    assert_eq!(v.body["minor"], "33");
    assert_eq!(
        c.raw("GET", "/livez", "application/json", None, None).code,
        200
    );
    assert!(c.stop(), "SIGTERM should end the server with status 0");

    let c2 = Cluster::start_with(ServerOptions {
        port: Some(c.port),
        ..opts
    });
    assert_eq!(
        std::fs::read_to_string(dir.path().join("tls/server-ca.crt")).expect("ca"),
        ca,
        "CA regenerated"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("token")).expect("token"),
        token,
        "token regenerated"
    );
    let ns = c2.ok(&["get", "ns", "-o", "name"]);
    assert!(ns.contains("namespace/kube-system"), "{ns}");
    // The serving certificate names the service names and the first service IP.
    let out = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(dir.path().join("tls/serving-kube-apiserver.crt"))
        .output();
    if let Ok(out) = out {
        let sans = String::from_utf8_lossy(&out.stdout);
        for want in [
            "kubernetes.default.svc.cluster.local",
            "127.0.0.1",
            "10.43.0.1",
            "localhost",
        ] {
            assert!(sans.contains(want), "{want} missing from SANs: {sans}");
        }
    }
}
