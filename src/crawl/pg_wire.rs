//! A small, blocking PostgreSQL client: just what the shared crawl state (`shared.rs`) needs.
//! The messages are encoded and parsed by the sans-io `postgres-protocol` crate; this file
//! owns the socket, the authentication exchange and the extended-query round trip.
//!
//! Why blocking, on a `std` socket: the crawl's [`Journal`](super::journal::Journal) is a
//! synchronous interface (SQLite's calls block the crawl thread the same way), and a few round
//! trips per commit, about every 100 ms, cost less than an async driver's machinery. Nothing
//! here waits for ever: the connect, every read and every write have a timeout, and a message
//! longer than [`MAX_MESSAGE`] is refused instead of buffered.
//!
//! Values go over the wire as text, both ways (`bytea` as `\x` hex): one format for every
//! type, no binary codecs. Parameters are always sent separately from the SQL text (the
//! extended protocol's Bind), never spliced into it.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use bytes::BytesMut;
use fallible_iterator::FallibleIterator;
use postgres_protocol::authentication::{md5_hash, sasl};
use postgres_protocol::message::backend::{self, Message};
use postgres_protocol::message::frontend;

/// The longest message the server may send (a row of the crawl's tables is far shorter).
pub(crate) const MAX_MESSAGE: usize = 64 * 1024 * 1024;
/// How long a read or write may block before the connection counts as dead.
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the database is, from a `postgres://USER[:PASSWORD]@HOST[:PORT]/DB` URL.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct PgUrl {
    pub user: String,
    pub password: Option<String>,
    pub host: String,
    pub port: u16,
    pub dbname: String,
}

impl fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the password.
        write!(
            f,
            "postgres://{}@{}:{}/{}",
            self.user, self.host, self.port, self.dbname
        )
    }
}

impl PgUrl {
    /// Parses the URL; the password may also come from `PGPASSWORD`.
    pub fn parse(text: &str) -> Result<PgUrl, String> {
        let bad = |why: &str| format!("{}: {why}", redact(text));
        let url = url::Url::parse(text).map_err(|e| bad(&e.to_string()))?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(bad("not a postgres:// URL"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("options after `?` are not supported"));
        }
        let user = decode(url.username());
        if user.is_empty() {
            return Err(bad("the URL names no user (postgres://USER@HOST/DB)"));
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("the URL names no host"))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let dbname = decode(url.path().trim_start_matches('/'));
        if dbname.is_empty() || dbname.contains('/') {
            return Err(bad("the URL names no database (postgres://USER@HOST/DB)"));
        }
        let password = url
            .password()
            .map(decode)
            .or_else(|| std::env::var("PGPASSWORD").ok());
        Ok(PgUrl {
            user,
            password,
            host,
            port: url.port().unwrap_or(5432),
            dbname,
        })
    }
}

/// `%XX` escapes of a URL part decoded (a `+` stays a `+`: this is not a form).
fn decode(part: &str) -> String {
    let bytes = part.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The URL with its password replaced, for messages.
pub(crate) fn redact(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => text.to_string(),
    }
}

/// A failure: the server's error (with its SQLSTATE code) or the connection's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PgError {
    /// The SQLSTATE of a server error (`None`: the connection failed).
    pub code: Option<String>,
    pub message: String,
}

impl fmt::Display for PgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<io::Error> for PgError {
    fn from(e: io::Error) -> PgError {
        let message = match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                format!(
                    "the database did not answer within {} s",
                    IO_TIMEOUT.as_secs()
                )
            }
            io::ErrorKind::UnexpectedEof => "the database closed the connection".to_string(),
            _ => e.to_string(),
        };
        PgError {
            code: None,
            message,
        }
    }
}

fn protocol(message: &str) -> PgError {
    PgError {
        code: None,
        message: format!("unexpected answer from the database: {message}"),
    }
}

/// One value in text format: `None` is SQL `NULL`.
pub(crate) type Value = Option<String>;

/// The rows a statement returned, each a list of text values.
pub(crate) type Rows = Vec<Vec<Value>>;

