//! HTTPS in `wisp::http`: a rustls server in the test (on wisp, 127.0.0.1 only), certificates
//! made at test time with rcgen, and the client's answers to good and bad certificates.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::watchdog;
use futures_rustls::TlsAcceptor;
use futures_rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use futures_rustls::rustls::{self, ServerConfig};
use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, date_time_ymd};
use wisp::http::{Client, Error};
use wisp::net::{TcpListener, TcpStream};

/// A certificate authority made for one test.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    fn new() -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "wisp test CA");
        let cert = params.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A server configuration with a certificate for `names`, signed by this CA.
    fn server(&self, names: &[&str], expired: bool) -> Arc<ServerConfig> {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        if expired {
            params.not_before = date_time_ymd(2000, 1, 1);
            params.not_after = date_time_ymd(2001, 1, 1);
        }
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        let chain = vec![CertificateDer::from(cert.der().to_vec())];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        Arc::new(config)
    }
}

/// A server's own self-signed certificate for `names`, as `curl --cacert server.pem` users
/// hold it: no CA behind it. `is_ca`: whether it also says CA:TRUE (as `openssl req -x509`
/// writes by default).
struct SelfSigned {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl SelfSigned {
    fn new(names: &[&str], is_ca: bool) -> SelfSigned {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        if is_ca {
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        }
        // A name of its own: two of these are two issuers, not one issuer's two keys.
        static MADE: AtomicUsize = AtomicUsize::new(0);
        let n = MADE.fetch_add(1, Ordering::Relaxed);
        params.distinguished_name.push(
            DnType::CommonName,
            format!("wisp self-signed test server {n}"),
        );
        let cert = params.self_signed(&key).unwrap();
        SelfSigned { cert, key }
    }

    fn pem(&self) -> String {
        self.cert.pem()
    }

    fn server(&self) -> Arc<ServerConfig> {
        let chain = vec![CertificateDer::from(self.cert.der().to_vec())];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        Arc::new(config)
    }
}

/// What the test server does after the head of each request.
#[derive(Clone, Copy)]
enum Answer {
    /// `200` with a Content-Length, keep-alive.
    Framed,
    /// `200` without a length (the body ends at close), then a TCP close with no TLS
    /// close_notify.
    CloseWithoutNotify,
    /// `302 Found` to `http://127.0.0.1:<port>/landing`, plain HTTP: a downgrade.
    RedirectToPlain(u16),
    /// Reads the request's `Content-Length` body, answers `200` with `<length>:<byte sum>`.
    Echo,
    /// `200` with a Content-Length and, in the same TCP write, a TLS close_notify; the TCP
    /// connection stays open, and a request that still comes on it counts in [`MISDIRECTED`].
    FramedThenCloseNotify,
}

/// Requests that came on a connection after its server's close_notify.
static MISDIRECTED: AtomicUsize = AtomicUsize::new(0);

/// Serves HTTPS on 127.0.0.1 from a task on the current executor; counts connections.
async fn serve(config: Arc<ServerConfig>, answer: Answer) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    let acceptor = TlsAcceptor::from(config);
    wisp::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            count.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            wisp::spawn(async move {
                // A client that refuses the certificate ends the handshake: not an error here.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                let mut notified = false;
                loop {
                    let Ok(n) = tls.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    head.extend_from_slice(&buf[..n]);
                    while let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                        let text = String::from_utf8_lossy(&head[..end]).to_ascii_lowercase();
                        head.drain(..end + 4);
                        match answer {
                            Answer::Echo => {
                                let len: usize = text
                                    .lines()
                                    .find_map(|l| l.strip_prefix("content-length:"))
                                    .map_or(0, |v| v.trim().parse().unwrap());
                                while head.len() < len {
                                    match tls.read(&mut buf).await {
                                        Ok(0) | Err(_) => return,
                                        Ok(n) => head.extend_from_slice(&buf[..n]),
                                    }
                                }
                                let body: Vec<u8> = head.drain(..len).collect();
                                let sum: u64 = body.iter().map(|&b| u64::from(b)).sum();
                                let text = format!("{len}:{sum}");
                                let reply = format!(
                                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{text}",
                                    text.len()
                                );
                                if tls.write_all(reply.as_bytes()).await.is_err() {
                                    return;
                                }
                                let _ = tls.flush().await;
                            }
                            Answer::Framed => {
                                let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret";
                                if tls.write_all(reply).await.is_err() {
                                    return;
                                }
                                let _ = tls.flush().await;
                            }
                            Answer::RedirectToPlain(port) => {
                                let reply = format!(
                                    "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{port}/landing\r\n\
                                     Content-Length: 0\r\n\r\n"
                                );
                                if tls.write_all(reply.as_bytes()).await.is_err() {
                                    return;
                                }
                                let _ = tls.flush().await;
                            }
                            Answer::FramedThenCloseNotify => {
                                if notified {
                                    MISDIRECTED.fetch_add(1, Ordering::SeqCst);
                                    return;
                                }
                                // Both records leave in one write, so the client's rustls reads
                                // them together: the socket is quiet afterwards, and only
                                // rustls knows the server closed.
                                let (tcp, conn) = tls.get_mut();
                                let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret";
                                std::io::Write::write_all(&mut conn.writer(), reply).unwrap();
                                conn.send_close_notify();
                                let mut wire = Vec::new();
                                while conn.wants_write() {
                                    conn.write_tls(&mut wire).unwrap();
                                }
                                if tcp.write_all(&wire).await.is_err() {
                                    return;
                                }
                                notified = true;
                            }
                            Answer::CloseWithoutNotify => {
                                let reply = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\npartial";
                                let _ = tls.write_all(reply).await;
                                let _ = tls.flush().await;
                                // Close the TCP connection under TLS: no close_notify is sent.
                                let (tcp, _) = tls.into_inner();
                                let _ = tcp.shutdown(std::net::Shutdown::Both);
                                return;
                            }
                        }
                    }
                }
            })
            .detach();
        }
    })
    .detach();
    (port, connections)
}

