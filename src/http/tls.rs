//! HTTPS: rustls, with `ring` as its one crypto provider, driven over wisp's `TcpStream`.
//!
//! The provider is named explicitly (`builder_with_provider`) rather than left to rustls's
//! process-wide default: with two providers in one build that default panics, and `ring` needs
//! only a C compiler to build. Server certificates are checked against the Mozilla roots of
//! `webpki-roots`, plus any CA the user adds (`ClientBuilder::ca_pem`, the crawler's
//! `--ca-file`); `danger_accept_invalid_certs` turns checking off for people who know why.

use std::io;
use std::sync::Arc;

use futures_rustls::TlsConnector;
use futures_rustls::pki_types::pem::PemObject;
use futures_rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use futures_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use futures_rustls::rustls::crypto::{CryptoProvider, ring};
use futures_rustls::rustls::{
    self, CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use super::error::Error;
use crate::net::TcpStream;

pub(crate) type TlsStream = futures_rustls::client::TlsStream<TcpStream>;

/// How the client checks servers, ready to connect with.
#[derive(Clone)]
pub(crate) struct Tls {
    connector: TlsConnector,
}

impl Tls {
    /// `extra_ca_pem`: PEM certificates trusted besides the built-in roots.
    pub(crate) fn new(extra_ca_pem: &[Vec<u8>], accept_invalid: bool) -> Result<Tls, Error> {
        let provider = Arc::new(ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Tls(format!("cannot set up TLS: {e}")))?;
        let config = if accept_invalid {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnything(provider)))
                .with_no_client_auth()
        } else {
            let mut roots = RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            for pem in extra_ca_pem {
                let mut added = 0;
                for cert in CertificateDer::pem_slice_iter(pem) {
                    let cert =
                        cert.map_err(|e| Error::Tls(format!("cannot read the CA file: {e}")))?;
                    roots
                        .add(cert)
                        .map_err(|e| Error::Tls(format!("cannot use a CA certificate: {e}")))?;
                    added += 1;
                }
                if added == 0 {
                    return Err(Error::Tls("no certificate found in the CA file".into()));
                }
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        };
        Ok(Tls {
            connector: TlsConnector::from(Arc::new(config)),
        })
    }

    /// The TLS handshake over a connected socket, for `host` (SNI and name check).
    pub(crate) async fn connect(&self, host: &str, tcp: TcpStream) -> Result<TlsStream, Error> {
        let name = ServerName::try_from(host.trim_start_matches('[').trim_end_matches(']'))
            .map_err(|_| Error::Tls(format!("{host:?} is not a name TLS can check")))?
            .to_owned();
        self.connector
            .connect(name, tcp)
            .await
            .map_err(|e| handshake_error(e, host))
    }
}

/// A handshake failure in words: which check failed, not just "invalid data".
fn handshake_error(e: io::Error, host: &str) -> Error {
    let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        return Error::Io(e);
    };
    let why = match tls {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer => {
                "the server's certificate is signed by an unknown issuer (add its CA with \
                 --ca-file)"
                    .to_string()
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!("the server's certificate is not valid for the name {host:?}")
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "the server's certificate has expired".to_string()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "the server's certificate is not valid yet".to_string()
            }
            other => format!("the server's certificate was refused: {other:?}"),
        },
        other => other.to_string(),
    };
    Error::Tls(format!("TLS handshake with {host} failed: {why}"))
}

/// `danger_accept_invalid_certs`: checks signatures (so the handshake is still well formed)
/// but not who signed the certificate or for which name.
#[derive(Debug)]
struct AcceptAnything(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
