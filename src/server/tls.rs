//! HTTPS: the rustls acceptor a server with a certificate wraps its connections in, the local
//! certificate authority that lets a developer trust the mock once rather than at every start,
//! and the plain answer a plain-HTTP client gets on the HTTPS port.
//!
//! A browser only trusts a certificate it was told to trust. A self-signed certificate made at
//! each start has to be trusted again after every restart; a certificate authority kept on disk
//! is trusted once, and signs a fresh short-lived certificate at each start.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

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
    if certificates.is_empty() {
        return Err(invalid("the certificate chain: ", &"no certificate in it"));
    }
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

/// The names every certificate the mock makes is valid for.
pub(super) fn local_names() -> Vec<String> {
    vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ]
}

/// The file holding the certificate to trust.
const CA_CERTIFICATE: &str = "ca.pem";
/// The file holding the authority's private key, then its certificate: written in one piece, so
/// two servers starting at once never pair one's key with the other's certificate.
const CA_KEY: &str = "ca-key.pem";
/// How long the authority is valid: long enough to be trusted once.
const CA_DAYS: i64 = 3650;
/// How long each start's certificate is valid. macOS refuses server certificates valid for
/// more than 825 days, even under an authority the user trusts.
const LEAF_DAYS: i64 = 90;

/// A certificate authority kept in a directory, made on first use and reused after: the
/// developer trusts its certificate once, and each server it is given to presents a fresh
/// certificate it signs, for `localhost`, `127.0.0.1` and `::1`.
///
/// The directory holds `ca.pem` (the certificate to trust) and `ca-key.pem` (its private key,
/// readable by its owner only on Unix). The binary keeps them in the user's data directory.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let dir = tempfile::tempdir().unwrap();
/// let ca = vidmock::LocalCa::load_or_create(dir.path()).unwrap();
/// assert!(ca.created());
/// let again = vidmock::LocalCa::load_or_create(dir.path()).unwrap();
/// assert_eq!(again.certificate_pem(), ca.certificate_pem());
///
/// let server = vidmock::MockServer::builder().tls_signed_by(&ca).start().await;
/// assert!(server.uri().starts_with("https://"));
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct LocalCa {
    /// The authority's certificate (PEM), as in `certificate_path`.
    certificate_pem: String,
    /// Its private key (PEM); never leaves the value or its file.
    key_pem: String,
    /// Where `certificate_pem` is kept.
    certificate_path: PathBuf,
    /// Whether this call made the authority (false: it was read from the directory).
    created: bool,
}