fn client_trusting(ca: &Ca) -> Client {
    Client::builder().ca_pem(ca.pem()).build().unwrap()
}

fn tls_error<T: std::fmt::Debug>(result: Result<T, Error>) -> String {
    match result {
        Err(Error::Tls(message)) => message.to_string(),
        other => panic!("expected a TLS error, got {other:?}"),
    }
}

#[test]
fn a_server_signed_by_a_trusted_ca_is_fetched() {
    watchdog(60, || {
        wisp::block_on(async {
            let ca = Ca::new();
            let (port, _) = serve(ca.server(&["127.0.0.1"], false), Answer::Framed).await;
            let page = client_trusting(&ca)
                .get(&format!("https://127.0.0.1:{port}/"))
                .await
                .unwrap();
            assert_eq!(page.status(), 200);
            assert_eq!(page.bytes().await.unwrap(), b"secret");
        });
    });
}

#[test]
fn an_unknown_issuer_is_refused_with_its_reason() {
    watchdog(60, || {
        wisp::block_on(async {
            let ca = Ca::new();
            let (port, _) = serve(ca.server(&["127.0.0.1"], false), Answer::Framed).await;
            let result = Client::new()
                .get(&format!("https://127.0.0.1:{port}/"))
                .await;
            let message = tls_error(result);
            assert!(message.contains("unknown issuer"), "{message}");
        });
    });
}

#[test]
fn a_handshake_error_keeps_rustls_error_as_its_source() {
    watchdog(60, || {
        wisp::block_on(async {
            let ca = Ca::new();
            let (port, _) = serve(ca.server(&["127.0.0.1"], false), Answer::Framed).await;
            let error = Client::new()
                .get(&format!("https://127.0.0.1:{port}/"))
                .await
                .unwrap_err();
            // The words stay ours; the source is what rustls said, for code to match on.
            assert!(error.to_string().contains("unknown issuer"), "{error}");
            let source = std::error::Error::source(&error).expect("a source");
            assert_eq!(
                source.downcast_ref::<rustls::Error>(),
                Some(&rustls::Error::InvalidCertificate(
                    rustls::CertificateError::UnknownIssuer
                )),
                "{source:?}"
            );
        });
    });
}

#[test]
fn a_ca_file_error_keeps_its_source_and_an_empty_one_has_none() {
    let error = Client::builder()
        .ca_pem("-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n")
        .build()
        .expect_err("a broken CA file is refused");
    assert!(matches!(error, Error::Tls(_)), "{error:?}");
    assert!(
        error.to_string().starts_with("cannot read the CA file: "),
        "{error}"
    );
    assert!(std::error::Error::source(&error).is_some(), "{error:?}");

    let error = Client::builder()
        .ca_pem("no PEM here")
        .build()
        .err()
        .unwrap();
    assert_eq!(error.to_string(), "no certificate found in the CA file");
    assert!(std::error::Error::source(&error).is_none(), "{error:?}");
}

