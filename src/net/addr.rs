//! [`ToSocketAddrs`]: what can be connected to or bound, resolved off the executor thread.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::blocking::unblock;

/// An address or a host name with a port. Implemented for `SocketAddr` (and V4/V6), `(IpAddr,
/// u16)`, `(&str, u16)`, `(String, u16)`, `"host:port"` strings and `&[SocketAddr]`.
///
/// This trait is sealed: wisp decides how names are resolved.
pub trait ToSocketAddrs: sealed::Sealed {}

mod sealed {
    use super::Target;

    pub trait Sealed {
        /// Either addresses already known, or a name to look up.
        fn target(&self) -> std::io::Result<Target>;
    }
}

#[doc(hidden)]
pub enum Target {
    Known(Vec<SocketAddr>),
    Lookup(String, u16),
}

/// Resolves `addr`: IP literals at once, names through `getaddrinfo` on the blocking pool.
pub(crate) async fn resolve(addr: &(impl ToSocketAddrs + ?Sized)) -> io::Result<Vec<SocketAddr>> {
    let addrs = match sealed::Sealed::target(addr)? {
        Target::Known(addrs) => addrs,
        Target::Lookup(host, port) => {
            let lookup = unblock(move || {
                std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
                    .map(Iterator::collect)
            });
            lookup.await?
        }
    };
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the address resolved to no socket address",
        ));
    }
    Ok(addrs)
}

/// Tries each address in order; returns the first success or the last error (LESSONS: every
/// resolved address is worth a try, `localhost` is often `::1` then `127.0.0.1`).
pub(crate) async fn try_each<T, F, Fut>(
    addr: &(impl ToSocketAddrs + ?Sized),
    mut f: F,
) -> io::Result<T>
where
    F: FnMut(SocketAddr) -> Fut,
    Fut: Future<Output = io::Result<T>>,
{
    let mut last = None;
    for addr in resolve(addr).await? {
        match f(addr).await {
            Ok(value) => return Ok(value),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to try")))
}

fn host_port(host: &str, port: u16) -> Target {
    // `[::1]`-style brackets are for the "host:port" form only, but accept them here too.
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    match bare.parse::<IpAddr>() {
        Ok(ip) => Target::Known(vec![SocketAddr::new(ip, port)]),
        Err(_) => Target::Lookup(host.to_owned(), port),
    }
}

macro_rules! known {
    ($($ty:ty),*) => {$(
        impl ToSocketAddrs for $ty {}
        impl sealed::Sealed for $ty {
            fn target(&self) -> io::Result<Target> {
                Ok(Target::Known(vec![SocketAddr::from(*self)]))
            }
        }
    )*};
}

known!(
    SocketAddr,
    SocketAddrV4,
    SocketAddrV6,
    (IpAddr, u16),
    (Ipv4Addr, u16),
    (Ipv6Addr, u16)
);

impl ToSocketAddrs for (&str, u16) {}
impl sealed::Sealed for (&str, u16) {
    fn target(&self) -> io::Result<Target> {
        Ok(host_port(self.0, self.1))
    }
}

impl ToSocketAddrs for (String, u16) {}
impl sealed::Sealed for (String, u16) {
    fn target(&self) -> io::Result<Target> {
        Ok(host_port(&self.0, self.1))
    }
}

impl ToSocketAddrs for str {}
impl sealed::Sealed for str {
    fn target(&self) -> io::Result<Target> {
        if let Ok(addr) = self.parse::<SocketAddr>() {
            return Ok(Target::Known(vec![addr]));
        }
        let invalid = || {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid socket address {self:?}: expected host:port"),
            )
        };
        let (host, port) = self.rsplit_once(':').ok_or_else(invalid)?;
        let port = port.parse::<u16>().map_err(|_| invalid())?;
        if host.is_empty() {
            return Err(invalid());
        }
        Ok(host_port(host, port))
    }
}

impl ToSocketAddrs for String {}
impl sealed::Sealed for String {
    fn target(&self) -> io::Result<Target> {
        self.as_str().target()
    }
}

impl ToSocketAddrs for [SocketAddr] {}
impl sealed::Sealed for [SocketAddr] {
    fn target(&self) -> io::Result<Target> {
        Ok(Target::Known(self.to_vec()))
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {}
impl<T: ToSocketAddrs + ?Sized> sealed::Sealed for &T {
    fn target(&self) -> io::Result<Target> {
        (**self).target()
    }
}
