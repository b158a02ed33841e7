//! HTTPS: rustls, with `ring` as its one crypto provider, driven over wisp's `TcpStream`.
//!
//! The provider is named explicitly (`builder_with_provider`) rather than left to rustls's
//! process-wide default: with two providers in one build that default panics, and `ring` needs
//! only a C compiler to build. Server certificates are checked against the Mozilla roots of
//! `webpki-roots`, plus any CA the user adds (`ClientBuilder::ca_pem`, the crawler's
//! `--ca-file`); `danger_accept_invalid_certs` turns checking off for people who know why.
//!
//! A user's certificate may also be the server's own (self-signed) certificate, as
//! `curl --cacert server.pem` accepts: webpki refuses it as a chain (`CaUsedAsEndEntity` when it
//! says CA:TRUE, `UnknownIssuer` when its issuer is not among the roots), so [`Pinning`] then
//! accepts a presented certificate byte-identical to one the user gave, after checking its name
//! and validity period itself.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use futures_rustls::TlsConnector;
use futures_rustls::pki_types::pem::PemObject;
use futures_rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use futures_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use futures_rustls::rustls::client::{WebPkiServerVerifier, verify_server_name};
use futures_rustls::rustls::crypto::{CryptoProvider, ring};
use futures_rustls::rustls::server::ParsedCertificate;
use futures_rustls::rustls::{
    self, CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use super::error::{Error, Reason};
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
            .map_err(|e| tls_error(format!("cannot set up TLS: {e}"), e))?;
        let config = if accept_invalid {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnything(provider)))
                .with_no_client_auth()
        } else {
            let mut roots = RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            let mut pinned = Vec::new();
            for pem in extra_ca_pem {
                let mut added = 0;
                for cert in CertificateDer::pem_slice_iter(pem) {
                    let cert =
                        cert.map_err(|e| tls_error(format!("cannot read the CA file: {e}"), e))?;
                    roots.add(cert.clone()).map_err(|e| {
                        let why = rustls_error_words(&e, "");
                        tls_error(format!("cannot use a certificate of the CA file: {why}"), e)
                    })?;
                    pinned.push(cert);
                    added += 1;
                }
                if added == 0 {
                    return Err(Error::Tls("no certificate found in the CA file".into()));
                }
            }
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| tls_error(format!("cannot set up TLS: {e}"), e))?;
            if pinned.is_empty() {
                builder.with_webpki_verifier(webpki).with_no_client_auth()
            } else {
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(Pinning { webpki, pinned }))
                    .with_no_client_auth()
            }
        };
        Ok(Tls {
            connector: TlsConnector::from(Arc::new(config)),
        })
    }

    /// The TLS handshake over a connected socket, for `host` (SNI and name check).
    pub(crate) async fn connect(&self, host: &str, tcp: TcpStream) -> Result<TlsStream, Error> {
        let name = ServerName::try_from(host.trim_start_matches('[').trim_end_matches(']'))
            .map_err(|e| tls_error(format!("{host:?} is not a name TLS can check"), e))?
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
    let why = rustls_error_words(tls, host);
    tls_error(
        format!("TLS handshake with {host} failed: {why}"),
        tls.clone(),
    )
}

/// [`Error::Tls`] in our words, keeping the error they explain as its source.
fn tls_error(message: String, source: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Tls(Reason::with_source(message, source))
}

/// A rustls error in words; `host` is the name the certificate was checked for.
fn rustls_error_words(e: &rustls::Error, host: &str) -> String {
    match e {
        rustls::Error::InvalidCertificate(cert) => certificate_error_words(cert, host),
        rustls::Error::AlertReceived(alert) => {
            format!("the server refused the handshake (TLS alert {alert:?})")
        }
        rustls::Error::NoCertificatesPresented => "the server presented no certificate".into(),
        rustls::Error::PeerIncompatible(why) => {
            format!("the server offers no TLS version or cipher this client supports ({why:?})")
        }
        rustls::Error::PeerMisbehaved(why) => {
            format!("the server broke the TLS protocol ({why:?})")
        }
        rustls::Error::InvalidMessage(why) => {
            format!("the server sent a malformed TLS message ({why:?}); is it speaking TLS?")
        }
        rustls::Error::DecryptError => "a TLS record failed to decrypt".into(),
        rustls::Error::HandshakeNotComplete => "the handshake did not complete".into(),
        rustls::Error::Other(other) => other.0.to_string(),
        other => other.to_string(),
    }
}