#[test]
fn a_certificate_for_another_name_is_refused() {
    watchdog(60, || {
        wisp::block_on(async {
            let ca = Ca::new();
            let (port, _) = serve(ca.server(&["example.test"], false), Answer::Framed).await;
            let result = client_trusting(&ca)
                .get(&format!("https://127.0.0.1:{port}/"))
                .await;
            let message = tls_error(result);
            assert!(message.contains("not valid for the name"), "{message}");
        });
    });
}

#[test]
fn an_expired_certificate_is_refused() {
    watchdog(60, || {
        wisp::block_on(async {
            let ca = Ca::new();
            let (port, _) = serve(ca.server(&["127.0.0.1"], true), Answer::Framed).await;
            let result = client_trusting(&ca)
                .get(&format!("https://127.0.0.1:{port}/"))
                .await;
            let message = tls_error(result);
            assert!(message.contains("expired"), "{message}");
        });
    });
}

#[test]
fn accepting_invalid_certificates_is_possible_when_asked() {
    watchdog(60, || {
        wisp::block_on(async {
            let ca = Ca::new();
            let (port, _) = serve(ca.server(&["example.test"], true), Answer::Framed).await;
            let client = Client::builder()
                .danger_accept_invalid_certs(true)
                .build()
                .unwrap();
            let page = client
                .get(&format!("https://127.0.0.1:{port}/"))
                .await
                .unwrap();
            assert_eq!(page.bytes().await.unwrap(), b"secret");
        });
    });
}

#[test]
fn a_large_post_over_tls_arrives_whole() {
    watchdog(60, || {
        wisp::block_on(async {
            let ca = Ca::new();
            let (port, connections) = serve(ca.server(&["127.0.0.1"], false), Answer::Echo).await;
            let client = client_trusting(&ca);
            let body: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
            let sum: u64 = body.iter().map(|&b| u64::from(b)).sum();
            let url = format!("https://127.0.0.1:{port}/upload");
            for _ in 0..2 {
                let response = client.post(&url).body(body.clone()).await.unwrap();
                assert_eq!(response.text().await.unwrap(), format!("1000000:{sum}"));
            }
            assert_eq!(connections.load(Ordering::SeqCst), 1);
        });
    });
}

#[test]
fn keep_alive_reuses_the_tls_connection() {
    watchdog(60, || {
        wisp::block_on(async {
            let ca = Ca::new();
            let (port, connections) = serve(ca.server(&["127.0.0.1"], false), Answer::Framed).await;
            let client = client_trusting(&ca);
            for _ in 0..3 {
                let page = client
                    .get(&format!("https://127.0.0.1:{port}/"))
                    .await
                    .unwrap();
                assert_eq!(page.bytes().await.unwrap(), b"secret");
            }
            assert_eq!(connections.load(Ordering::SeqCst), 1);
        });
    });
}

#[test]
fn an_idle_tls_connection_whose_server_sent_close_notify_is_not_reused() {
    watchdog(60, || {
        wisp::block_on(async {
            let ca = Ca::new();
            let server = ca.server(&["127.0.0.1"], false);
            let (port, connections) = serve(server, Answer::FramedThenCloseNotify).await;
            let client = client_trusting(&ca);
            for _ in 0..2 {
                let page = client
                    .get(&format!("https://127.0.0.1:{port}/"))
                    .await
                    .unwrap();
                assert_eq!(page.bytes().await.unwrap(), b"secret");
            }
            assert_eq!(
                MISDIRECTED.load(Ordering::SeqCst),
                0,
                "a request went to the connection its server had closed"
            );
            assert_eq!(connections.load(Ordering::SeqCst), 2);
        });
    });
}

#[test]
fn a_redirect_from_http_to_https_on_the_same_host_is_followed() {
    watchdog(60, || {
        wisp::block_on(async {
            let ca = Ca::new();
            let (tls_port, _) = serve(ca.server(&["127.0.0.1"], false), Answer::Framed).await;
            let plain = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let plain_port = plain.local_addr().unwrap().port();
            wisp::spawn(async move {
                let (stream, _) = plain.accept().await.unwrap();
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf).await;
                let reply = format!(
                    "HTTP/1.1 301 Moved Permanently\r\nLocation: https://127.0.0.1:{tls_port}/\r\n\
                     Content-Length: 0\r\n\r\n"
                );
                stream.write_all(reply.as_bytes()).await.unwrap();
                let _: TcpStream = stream;
            })
            .detach();
            let page = client_trusting(&ca)
                .get(&format!("http://127.0.0.1:{plain_port}/"))
                .await
                .unwrap();
            assert_eq!(page.status(), 200);
            assert_eq!(page.redirects(), 1);
            assert_eq!(page.url().scheme(), "https");
            assert_eq!(page.bytes().await.unwrap(), b"secret");
        });
    });
}

