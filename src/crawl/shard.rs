//! Which shard of a distributed crawl owns a host.
//!
//! Several crawler processes split the web by host so that each host's politeness delay and
//! robots.txt live in exactly one process. The function is fixed and documented here so other
//! tools (a scheduler, a log splitter, a script) can reproduce it exactly:
//!
//! 1. take the host name as given (no port, no trailing dot removal) and lowercase its ASCII
//!    letters `A`-`Z`; other bytes are left unchanged;
//! 2. hash those bytes with 64-bit FNV-1a: start with the offset basis
//!    `h = 0xcbf29ce484222325`, then for each byte `b`: `h = (h XOR b) * 0x100000001b3`
//!    (multiplication modulo 2⁶⁴);
//! 3. the shard is `h % shards`.
//!
//! FNV-1a is used because it is tiny, has no key (so every tool agrees) and is stable across
//! Rust versions, unlike `std`'s `DefaultHasher`.

/// FNV-1a 64-bit offset basis.
pub const FNV_OFFSET_BASIS: u64 = crate::fnv::OFFSET_BASIS;
/// FNV-1a 64-bit prime.
pub const FNV_PRIME: u64 = crate::fnv::PRIME;

/// The 64-bit FNV-1a hash of the ASCII-lowercased `host` bytes (step 1 and 2 of the module docs).
pub fn host_hash(host: &str) -> u64 {
    crate::fnv::extend(
        FNV_OFFSET_BASIS,
        host.bytes().map(|b| b.to_ascii_lowercase()),
    )
}

/// The shard in `0..shards` that owns `host`: [`host_hash`]`(host) % shards`.
///
/// Case-insensitive in ASCII, as host names are. `shards` must be at least 1; 0 is treated as 1
/// (everything in shard 0) rather than dividing by zero.
pub fn shard_of(host: &str, shards: u32) -> u32 {
    let shards = u64::from(shards.max(1));
    // The remainder is below `shards`, which fits in u32.
    u32::try_from(host_hash(host) % shards).unwrap_or(0)
}

/// The politeness key of a URL: its host, with the port when it is not the scheme's default
/// (as Heritrix queues by authority). `http://h/` and `https://h/` share one queue and one
/// delay (one server, most likely); another port is another server's queue, so a silent
/// service on one port does not take the slots of the web server on another.
pub fn authority(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An independent FNV-1a: byte-by-byte with the prime multiplied out as shifts and adds
    /// (0x100000001b3 = 2^40 + 2^8 + 0xb3), so a typo in a constant above would show.
    fn fnv1a_by_shifts(data: &[u8]) -> u64 {
        let mut h: u64 = 14_695_981_039_346_656_037; // 0xcbf29ce484222325 in decimal
        for &b in data {
            h ^= u64::from(b);
            h = (h << 40)
                .wrapping_add(h << 8)
                .wrapping_add(h.wrapping_mul(0xb3));
        }
        h
    }

    #[test]
    fn known_fnv1a_vectors() {
        assert_eq!(host_hash(""), 0xcbf29ce484222325);
        assert_eq!(host_hash("a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a_by_shifts(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a_by_shifts(b"a"), 0xaf63dc4c8601ec8c);
        // Published FNV-1a 64 test vector ("foobar").
        assert_eq!(host_hash("foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn pinned_values() {
        // Also computed once with an independent Python one-liner:
        // h = 0xcbf29ce484222325; for b in s: h = ((h ^ b) * 0x100000001b3) % 2**64
        for host in ["example.com", "wikipedia.org", "127.0.0.1"] {
            assert_eq!(host_hash(host), fnv1a_by_shifts(host.as_bytes()), "{host}");
        }
        assert_eq!(host_hash("example.com"), 0x5768_4663_4e27_14c6);
        assert_eq!(host_hash("wikipedia.org"), 0x2cdf_03ba_0ec0_c600);
        assert_eq!(host_hash("127.0.0.1"), 0xaaba_fe71_04d9_14be);
        assert_eq!(shard_of("example.com", 7), 1);
        assert_eq!(shard_of("wikipedia.org", 7), 1);
        assert_eq!(shard_of("127.0.0.1", 7), 0);
    }

    #[test]
    fn case_insensitive_and_in_range() {
        assert_eq!(shard_of("Example.COM", 7), shard_of("example.com", 7));
        assert_eq!(host_hash("WIKIPEDIA.org"), host_hash("wikipedia.org"));
        for shards in 1..50 {
            assert!(shard_of("example.com", shards) < shards);
        }
        assert_eq!(shard_of("example.com", 1), 0);
        assert_eq!(shard_of("example.com", 0), 0);
    }
}