/// Why a server's certificate was refused, in words, for every `CertificateError` variant
/// (and the webpki errors that rustls passes on as `Other`).
fn certificate_error_words(e: &CertificateError, host: &str) -> String {
    let why = match e {
        CertificateError::UnknownIssuer => {
            "is signed by an unknown issuer (add its CA, or the server's own certificate, with \
             --ca-file)"
                .to_string()
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            format!("is not valid for the name {host:?}")
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "has expired".to_string()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "is not valid yet".to_string()
        }
        CertificateError::BadEncoding => "is not a well-formed certificate".to_string(),
        CertificateError::Revoked => "has been revoked".to_string(),
        CertificateError::UnhandledCriticalExtension => {
            "has a critical extension this client does not understand".to_string()
        }
        CertificateError::UnknownRevocationStatus => "has an unknown revocation status".to_string(),
        CertificateError::ExpiredRevocationList
        | CertificateError::ExpiredRevocationListContext { .. } => {
            "is checked against an expired revocation list".to_string()
        }
        CertificateError::BadSignature => "has a signature that does not verify".to_string(),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            "is not meant for a TLS server (extended key usage)".to_string()
        }
        CertificateError::InvalidOcspResponse => {
            "came with an invalid OCSP (revocation) response".to_string()
        }
        CertificateError::ApplicationVerificationFailure => {
            "was refused by the application".to_string()
        }
        CertificateError::Other(other) => match other.0.downcast_ref::<webpki::Error>() {
            Some(webpki) => webpki_error_words(webpki),
            None => format!("was refused: {}", other.0),
        },
        #[allow(deprecated)]
        CertificateError::UnsupportedSignatureAlgorithm
        | CertificateError::UnsupportedSignatureAlgorithmContext { .. }
        | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            "is signed with an algorithm this client does not support".to_string()
        }
        other => format!("was refused ({other:?})"),
    };
    format!("the server's certificate {why}")
}

/// The webpki errors rustls does not map to a `CertificateError` of its own.
fn webpki_error_words(e: &webpki::Error) -> String {
    use webpki::Error as W;
    match e {
        W::CaUsedAsEndEntity => "is a CA certificate, not a server's own (to trust it as the \
                                 server's, give this very certificate with --ca-file)"
            .to_string(),
        W::EndEntityUsedAsCa => {
            "chain uses a server certificate as a CA (it cannot sign others)".to_string()
        }
        W::CertDistrusted => "chain ends at a distrusted root".to_string(),
        W::PathLenConstraintViolated => "chain is longer than one of its CAs allows".to_string(),
        W::NameConstraintViolation => "is outside the names its CA may sign for".to_string(),
        W::MaximumPathDepthExceeded
        | W::MaximumPathBuildCallsExceeded
        | W::MaximumSignatureChecksExceeded
        | W::MaximumNameConstraintComparisonsExceeded => {
            "chain is too long or too tangled to check".to_string()
        }
        W::SignatureAlgorithmMismatch => "names two different signature algorithms".to_string(),
        W::UnsupportedCertVersion => "is not an X.509 version 3 certificate".to_string(),
        W::UnsupportedCriticalExtension => {
            "has a critical extension this client does not understand".to_string()
        }
        W::EmptyEkuExtension => "has an empty extended key usage".to_string(),
        W::MalformedDnsIdentifier
        | W::MalformedExtensions
        | W::ExtensionValueInvalid
        | W::InvalidSerialNumber
        | W::MalformedNameConstraint
        | W::InvalidNetworkMaskConstraint => "is malformed".to_string(),
        W::UnsupportedNameType => "names the server in a form this client cannot check".to_string(),
        other => format!("was refused (webpki: {other:?})"),
    }
}

/// Trust as `ca_pem` says it: webpki's chain check against the roots (built-in plus the user's),
/// and, when that fails, the user's certificates as themselves (pinned), as curl's `--cacert`
/// accepts a server's own self-signed certificate.
#[derive(Debug)]
struct Pinning {
    webpki: Arc<WebPkiServerVerifier>,
    /// Every certificate of the user's PEM files, DER as given; a presented end-entity
    /// certificate equal to one of them needs no chain, only the right name and dates.
    pinned: Vec<CertificateDer<'static>>,
}

impl ServerCertVerifier for Pinning {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let chain_error = match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(verified) => return Ok(verified),
            Err(e) => e,
        };
        if !self
            .pinned
            .iter()
            .any(|pin| pin.as_ref() == end_entity.as_ref())
        {
            return Err(chain_error);
        }
        verify_server_name(&ParsedCertificate::try_from(end_entity)?, server_name)?;
        check_validity(end_entity, now)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// The certificate's notBefore..=notAfter holds `now` (webpki checks this only while building a
