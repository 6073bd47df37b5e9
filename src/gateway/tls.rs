//! TLS for `https://` and `wss://` (rustls, with the *ring* crypto provider): the
//! certificate chain and private key come from PEM files named in the configuration
//! (`server.tls_cert`, `server.tls_key`). Only HTTP/1.1 is offered, as WebSocket needs it.

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;

/// Builds the TLS server configuration from PEM files.
pub fn server_config(cert: &Path, key: &Path) -> io::Result<ServerConfig> {
    let chain = crate::pem::certificates(cert)?;
    let key = crate::pem::private_key(key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("certificate and key do not fit: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