#[test]
fn a_close_without_close_notify_says_the_body_may_be_truncated() {
    watchdog(60, || {
        wisp::block_on(async {
            let ca = Ca::new();
            let (port, _) =
                serve(ca.server(&["127.0.0.1"], false), Answer::CloseWithoutNotify).await;
            let page = client_trusting(&ca)
                .get(&format!("https://127.0.0.1:{port}/"))
                .await
                .unwrap();
            match page.bytes().await {
                Err(Error::Io(e)) => {
                    assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof);
                    assert!(e.to_string().contains("may be truncated"), "{e}");
                }
                other => panic!("expected a truncation error, got {other:?}"),
            }
        });
    });
}

#[test]
fn a_ca_file_without_certificates_is_a_clear_error() {
    let result = Client::builder().ca_pem("not a certificate").build();
    match result {
        Err(Error::Tls(message)) => assert!(message.contains("no certificate"), "{message}"),
        Err(other) => panic!("expected a TLS error, got {other:?}"),
        Ok(_) => panic!("expected a TLS error, got a client"),
    }
}

/// The crawler over HTTPS: `--ca-file` (here `Config::ca_pem`) makes a private CA trusted, and
/// without it the same seed ends in an error record that names the reason.
#[cfg(feature = "crawl")]
#[test]
fn the_crawler_fetches_https_with_a_private_ca_and_records_refusals() {
    use std::sync::atomic::AtomicBool;
    use wisp::crawl::{Config, Hooks, Record, crawl};

    watchdog(60, || {
        wisp::block_on(async {
            let ca = Ca::new();
            let (port, _) = serve(ca.server(&["127.0.0.1"], false), Answer::Framed).await;
            let seed = format!("https://127.0.0.1:{port}/");
            for trusted in [true, false] {
                let config = Config {
                    ca_pem: if trusted {
                        vec![ca.pem().into_bytes()]
                    } else {
                        Vec::new()
                    },
                    respect_robots: false,
                    ..Config::default()
                };
                let records = std::cell::RefCell::new(Vec::<Record>::new());
                crawl(
                    &config,
                    [seed.clone()],
                    Hooks {
                        on_record: Box::new(|r| records.borrow_mut().push(r.clone())),
                        on_foreign_link: Box::new(|_| {}),
                        stop: Arc::new(AtomicBool::new(false)),
                    },
                )
                .await
                .unwrap();
                let records = records.into_inner();
                assert_eq!(records.len(), 1, "{records:?}");
                if trusted {
                    assert_eq!(records[0].status, Some(200));
                    assert_eq!(records[0].bytes, 6);
                } else {
                    let error = records[0].error.as_deref().unwrap_or_default();
                    assert!(error.contains("unknown issuer"), "{error}");
                }
            }
        });
    });
}

/// A server that accepts the TCP connection but never answers the TLS hello: the handshake is
/// bounded by the connect timeout.
#[test]
fn a_handshake_that_never_finishes_times_out() {
    watchdog(60, || {
        wisp::block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            wisp::spawn(async move {
                // Holds the connection open, silent.
                let (_stream, _) = listener.accept().await.unwrap();
                std::future::pending::<()>().await;
            })
            .detach();
            let client = Client::builder()
                .connect_timeout(std::time::Duration::from_millis(300))
                .build()
                .unwrap();
            let start = std::time::Instant::now();
            let result = client.get(&format!("https://127.0.0.1:{port}/")).await;
            match result {
                Err(Error::Timeout {
                    phase: wisp::http::Phase::Connect,
                }) => {}
                other => panic!("expected a connect (handshake) timeout, got {other:?}"),
            }
            let waited = start.elapsed();
            assert!(
                waited >= std::time::Duration::from_millis(300),
                "{waited:?}"
            );
            assert!(waited < std::time::Duration::from_secs(10), "{waited:?}");
        });
    });
}

