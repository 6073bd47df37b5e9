//! TLS between cluster nodes (rustls with *ring*, through ractor_cluster's tokio-rustls
//! hooks): mutual — a node accepts only connections showing a certificate of the cluster's
//! authority (`cluster.tls_ca`), and shows its own (`cluster.tls_cert`, `tls_key`) when it
//! dials. The cookie is still checked inside.

use std::io;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::config::ClusterConfig;

/// Both ends of TLS between nodes.
#[derive(Clone)]
pub struct NodeTls {
    pub acceptor: TlsAcceptor,
    pub connector: TlsConnector,
}

impl NodeTls {
    /// From `cluster.tls_*`; `None` when they are not set (plain TCP).
    pub fn load(config: &ClusterConfig) -> io::Result<Option<NodeTls>> {
        if config.tls_cert.as_os_str().is_empty() {
            return Ok(None);
        }
        let invalid =
            |err: &dyn std::fmt::Display| io::Error::new(io::ErrorKind::InvalidInput, format!("cluster TLS: {err}"));
        let chain = crate::pem::certificates(&config.tls_cert)?;
        let key = crate::pem::private_key(&config.tls_key)?;
        let mut roots = RootCertStore::empty();
        for ca in crate::pem::certificates(&config.tls_ca)? {
            roots.add(ca).map_err(|e| invalid(&e))?;
        }
        let roots = Arc::new(roots);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .map_err(|e| invalid(&e))?;
        let server = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(&e))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(|e| invalid(&e))?;
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(&e))?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| invalid(&e))?;
        Ok(Some(NodeTls {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            connector: TlsConnector::from(Arc::new(client)),
        }))
    }
}

/// The name a dialed node's certificate must carry: the host of `address` (`host:port`).
pub fn server_name(address: &str) -> io::Result<ServerName<'static>> {
    let host = address.rsplit_once(':').map_or(address, |(host, _)| host).trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_owned())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("cluster TLS: {address}: {e}")))
}
