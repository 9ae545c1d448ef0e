//! TLS set-up for `wss://`: the rustls client configuration (certificate
//! roots: the bundled webpki roots, a PEM file of extra roots, or a PEM
//! file that replaces them) and the feed server's configuration from a PEM
//! certificate chain and key. rustls with the `ring` provider.
//!
//! Cold path: built once at start-up (feed thread, or the feed server).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Which certificate roots the client trusts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Roots {
    /// Mozilla's roots as bundled by `webpki-roots` (the default).
    #[default]
    WebPki,
    /// The bundled roots plus every certificate in this PEM file.
    Extra(PathBuf),
    /// Only the certificates in this PEM file (a private CA, a self-signed
    /// test certificate).
    Only(PathBuf),
}

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read PEM {what} from {}: {reason}; give a readable PEM file", path.display())]
    Pem {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("PEM file {} holds no certificate", path.display())]
    NoCertificates { path: PathBuf },
    #[error("certificate {index} of {} is not a usable root: {reason}", path.display())]
    BadRoot {
        path: PathBuf,
        index: usize,
        reason: String,
    },
    #[error("TLS configuration refused: {0}")]
    Config(String),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem_err = |e: rustls::pki_types::pem::Error| TlsError::Pem {
        what: "certificates",
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(pem_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_err)?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificates {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

/// The client configuration for `roots`.
pub fn client_config(roots: &Roots) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut store = rustls::RootCertStore::empty();
    if !matches!(roots, Roots::Only(_)) {
        store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    if let Roots::Extra(path) | Roots::Only(path) = roots {
        for (index, cert) in certificates(path)?.into_iter().enumerate() {
            store.add(cert).map_err(|e| TlsError::BadRoot {
                path: path.clone(),
                index,
                reason: e.to_string(),
            })?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(store)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The server configuration from a PEM certificate chain and a PEM private
/// key (PKCS#8, PKCS#1 or SEC1).
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let chain = certificates(cert)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Pem {
        what: "private key",
        path: key.to_owned(),
        reason: e.to_string(),
    })?;
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webpki_roots_build_and_a_missing_pem_is_named() {
        assert!(client_config(&Roots::WebPki).is_ok());
        let path = std::env::temp_dir().join("lt-ws-no-such-roots.pem");
        let err = client_config(&Roots::Only(path.clone())).unwrap_err();
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
    }
}