/// A plain HTTP server on 127.0.0.1 that answers every request `200` ("plain") and records each
/// request head it read.
async fn serve_plain() -> (u16, Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let heads = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = heads.clone();
    wisp::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let log = log.clone();
            wisp::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                log.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&head).into_owned());
                let reply =
                    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nplain";
                let _ = stream.write_all(reply).await;
            })
            .detach();
        }
    })
    .detach();
    (port, heads)
}

/// An https page that redirects to http would carry the request (and its credentials) in clear
/// text from then on (curl CVE-2022-27776): refused, in words, and nothing reaches the plain
/// server.
#[test]
fn a_redirect_from_https_to_http_is_refused() {
    watchdog(60, || {
        wisp::block_on(async {
            let ca = Ca::new();
            let (plain_port, heads) = serve_plain().await;
            let (tls_port, _) = serve(
                ca.server(&["127.0.0.1"], false),
                Answer::RedirectToPlain(plain_port),
            )
            .await;
            let client = Client::builder()
                .ca_pem(ca.pem())
                .header("Authorization", "Bearer s3cret")
                .build()
                .unwrap();
            let result = client.get(&format!("https://127.0.0.1:{tls_port}/")).await;
            match result {
                Err(e) => {
                    let message = e.to_string();
                    assert!(message.contains("from https to http"), "{message}");
                    assert!(
                        message.contains(&format!("127.0.0.1:{plain_port}")),
                        "{message}"
                    );
                }
                Ok(page) => panic!("expected the downgrade to be refused, got {page:?}"),
            }
            assert!(heads.lock().unwrap().is_empty());
        });
    });
}

/// With the downgrade allowed, the redirect is followed, and the credentials stay behind: the
/// origin changed.
#[test]
fn an_allowed_https_downgrade_is_followed_without_the_credentials() {
    watchdog(60, || {
        wisp::block_on(async {
            let ca = Ca::new();
            let (plain_port, heads) = serve_plain().await;
            let (tls_port, _) = serve(
                ca.server(&["127.0.0.1"], false),
                Answer::RedirectToPlain(plain_port),
            )
            .await;
            let client = Client::builder()
                .ca_pem(ca.pem())
                .allow_https_downgrade(true)
                .header("Authorization", "Bearer s3cret")
                .header("Cookie", "session=abc")
                .sensitive_header("X-Api-Key", "k-123")
                .build()
                .unwrap();
            let page = client
                .get(&format!("https://127.0.0.1:{tls_port}/"))
                .await
                .unwrap();
            assert_eq!(
                page.url().as_str(),
                format!("http://127.0.0.1:{plain_port}/landing")
            );
            assert_eq!(page.bytes().await.unwrap(), b"plain");
            let heads = heads.lock().unwrap();
            assert_eq!(heads.len(), 1);
            let head = heads[0].to_ascii_lowercase();
            assert!(!head.contains("authorization"), "{head}");
            assert!(!head.contains("cookie"), "{head}");
            assert!(!head.contains("x-api-key"), "{head}");
        });
    });
}

/// The refusal is its own error variant, so a caller can tell it from a failed connection.
#[test]
fn a_refused_downgrade_is_insecure_redirect() {
    watchdog(60, || {
        wisp::block_on(async {
            let ca = Ca::new();
            let (plain_port, _) = serve_plain().await;
            let (tls_port, _) = serve(
                ca.server(&["127.0.0.1"], false),
                Answer::RedirectToPlain(plain_port),
            )
            .await;
            let result = client_trusting(&ca)
                .get(&format!("https://127.0.0.1:{tls_port}/start"))
                .await;
            match result {
                Err(Error::InsecureRedirect { from, to }) => {
                    assert_eq!(from, format!("https://127.0.0.1:{tls_port}/start"));
                    assert_eq!(to, format!("http://127.0.0.1:{plain_port}/landing"));
                }
                other => panic!("expected InsecureRedirect, got {other:?}"),
            }
        });
    });
}

/// Fetches `/` from a server with `server`'s certificate, trusting `trusted` (PEM) only.
async fn fetch_self_signed(server: &SelfSigned, trusted: &str) -> Result<Vec<u8>, Error> {
    let (port, _) = serve(server.server(), Answer::Framed).await;
    let client = Client::builder().ca_pem(trusted).build().unwrap();
    let page = client.get(&format!("https://127.0.0.1:{port}/")).await?;
    assert_eq!(page.status(), 200);
    page.bytes().await
}

