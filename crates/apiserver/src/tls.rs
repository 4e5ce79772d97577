//! The cluster CA, the API server's serving certificate and the rustls configuration.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

/// Failures while creating or loading certificates.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("generating certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("no private key in {0}")]
    NoKey(PathBuf),
    #[error("rustls: {0}")]
    Rustls(#[from] rustls::Error),
}

/// PEM material the server serves with and hands out in kubeconfigs.
pub struct ServingCerts {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

/// The names and addresses the serving certificate must be valid for.
pub fn serving_names(
    host_addrs: &[IpAddr],
    first_service_ip: IpAddr,
    cluster_domain: &str,
) -> (Vec<String>, Vec<IpAddr>) {
    let mut dns = vec!["localhost".to_string()];
    if let Ok(h) = hostname() {
        dns.push(h);
    }
    for n in ["kubernetes", "kubernetes.default", "kubernetes.default.svc"] {
        dns.push(n.to_string());
    }
    dns.push(format!("kubernetes.default.svc.{cluster_domain}"));
    let mut ips: Vec<IpAddr> = vec![IpAddr::from([127, 0, 0, 1]), first_service_ip];
    for a in host_addrs {
        if !ips.contains(a) {
            ips.push(*a);
        }
    }
    (dns, ips)
}

fn hostname() -> std::io::Result<String> {
    Ok(std::fs::read_to_string("/proc/sys/kernel/hostname")?
        .trim()
        .to_string())
}

/// The cluster CA certificate's file in the TLS dir.
const CA_CERT_FILE: &str = "server-ca.crt";

/// Where a server with data dir `data_dir` keeps its cluster CA certificate (PEM).
pub fn ca_cert_path(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("tls").join(CA_CERT_FILE)
}

/// Loads the CA and serving certificate from `dir`, generating them on first start.
pub fn load_or_create(
    dir: &Path,
    dns: &[String],
    ips: &[IpAddr],
) -> Result<ServingCerts, TlsError> {
    let ca_crt = dir.join(CA_CERT_FILE);
    let ca_key = dir.join("server-ca.key");
    let crt = dir.join("serving-kube-apiserver.crt");
    let key = dir.join("serving-kube-apiserver.key");
    if ca_crt.exists() && ca_key.exists() && crt.exists() && key.exists() {
        return Ok(ServingCerts {
            ca_pem: read(&ca_crt)?,
            cert_pem: read(&crt)?,
            key_pem: read(&key)?,
        });
    }
    std::fs::create_dir_all(dir).map_err(|source| TlsError::Write {
        path: dir.to_path_buf(),
        source,
    })?;

    let ca_key_pair = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        format!("rkube-server-ca@{}", jiff::Timestamp::now().as_second()),
    );
    ca_params.distinguished_name = dn;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params.not_after = rcgen::date_time_ymd(2036, 1, 1);
    let ca_cert = ca_params.self_signed(&ca_key_pair)?;

    let leaf_key = KeyPair::generate()?;
    let mut params = CertificateParams::new(dns.to_vec())?;
    params
        .subject_alt_names
        .extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "kube-apiserver");
    params.distinguished_name = dn;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.not_after = rcgen::date_time_ymd(2035, 1, 1);
    let issuer = Issuer::new(ca_params, &ca_key_pair);
    let leaf = params.signed_by(&leaf_key, &issuer)?;

    let out = ServingCerts {
        ca_pem: ca_cert.pem(),
        cert_pem: format!("{}{}", leaf.pem(), ca_cert.pem()),
        key_pem: leaf_key.serialize_pem(),
    };
    write_private(&ca_key, &ca_key_pair.serialize_pem())?;
    write_private(&key, &out.key_pem)?;
    write_private(&ca_crt, &out.ca_pem)?;
    write_private(&crt, &out.cert_pem)?;
    Ok(out)
}

fn read(path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes a file readable only by its owner (0600).
pub fn write_private(path: &Path, contents: &str) -> Result<(), TlsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|source| TlsError::Write {
            path: tmp.clone(),
            source,
        })?;
    f.write_all(contents.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|source| TlsError::Write {
            path: tmp.clone(),
            source,
        })?;
    std::fs::rename(&tmp, path).map_err(|source| TlsError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// The rustls server configuration (HTTP/2 and HTTP/1.1 by ALPN).
pub fn server_config(certs: &ServingCerts) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let chain: Vec<_> = rustls_pemfile::certs(&mut certs.cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|source| TlsError::Read {
            path: PathBuf::from("serving certificate"),
            source,
        })?;
    let key = rustls_pemfile::private_key(&mut certs.key_pem.as_bytes())
        .map_err(|source| TlsError::Read {
            path: PathBuf::from("serving key"),
            source,
        })?
        .ok_or_else(|| TlsError::NoKey(PathBuf::from("serving key")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_once_and_reuses() {
        let dir = tempfile::tempdir().unwrap();
        let (dns, ips) = serving_names(&[], IpAddr::from([10, 43, 0, 1]), "cluster.local");
        let a = load_or_create(dir.path(), &dns, &ips).unwrap();
        let b = load_or_create(dir.path(), &dns, &ips).unwrap();
        assert_eq!(a.ca_pem, b.ca_pem);
        assert!(server_config(&a).is_ok());
        let mode = std::fs::metadata(dir.path().join("server-ca.key"))
            .unwrap()
            .permissions();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.mode() & 0o777, 0o600);
    }
}