impl LocalCa {
    /// Reads the authority kept in `dir`, or makes one there (creating `dir`) when it holds
    /// none. Two processes doing this at once end up with the same authority.
    ///
    /// Fails with [`crate::Error::Tls`], naming the file, when the directory cannot be written
    /// or holds an authority that cannot be read.
    ///
    /// # Example
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let ca = vidmock::LocalCa::load_or_create(dir.path()).unwrap();
    /// assert_eq!(ca.certificate_path(), dir.path().join("ca.pem"));
    /// ```
    pub fn load_or_create(dir: impl AsRef<Path>) -> Result<LocalCa, crate::Error> {
        let dir = dir.as_ref();
        let fail = |path: &Path, what: &dyn std::fmt::Display| crate::Error::Tls {
            message: format!("{}: {what}", path.display()),
        };
        std::fs::create_dir_all(dir).map_err(|e| fail(dir, &e))?;
        let key_path = dir.join(CA_KEY);
        let mut created = false;
        let kept = match std::fs::read_to_string(&key_path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let made = make_authority().map_err(|e| fail(&key_path, &e))?;
                // Created exclusively: a concurrent start that got there first wins, and its
                // authority is read back.
                let mut file = tempfile::NamedTempFile::new_in(dir).map_err(|e| fail(dir, &e))?;
                std::io::Write::write_all(&mut file, made.as_bytes())
                    .and_then(|()| file.as_file().sync_all())
                    .map_err(|e| fail(&key_path, &e))?;
                match file.persist_noclobber(&key_path) {
                    Ok(_) => {
                        created = true;
                        made
                    }
                    Err(error) if error.error.kind() == std::io::ErrorKind::AlreadyExists => {
                        std::fs::read_to_string(&key_path).map_err(|e| fail(&key_path, &e))?
                    }
                    Err(error) => return Err(fail(&key_path, &error.error)),
                }
            }
            Err(error) => return Err(fail(&key_path, &error)),
        };
        let (key_pem, certificate_pem) = split_kept(&kept).ok_or_else(|| {
            fail(
                &key_path,
                &"expected a private key then a certificate (PEM); remove the file to make a new authority",
            )
        })?;
        // Checked now rather than at the first start that signs with it.
        signer(&certificate_pem, &key_pem).map_err(|e| fail(&key_path, &e))?;
        let certificate_path = dir.join(CA_CERTIFICATE);
        if std::fs::read_to_string(&certificate_path).ok().as_deref() != Some(&certificate_pem) {
            let mut file = tempfile::NamedTempFile::new_in(dir).map_err(|e| fail(dir, &e))?;
            std::io::Write::write_all(&mut file, certificate_pem.as_bytes())
                .map_err(|e| fail(&certificate_path, &e))?;
            file.persist(&certificate_path)
                .map_err(|e| fail(&certificate_path, &e.error))?;
        }
        Ok(LocalCa {
            certificate_pem,
            key_pem,
            certificate_path,
            created,
        })
    }

    /// The authority's certificate, PEM: what a client or a browser is told to trust.
    ///
    /// # Example
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let ca = vidmock::LocalCa::load_or_create(dir.path()).unwrap();
    /// assert!(ca.certificate_pem().starts_with("-----BEGIN CERTIFICATE-----"));
    /// ```
    pub fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

    /// The file holding [`LocalCa::certificate_pem`].
    ///
    /// # Example
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let ca = vidmock::LocalCa::load_or_create(dir.path()).unwrap();
    /// assert!(ca.certificate_path().is_file());
    /// ```
    pub fn certificate_path(&self) -> &Path {
        &self.certificate_path
    }

    /// Whether [`LocalCa::load_or_create`] made this authority (and it has not been trusted
    /// yet), rather than reading it.
    ///
    /// # Example
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// assert!(vidmock::LocalCa::load_or_create(dir.path()).unwrap().created());
    /// assert!(!vidmock::LocalCa::load_or_create(dir.path()).unwrap().created());
    /// ```
    pub fn created(&self) -> bool {
        self.created
    }

    /// A fresh certificate for `names`, signed by this authority: (chain, private key), PEM.
    pub(super) fn sign(&self, names: Vec<String>) -> Result<(String, String), String> {
        let issuer = signer(&self.certificate_pem, &self.key_pem)?;
        let mut params = rcgen::CertificateParams::new(names).map_err(|e| e.to_string())?;
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(LEAF_DAYS);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "vidmock");
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::DigitalSignature,
            rcgen::KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
        let certificate = params.signed_by(&key, &issuer).map_err(|e| e.to_string())?;
        // The chain a client builds: the new certificate, then the authority's.
        Ok((
            format!("{}{}", certificate.pem(), self.certificate_pem),
            key.serialize_pem(),
        ))
    }
}

/// A new authority: its private key then its certificate, PEM, in one text.
fn make_authority() -> Result<String, String> {
    let key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
    let mut params = authority_params(&key);
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(CA_DAYS);
    let certificate = params.self_signed(&key).map_err(|e| e.to_string())?;
    Ok(format!("{}{}", key.serialize_pem(), certificate.pem()))
}

/// The authority's name and uses, which follow from its key alone: the kept key is enough to
/// sign under the kept certificate's name, with no certificate parser.
fn authority_params(key: &rcgen::KeyPair) -> rcgen::CertificateParams {
    let mut params = rcgen::CertificateParams::default();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "vidmock");
    // A name of its own, as each machine has its own authority: two are told apart in a trust
    // store.
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, authority_name(key));
    params
}

/// `vidmock local development CA` and the start of the key's sha256.
fn authority_name(key: &rcgen::KeyPair) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(key.public_key_raw());
    let tag: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("vidmock local development CA {tag}")
}