#[test]
fn a_self_signed_leaf_given_as_ca_file_is_trusted_for_its_name() {
    watchdog(60, || {
        wisp::block_on(async {
            let server = SelfSigned::new(&["127.0.0.1"], false);
            let body = fetch_self_signed(&server, &server.pem()).await.unwrap();
            assert_eq!(body, b"secret");
        });
    });
}

#[test]
fn a_self_signed_certificate_saying_ca_true_given_as_ca_file_is_trusted_for_its_name() {
    watchdog(60, || {
        wisp::block_on(async {
            let server = SelfSigned::new(&["127.0.0.1"], true);
            let body = fetch_self_signed(&server, &server.pem()).await.unwrap();
            assert_eq!(body, b"secret");
        });
    });
}

#[test]
fn a_different_self_signed_certificate_is_refused_in_words() {
    watchdog(60, || {
        wisp::block_on(async {
            // CA:TRUE is refused as a CA used as the server's own; without, as unknown issuer.
            for (is_ca, why) in [(true, "is a CA certificate"), (false, "unknown issuer")] {
                let server = SelfSigned::new(&["127.0.0.1"], is_ca);
                let other = SelfSigned::new(&["127.0.0.1"], is_ca);
                let message = tls_error(fetch_self_signed(&server, &other.pem()).await.map(|_| ()));
                assert!(message.contains("the server's certificate"), "{message}");
                assert!(message.contains(why), "{message}");
                assert!(!message.contains("Other("), "{message}");
            }
        });
    });
}

#[test]
fn a_pinned_self_signed_certificate_is_refused_for_another_name() {
    watchdog(60, || {
        wisp::block_on(async {
            for is_ca in [false, true] {
                let server = SelfSigned::new(&["example.test"], is_ca);
                let message =
                    tls_error(fetch_self_signed(&server, &server.pem()).await.map(|_| ()));
                assert!(message.contains("not valid for the name"), "{message}");
            }
        });
    });
}

#[test]
fn a_pinned_self_signed_certificate_is_refused_when_expired() {
    watchdog(60, || {
        wisp::block_on(async {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.not_before = date_time_ymd(2000, 1, 1);
            params.not_after = date_time_ymd(2001, 1, 1);
            let cert = params.self_signed(&key).unwrap();
            let server = SelfSigned { cert, key };
            let message = tls_error(fetch_self_signed(&server, &server.pem()).await.map(|_| ()));
            assert!(message.contains("expired"), "{message}");
        });
    });
}

/// The crawl program as `curl --cacert server.pem` users run it: `--ca-file` given the server's
/// own self-signed certificate (CA:TRUE, as `openssl req -x509` writes it) fetches the page;
/// without it, the record's error says why in words and the exit status is 4.
#[cfg(feature = "crawl")]
#[test]
fn the_crawl_program_trusts_a_self_signed_certificate_given_as_ca_file() {
    let server = SelfSigned::new(&["127.0.0.1"], true);
    let config = server.server();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        wisp::block_on(async move {
            let (port, _) = serve(config, Answer::Framed).await;
            tx.send(port).unwrap();
            std::future::pending::<()>().await
        })
    });
    let port = rx.recv().unwrap();
    let pem = std::env::temp_dir().join(format!("wisp-tls-cli-{}-{port}.pem", std::process::id()));
    std::fs::write(&pem, server.pem()).unwrap();
    let url = format!("https://127.0.0.1:{port}/");
    let pem_path = pem.display().to_string();
    let run = |extra: &[&str]| {
        let mut args = vec!["--ignore-robots", "-q", "--jsonl", "-"];
        args.extend_from_slice(extra);
        args.push(&url);
        common::crawl_server::crawl_binary(&args)
    };
    let trusted = run(&["--ca-file", &pem_path]);
    let _ = std::fs::remove_file(&pem);
    let stdout = String::from_utf8_lossy(&trusted.stdout);
    let stderr = String::from_utf8_lossy(&trusted.stderr);
    assert_eq!(trusted.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("\"status\":200"), "{stdout}");
    assert!(
        stdout.contains(&format!("\"bytes\":{}", b"secret".len())),
        "{stdout}"
    );

    let refused = run(&[]);
    let stdout = String::from_utf8_lossy(&refused.stdout);
    assert_eq!(refused.status.code(), Some(4), "{stdout}");
    assert!(stdout.contains("\"status\":null"), "{stdout}");
    assert!(stdout.contains("is a CA certificate"), "{stdout}");
    assert!(
        stdout.contains("give this very certificate with --ca-file"),
        "{stdout}"
    );
    assert!(!stdout.contains("Other("), "{stdout}");
}
