//! FNV-1a, 64-bit: the crate's one small, keyless, stable hash. The crawl's shards and
//! partitions use it because every process and tool must agree on it (`crawl::shard`); the HTTP
//! pool's origin map uses it because SipHash's setup costs more than the dozen bytes it hashes.

use std::hash::Hasher;

/// The FNV-1a 64-bit offset basis.
pub(crate) const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
/// The FNV-1a 64-bit prime.
pub(crate) const PRIME: u64 = 0x0000_0100_0000_01b3;

/// One FNV-1a step over `bytes`, from the hash so far.
pub(crate) fn extend(hash: u64, bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes
        .into_iter()
        .fold(hash, |h, b| (h ^ u64::from(b)).wrapping_mul(PRIME))
}

/// FNV-1a as a [`Hasher`], for `HashMap`s keyed by short strings.
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(OFFSET_BASIS)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0 = extend(self.0, bytes.iter().copied());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_published_fnv_1a_64_test_vectors() {
        let hash = |bytes: &[u8]| {
            let mut h = Fnv::default();
            h.write(bytes);
            h.finish()
        };
        assert_eq!(hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(hash(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(hash(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
