//! HTTPS: the rustls acceptor a server with a certificate wraps its connections in.

use std::sync::Arc;

/// A rustls acceptor for `chain` and `key` (PEM), offering HTTP/2 and HTTP/1.1.
pub(super) fn tls_acceptor(
    chain: &str,
    key: &str,
) -> Result<tokio_rustls::TlsAcceptor, crate::Error> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let invalid = |what: &str, e: &dyn std::fmt::Display| crate::Error::Tls {
        message: format!("{what}{e}"),
    };
    let certificates = CertificateDer::pem_slice_iter(chain.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid("the certificate chain: ", &e))?;
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes())
        .map_err(|e| invalid("the private key: ", &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid("", &e))?
        .with_no_client_auth()
        .with_single_cert(certificates, key)
        .map_err(|e| invalid("", &e))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