/// A statement and its parameters (`$1`, `$2`, ... in the SQL), all as text.
pub(crate) struct Statement<'a> {
    pub sql: &'a str,
    pub params: Vec<Value>,
}

/// An open connection (see the module documentation).
pub(crate) struct Pg {
    stream: TcpStream,
    read: BytesMut,
    write: BytesMut,
    /// The connection is in an unknown state (a read failed half-way): never used again.
    broken: bool,
}

impl Pg {
    /// Connects and authenticates (trust, cleartext, MD5 or SCRAM-SHA-256, as the server
    /// asks). Every server setting the crawl relies on is set here.
    pub fn connect(url: &PgUrl, connect_timeout: Duration) -> Result<Pg, PgError> {
        let unreachable = |e: io::Error| PgError {
            code: None,
            message: format!(
                "cannot connect to the database at {}:{}: {e}",
                url.host, url.port
            ),
        };
        let addrs: Vec<_> = (url.host.as_str(), url.port)
            .to_socket_addrs()
            .map_err(unreachable)?
            .collect();
        let mut last = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
        let mut stream = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, connect_timeout) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = e,
            }
        }
        let stream = stream.ok_or_else(|| unreachable(last))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        let mut pg = Pg {
            stream,
            read: BytesMut::with_capacity(16 * 1024),
            write: BytesMut::with_capacity(16 * 1024),
            broken: false,
        };
        let params = [
            ("user", url.user.as_str()),
            ("database", url.dbname.as_str()),
            ("application_name", "wisp crawl"),
            ("client_encoding", "UTF8"),
            // A statement stuck behind a lock, or a server that stalls, ends in an error.
            ("statement_timeout", "30s"),
            ("idle_in_transaction_session_timeout", "120s"),
        ];
        frontend::startup_message(params.iter().copied(), &mut pg.write)?;
        pg.send()?;
        pg.authenticate(url)?;
        // Then parameter statuses and the key data, up to the first ReadyForQuery.
        loop {
            match pg.receive()? {
                Message::ReadyForQuery(_) => return Ok(pg),
                Message::ErrorResponse(body) => return Err(server_error(&body)),
                _ => {}
            }
        }
    }

    fn authenticate(&mut self, url: &PgUrl) -> Result<(), PgError> {
        let password = || {
            url.password.as_deref().ok_or_else(|| PgError {
                code: None,
                message: format!(
                    "the database asks user {} for a password: give it in the URL \
                     (postgres://USER:PASSWORD@...) or in PGPASSWORD",
                    url.user
                ),
            })
        };
        loop {
            match self.receive()? {
                Message::AuthenticationOk => return Ok(()),
                Message::AuthenticationCleartextPassword => {
                    frontend::password_message(password()?.as_bytes(), &mut self.write)?;
                    self.send()?;
                }
                Message::AuthenticationMd5Password(body) => {
                    let hash = md5_hash(url.user.as_bytes(), password()?.as_bytes(), body.salt());
                    frontend::password_message(hash.as_bytes(), &mut self.write)?;
                    self.send()?;
                }
                Message::AuthenticationSasl(body) => {
                    let mut mechanisms = body.mechanisms();
                    let mut scram = false;
                    while let Some(m) = mechanisms.next()? {
                        scram |= m == sasl::SCRAM_SHA_256;
                    }
                    if !scram {
                        return Err(protocol("no SASL mechanism this client knows"));
                    }
                    let mut exchange = sasl::ScramSha256::new(
                        password()?.as_bytes(),
                        sasl::ChannelBinding::unsupported(),
                    );
                    frontend::sasl_initial_response(
                        sasl::SCRAM_SHA_256,
                        exchange.message(),
                        &mut self.write,
                    )?;
                    self.send()?;
                    let Message::AuthenticationSaslContinue(next) = self.expect_auth()? else {
                        return Err(protocol("the SCRAM exchange stopped"));
                    };
                    exchange.update(next.data())?;
                    frontend::sasl_response(exchange.message(), &mut self.write)?;
                    self.send()?;
                    let Message::AuthenticationSaslFinal(last) = self.expect_auth()? else {
                        return Err(protocol("the SCRAM exchange stopped"));
                    };
                    exchange.finish(last.data())?;
                }
                Message::ErrorResponse(body) => return Err(server_error(&body)),
                _ => return Err(protocol("an authentication method this client lacks")),
            }
        }
    }

    fn expect_auth(&mut self) -> Result<Message, PgError> {
        match self.receive()? {
            Message::ErrorResponse(body) => Err(server_error(&body)),
            other => Ok(other),
        }
    }

    /// Runs `sql` in the simple protocol: several statements, no parameters, no rows kept.
    pub fn batch(&mut self, sql: &str) -> Result<(), PgError> {
        frontend::query(sql, &mut self.write)?;
        self.send()?;
        let mut error = None;
        loop {
            match self.receive()? {
                Message::ReadyForQuery(_) => break,
                Message::ErrorResponse(body) => error = error.or(Some(server_error(&body))),
                _ => {}
            }
        }
        error.map_or(Ok(()), Err)
    }

    /// Runs one statement; returns its rows.
    pub fn query(&mut self, sql: &str, params: &[Value]) -> Result<Rows, PgError> {
        let statement = Statement {
            sql,
            params: params.to_vec(),
        };
        let mut all = self.pipeline(&[statement])?;
        Ok(all.pop().unwrap_or_default())
    }

    /// Runs the statements in one round trip, in order, in one implicit transaction (unless
    /// they hold their own `BEGIN` / `COMMIT`): the first error stops the rest and is returned.
    pub fn pipeline(&mut self, statements: &[Statement<'_>]) -> Result<Vec<Rows>, PgError> {
        if self.broken {
            return Err(PgError {
                code: None,
                message: "the database connection failed before".into(),
            });
        }
        for s in statements {
            frontend::parse("", s.sql, std::iter::empty(), &mut self.write)?;
            frontend::bind(
                "",
                "",
                std::iter::empty(),
                s.params.iter(),
                |value, buf| match value {
                    None => Ok(postgres_protocol::IsNull::Yes),
                    Some(text) => {
                        buf.extend_from_slice(text.as_bytes());
                        Ok(postgres_protocol::IsNull::No)
                    }
                },
                std::iter::empty(),
                &mut self.write,
            )
            .map_err(|e| match e {
                frontend::BindError::Conversion(e) => protocol(&e.to_string()),
                frontend::BindError::Serialization(e) => PgError::from(e),
            })?;
            frontend::execute("", 0, &mut self.write)?;
        }
        frontend::sync(&mut self.write);
        self.send()?;
        let mut results = Vec::with_capacity(statements.len());
        let mut rows = Vec::new();
        let mut error = None;
        loop {
            match self.receive()? {
                Message::DataRow(body) => {
                    let buf = body.buffer();
                    let mut row = Vec::new();
                    let mut ranges = body.ranges();
                    while let Some(range) = ranges.next()? {
                        row.push(match range {
                            None => None,
                            Some(r) => Some(
                                String::from_utf8(buf[r].to_vec())
                                    .map_err(|_| protocol("a value that is not UTF-8"))?,
                            ),
                        });
                    }
                    rows.push(row);
                }
                Message::CommandComplete(_) | Message::EmptyQueryResponse => {
                    results.push(std::mem::take(&mut rows));
                }
                Message::ErrorResponse(body) => error = error.or(Some(server_error(&body))),
                Message::ReadyForQuery(_) => break,
                _ => {}
            }
        }
        match error {
            Some(e) => Err(e),
            None => Ok(results),
        }
    }

    fn send(&mut self) -> Result<(), PgError> {
        let sent = self.stream.write_all(&self.write);
        self.write.clear();
        if sent.is_err() {
            self.broken = true;
        }
        Ok(sent?)
    }

    /// The next message, notices skipped.
    fn receive(&mut self) -> Result<Message, PgError> {
        loop {
            if let Some(header) = backend::Header::parse(&self.read)? {
                let len = header.len() as usize + 1;
                if len > MAX_MESSAGE {
                    self.broken = true;
                    return Err(protocol(&format!("a message of {len} bytes")));
                }
                if self.read.len() >= len {
                    match Message::parse(&mut self.read)? {
                        Some(Message::NoticeResponse(_)) | Some(Message::ParameterStatus(_)) => {
                            continue;
                        }
                        Some(message) => return Ok(message),
                        None => {}
                    }
                }
            }
            let start = self.read.len();
            self.read.resize(start + 16 * 1024, 0);
            let n = match self.stream.read(&mut self.read[start..]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    // A signal (Ctrl-C, which the crawler handles): read again.
                    self.read.truncate(start);
                    continue;
                }
                Err(e) => {
                    self.read.truncate(start);
                    self.broken = true;
                    return Err(e.into());
                }
            };
            self.read.truncate(start + n);
            if n == 0 {
                self.broken = true;
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
            }
        }
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        if !self.broken {
            frontend::terminate(&mut self.write);
            let _ = self.stream.write_all(&self.write);
        }
    }
}