/// The private key's and the certificate's PEM blocks of a kept authority.
fn split_kept(text: &str) -> Option<(String, String)> {
    let start = text.find("-----BEGIN CERTIFICATE-----")?;
    let (key, certificate) = text.split_at(start);
    let key = key.trim();
    (key.starts_with("-----BEGIN") && key.contains("PRIVATE KEY-----"))
        .then(|| (format!("{key}\n"), certificate.trim().to_owned() + "\n"))
}

/// The issuer that signs with the kept key under the kept certificate's name.
fn signer(
    certificate_pem: &str,
    key_pem: &str,
) -> Result<rcgen::Issuer<'static, rcgen::KeyPair>, String> {
    use rustls::pki_types::pem::PemObject;
    let key = rcgen::KeyPair::from_pem(key_pem).map_err(|e| format!("the private key: {e}"))?;
    let certificate = rustls::pki_types::CertificateDer::from_pem_slice(certificate_pem.as_bytes())
        .map_err(|e| format!("the certificate: {e}"))?;
    // The certificate must carry the name the key gives, or what it signs would name another
    // issuer.
    let name = authority_name(&key);
    if !certificate
        .windows(name.len())
        .any(|window| window == name.as_bytes())
    {
        return Err("the certificate does not belong to the private key".to_owned());
    }
    Ok(rcgen::Issuer::new(authority_params(&key), key))
}

/// The first byte of every TLS connection: a handshake record.
pub(super) const HANDSHAKE_RECORD: u8 = 0x16;
/// How much of a plain request is read (to find its `Host`) before it is answered.
const PLAIN_HEAD_LIMIT: usize = 16 * 1024;

/// Answers a plain-HTTP request sent to the HTTPS port with a 400 that says to use `https://`,
/// then closes. Without it, a client reads the TLS alert as an HTTP/0.9 answer.
pub(super) async fn refuse_plain_http<I>(mut io: I, fallback_host: String)
where
    I: AsyncRead + AsyncWrite + Unpin,
{
    let wait = std::time::Duration::from_secs(2);
    let mut head = Vec::with_capacity(1024);
    let mut buffer = [0u8; 4096];
    let _ = tokio::time::timeout(wait, async {
        while head.len() < PLAIN_HEAD_LIMIT && !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match io.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    let host = plain_host(&head).unwrap_or(fallback_host);
    let body = format!(
        "This port speaks HTTPS, not plain HTTP: send the request to https://{host}/ instead of http://{host}/.\n"
    );
    let answer = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(wait, async {
        io.write_all(answer.as_bytes()).await?;
        io.flush().await?;
        io.shutdown().await?;
        // What the client still sends is read and dropped, so closing does not reset the
        // connection before the answer is read.
        let mut drained = 0usize;
        while drained < 1 << 20 {
            match io.read(&mut buffer).await? {
                0 => break,
                n => drained += n,
            }
        }
        Ok::<(), std::io::Error>(())
    })
    .await;
}

/// The `Host` of a plain request head, when it is a plausible host name (it is echoed back).
fn plain_host(head: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(head).ok()?;
    text.split("\r\n").skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        let value = value.trim();
        (name.eq_ignore_ascii_case("host")
            && !value.is_empty()
            && value.len() <= 255
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b)))
        .then(|| value.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_host_is_read_and_anything_odd_is_not_echoed() {
        assert_eq!(
            plain_host(b"GET / HTTP/1.1\r\nHost: localhost:8484\r\n\r\n").as_deref(),
            Some("localhost:8484")
        );
        assert_eq!(
            plain_host(b"GET / HTTP/1.1\r\nHost: <script>\r\n\r\n"),
            None
        );
    }

    #[test]
    fn a_kept_authority_is_split_into_its_key_and_certificate() {
        let made = make_authority().unwrap();
        let (key, certificate) = split_kept(&made).unwrap();
        assert!(key.contains("PRIVATE KEY"));
        assert!(certificate.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(split_kept("garbage").is_none());
    }
}
