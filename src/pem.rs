//! Certificates and private keys from PEM files, for the TLS of clients' connections
//! ([`crate::gateway::tls`]) and of the connections between cluster nodes
//! ([`crate::cluster::tls`]).

use std::io;
use std::path::Path;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

fn bad(what: &str, path: &Path, err: &dyn std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("{what} {}: {err}", path.display()))
}

/// Every certificate in the PEM file `path` (at least one).
pub fn certificates(path: &Path) -> io::Result<Vec<CertificateDer<'static>>> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad("cannot read the certificate", path, &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad("cannot parse the certificate", path, &e))?;
    if chain.is_empty() {
        return Err(bad("no certificate in", path, &"expected PEM `CERTIFICATE` blocks"));
    }
    Ok(chain)
}

/// The private key in the PEM file `path`.
pub fn private_key(path: &Path) -> io::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| bad("cannot read the private key", path, &e))
}