fn server_error(body: &backend::ErrorResponseBody) -> PgError {
    let mut fields = body.fields();
    let (mut code, mut message, mut detail) = (None, String::new(), String::new());
    while let Ok(Some(field)) = fields.next() {
        let value = String::from_utf8_lossy(field.value_bytes()).into_owned();
        match field.type_() {
            b'C' => code = Some(value),
            b'M' => message = value,
            b'D' => detail = value,
            _ => {}
        }
    }
    if !detail.is_empty() {
        message = format!("{message} ({detail})");
    }
    PgError { code, message }
}

/// `bytes` as a `bytea` in text format.
pub(crate) fn bytea(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(2 + 2 * bytes.len());
    out.push_str("\\x");
    for b in bytes {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// A `bytea` in text format (`\x` hex) back to bytes.
pub(crate) fn from_bytea(text: &str) -> Option<Vec<u8>> {
    let hex = text.strip_prefix("\\x")?;
    if hex.len() % 2 != 0 {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// An array literal (`{"a","b",NULL}`) of text values, for `unnest($1::text[])`: a batch of
/// rows in one parameter.
pub(crate) fn array<'a>(items: impl IntoIterator<Item = Option<&'a str>>) -> String {
    let mut out = String::from("{");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match item {
            None => out.push_str("NULL"),
            Some(text) => {
                out.push('"');
                for c in text.chars() {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
            }
        }
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_parsed_and_bad_ones_named() {
        let url = PgUrl::parse("postgres://crawler:s%40c+ret@db.example:5433/crawls").unwrap();
        assert_eq!(url.user, "crawler");
        assert_eq!(url.password.as_deref(), Some("s@c+ret"));
        assert_eq!((url.host.as_str(), url.port), ("db.example", 5433));
        assert_eq!(url.dbname, "crawls");
        assert_eq!(
            format!("{url:?}"),
            "postgres://crawler@db.example:5433/crawls"
        );
        assert_eq!(PgUrl::parse("postgresql://u@h/d").unwrap().port, 5432);
        for bad in [
            "postgres://h/d",
            "postgres://u@h",
            "postgres://u@h/",
            "mysql://u@h/d",
            "postgres://u@h/d?sslmode=require",
            "not a url",
        ] {
            assert!(PgUrl::parse(bad).is_err(), "{bad}");
        }
        let e = PgUrl::parse("postgres://u:hunter2@h/d?x=1").unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn bytea_and_arrays_round_trip_their_text() {
        assert_eq!(bytea(&[0, 0xab, 0x10]), "\\x00ab10");
        assert_eq!(from_bytea("\\x00ab10"), Some(vec![0, 0xab, 0x10]));
        assert_eq!(from_bytea("\\x0"), None);
        assert_eq!(from_bytea("00"), None);
        assert_eq!(
            array([Some("a\"b"), None, Some("c\\d"), Some("")]),
            r#"{"a\"b",NULL,"c\\d",""}"#
        );
        assert_eq!(array(std::iter::empty()), "{}");
    }
}