/// chain, which a pinned certificate skips).
fn check_validity(cert: &CertificateDer<'_>, now: UnixTime) -> Result<(), rustls::Error> {
    let (not_before, not_after) = validity(cert.as_ref()).ok_or(CertificateError::BadEncoding)?;
    let (not_before, not_after) = (
        UnixTime::since_unix_epoch(Duration::from_secs(not_before)),
        UnixTime::since_unix_epoch(Duration::from_secs(not_after)),
    );
    if now < not_before {
        return Err(CertificateError::NotValidYetContext {
            time: now,
            not_before,
        }
        .into());
    }
    if now > not_after {
        return Err(CertificateError::ExpiredContext {
            time: now,
            not_after,
        }
        .into());
    }
    Ok(())
}

/// One DER element at the start of `input`: (tag, contents, the rest). Definite lengths only,
/// as DER requires.
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, after) = rest.split_at(count);
        rest = after;
        bytes.iter().fold(0usize, |n, &b| (n << 8) | usize::from(b))
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// A certificate's validity period in seconds since 1970: Certificate ::= SEQUENCE {
/// tbsCertificate SEQUENCE { [0] version OPTIONAL, serial, signature, issuer, validity, ... } }.
fn validity(cert: &[u8]) -> Option<(u64, u64)> {
    const SEQUENCE: u8 = 0x30;
    let (SEQUENCE, cert, _) = der_element(cert)? else {
        return None;
    };
    let (SEQUENCE, mut tbs, _) = der_element(cert)? else {
        return None;
    };
    if tbs.first() == Some(&0xa0) {
        tbs = der_element(tbs)?.2;
    }
    for _ in 0..3 {
        tbs = der_element(tbs)?.2; // serial, signature algorithm, issuer
    }
    let (SEQUENCE, times, _) = der_element(tbs)? else {
        return None;
    };
    let (tag, not_before, rest) = der_element(times)?;
    let not_before = der_time(tag, not_before)?;
    let (tag, not_after, _) = der_element(rest)?;
    Some((not_before, der_time(tag, not_after)?))
}

/// UTCTime (`YYMMDDHHMMSSZ`, years 1950..=2049) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) in
/// seconds since 1970, as RFC 5280 section 4.1.2.5 writes them.
fn der_time(tag: u8, text: &[u8]) -> Option<u64> {
    let digits = |range: std::ops::Range<usize>| -> Option<u64> {
        let part = text.get(range)?;
        part.iter().try_fold(0u64, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + u64::from(b - b'0'))
        })
    };
    let (year, at) = match (tag, text.len()) {
        (0x17, 13) => {
            let yy = digits(0..2)?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, 2)
        }
        (0x18, 15) => (digits(0..4)?, 4),
        _ => return None,
    };
    if text.last() != Some(&b'Z') || year < 1970 {
        return None;
    }
    let month = digits(at..at + 2)?;
    let day = digits(at + 2..at + 4)?;
    let (hour, minute, second) = (
        digits(at + 4..at + 6)?,
        digits(at + 6..at + 8)?,
        digits(at + 8..at + 10)?,
    );
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 60 {
        return None;
    }
    Some(days_since_1970(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Days from 1970-01-01 to a date of the Gregorian calendar, year >= 1970 (H. Hinnant's
/// days_from_civil, with the year starting in March so that the leap day comes last).
fn days_since_1970(year: u64, month: u64, day: u64) -> u64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unix_epoch_is_day_zero() {
        assert_eq!(days_since_1970(1970, 1, 1), 0);
    }

    #[test]
    fn a_leap_day_is_counted() {
        // 2000-03-01 is 11017 days after 1970-01-01; 2000-02-29 the day before.
        assert_eq!(days_since_1970(2000, 3, 1), 11_017);
        assert_eq!(days_since_1970(2000, 2, 29), 11_016);
    }

    #[test]
    fn utc_time_before_1950_means_the_twenty_first_century() {
        // 2001-09-09 01:46:40 UTC is 1_000_000_000 s.
        assert_eq!(der_time(0x17, b"010909014640Z"), Some(1_000_000_000));
        assert_eq!(der_time(0x18, b"20010909014640Z"), Some(1_000_000_000));
    }

    #[test]
    fn a_time_without_z_is_not_read() {
        assert_eq!(der_time(0x17, b"0109090146400"), None);
    }
}
