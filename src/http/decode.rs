//! Streaming, bounded decoding of HTTP `Content-Encoding: gzip` / `deflate`
//! response bodies: [`ContentDecoder`] undoes the body's *content* coding,
//! after [`TransferDecoder`](super::framing::TransferDecoder) has undone its
//! transfer framing (length, chunked, close).
//!
//! * Input may be split at any byte; the only buffering done here is a few
//!   bytes of gzip header/trailer state. Memory use is bounded by the
//!   inflater's own state (32 KiB window + tables) plus a 32 KiB scratch
//!   output buffer; `out` grows only by the bytes decoded from the current
//!   `feed` (at most `limit` in total).
//! * The total decoded output is capped by `limit`: as soon as the stream
//!   would produce byte `limit + 1`, decoding stops with
//!   [`DecodeError::TooLarge`]; `out` then holds the decoded bytes up to
//!   exactly the limit (never more).
//! * `deflate` accepts both the RFC 9110 zlib-wrapped form (RFC 1950) and raw
//!   deflate (RFC 1951), detected on the first two bytes. A zlib preset
//!   dictionary (FDICT) is rejected as corrupt.
//! * `gzip` accepts several concatenated members (RFC 1952 2.2); the header is
//!   parsed here (FEXTRA/FNAME/FCOMMENT are skipped, FHCRC is verified) and
//!   each member's CRC32 and ISIZE are verified.
//! * Bytes after the end of the stream are an error: after a complete
//!   deflate/zlib stream any further byte is [`DecodeError::Corrupt`]; after a
//!   complete gzip member further bytes must start another valid gzip member
//!   (so trailing garbage, including zero padding, is `Corrupt`).
//! * An empty body (no compressed bytes at all) is an empty body: `finish`
//!   accepts it for gzip and deflate, as curl and browsers do (servers label
//!   empty answers `gzip`). A body that stops anywhere after its first byte is
//!   [`DecodeError::Truncated`].
//! * After any error the decoder is failed: it keeps the error (its `failed`
//!   field, as `TransferDecoder` does) and every later `feed`/`finish`
//!   returns the same error.

use std::fmt;

use flate2::{Crc, Decompress, DecompressError, FlushDecompress, Status};

/// Size of one output chunk handed to the inflater.
const CHUNK: usize = 32 * 1024;

const FHCRC: u8 = 0x02;
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FCOMMENT: u8 = 0x10;
const FRESERVED: u8 = 0xe0;

/// A supported `Content-Encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Identity,
    Gzip,
    Deflate,
}

impl Coding {
    /// From a Content-Encoding header value: "gzip" / "x-gzip" -> Gzip,
    /// "deflate" -> Deflate, "identity" (or an empty value) or absent ->
    /// Identity; anything else (br, zstd, "gzip, gzip" chains) -> None (the
    /// caller reports unsupported encoding). Case-insensitive, trimmed.
    pub fn from_header(value: Option<&[u8]>) -> Option<Coding> {
        let Some(value) = value else {
            return Some(Coding::Identity);
        };
        let v = value.trim_ascii();
        if v.is_empty() || v.eq_ignore_ascii_case(b"identity") {
            Some(Coding::Identity)
        } else if v.eq_ignore_ascii_case(b"gzip") || v.eq_ignore_ascii_case(b"x-gzip") {
            Some(Coding::Gzip)
        } else if v.eq_ignore_ascii_case(b"deflate") {
            Some(Coding::Deflate)
        } else {
            None
        }
    }
}

/// Why a compressed body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The compressed data is invalid (bad header, bad deflate data, checksum
    /// mismatch, trailing garbage).
    Corrupt(String),
    /// The decoded body would exceed `limit` bytes.
    TooLarge { limit: u64 },
    /// The body ended before the compressed stream was complete.
    Truncated,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Corrupt(why) => write!(f, "compressed body is corrupt: {why}"),
            DecodeError::TooLarge { limit } => {
                write!(
                    f,
                    "decompressed body larger than the limit of {limit} bytes"
                )
            }
            DecodeError::Truncated => f.write_str("compressed body ended early"),
        }
    }
}

impl std::error::Error for DecodeError {}

fn corrupt(why: &str) -> DecodeError {
    DecodeError::Corrupt(why.to_owned())
}

fn inflate_error(e: &DecompressError) -> DecodeError {
    if e.needs_dictionary().is_some() {
        corrupt("zlib stream needs a preset dictionary (unsupported)")
    } else {
        corrupt("invalid deflate data")
    }
}

/// True if the two bytes form a valid zlib (RFC 1950) header with the
/// deflate method.
fn is_zlib_header(cmf: u8, flg: u8) -> bool {
    cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(cmf) * 256 + u16::from(flg)) % 31 == 0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HeaderStep {
    Fixed,
    ExtraLen,
    Extra,
    Name,
    Comment,
    HeaderCrc,
}

/// Incremental gzip member header parser (RFC 1952 2.3), fed byte by byte.
#[derive(Debug)]
struct GzHeader {
    step: HeaderStep,
    flags: u8,
    buf: [u8; 10],
    len: usize,
    extra_left: usize,
    crc: Crc,
    /// Not the first member: a bad magic means trailing garbage.
    after_member: bool,
}

impl GzHeader {
    fn new(after_member: bool) -> GzHeader {
        GzHeader {
            step: HeaderStep::Fixed,
            flags: 0,
            buf: [0; 10],
            len: 0,
            extra_left: 0,
            crc: Crc::new(),
            after_member,
        }
    }

    /// Moves to the next optional field present; true when the header is
    /// complete.
    fn advance(&mut self) -> bool {
        const ORDER: [(HeaderStep, u8); 4] = [
            (HeaderStep::ExtraLen, FEXTRA),
            (HeaderStep::Name, FNAME),
            (HeaderStep::Comment, FCOMMENT),
            (HeaderStep::HeaderCrc, FHCRC),
        ];
        let from = match self.step {
            HeaderStep::Fixed => 0,
            HeaderStep::ExtraLen | HeaderStep::Extra => 1,
            HeaderStep::Name => 2,
            HeaderStep::Comment => 3,
            HeaderStep::HeaderCrc => 4,
        };
        for &(step, flag) in &ORDER[from..] {
            if self.flags & flag != 0 {
                self.step = step;
                self.len = 0;
                return false;
            }
        }
        true
    }

    /// Consumes one header byte; Ok(true) when the header is complete.
    fn push(&mut self, b: u8) -> Result<bool, DecodeError> {
        if self.step != HeaderStep::HeaderCrc {
            self.crc.update(&[b]);
        }
        match self.step {
            HeaderStep::Fixed => {
                self.buf[self.len] = b;
                self.len += 1;
                match self.len {
                    1 | 2 if b != [0x1f, 0x8b][self.len - 1] => {
                        return Err(if self.after_member {
                            corrupt("unexpected data after the end of the gzip stream")
                        } else {
                            corrupt("not a gzip stream (bad magic bytes)")
                        });
                    }
                    3 if b != 8 => return Err(corrupt("unsupported gzip compression method")),
                    4 => {
                        if b & FRESERVED != 0 {
                            return Err(corrupt("reserved gzip header flags set"));
                        }
                        self.flags = b;
                    }
                    10 => return Ok(self.advance()),
                    _ => {}
                }
            }
            HeaderStep::ExtraLen => {
                self.buf[self.len] = b;
                self.len += 1;
                if self.len == 2 {
                    self.extra_left = usize::from(u16::from_le_bytes([self.buf[0], self.buf[1]]));
                    if self.extra_left == 0 {
                        return Ok(self.advance());
                    }
                    self.step = HeaderStep::Extra;
                }
            }
            HeaderStep::Extra => {
                self.extra_left -= 1;
                if self.extra_left == 0 {
                    return Ok(self.advance());
                }
            }
            HeaderStep::Name | HeaderStep::Comment => {
                if b == 0 {
                    return Ok(self.advance());
                }
            }
            HeaderStep::HeaderCrc => {
                self.buf[self.len] = b;
                self.len += 1;
                if self.len == 2 {
                    let want = u16::from_le_bytes([self.buf[0], self.buf[1]]);
                    // The CRC16 is the low 16 bits of the header's CRC32.
                    if (self.crc.sum() & 0xffff) as u16 != want {
                        return Err(corrupt("gzip header checksum mismatch"));
                    }
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }
}

#[derive(Debug)]
enum State {
    Identity,
    /// Deflate: collecting the first two bytes to tell zlib from raw deflate.
    Sniff {
        buf: [u8; 2],
        len: usize,
    },
    /// Deflate (zlib or raw) data being inflated.
    Inflate,
    /// Deflate stream complete.
    DeflateDone,
    GzHeader(Box<GzHeader>),
    GzBody,
    GzTrailer {
        buf: [u8; 8],
        len: usize,
    },
    /// At least one gzip member complete; more may follow.
    GzMemberDone,
}

/// Undoes a response body's content coding (gzip, deflate), streamed and
/// bounded: the decoded bytes of whatever compressed bytes it is fed.
#[derive(Debug)]
pub struct ContentDecoder {
    limit: u64,
    decoded: u64,
    /// Where the stream is; meaningless once `failed` is set.
    state: State,
    /// The error a call returned, returned again by every later call (the
    /// state is left where the error was found and never read again).
    failed: Option<DecodeError>,
    inflater: Option<Decompress>,
    /// CRC32 of the current gzip member's output.
    crc: Crc,
    /// Output bytes of the current gzip member.
    member_out: u64,
    /// Inflate output buffer (CHUNK bytes once inflating starts): decoded
    /// bytes are copied from here to `out` only up to the limit.
    scratch: Vec<u8>,
    /// At least one compressed byte was fed. Until then a body that ends is
    /// empty, not truncated.
    started: bool,
}

/// The name this decoder had before it was named for what it undoes.
#[deprecated(note = "renamed `ContentDecoder`")]
pub type Decoder = ContentDecoder;

impl ContentDecoder {
    /// `limit`: the most decoded bytes accepted in total (a decompression
    /// bomb ends with TooLarge, never by exhausting memory).
    pub fn new(coding: Coding, limit: u64) -> ContentDecoder {
        let state = match coding {
            Coding::Identity => State::Identity,
            Coding::Gzip => State::GzHeader(Box::new(GzHeader::new(false))),
            Coding::Deflate => State::Sniff {
                buf: [0; 2],
                len: 0,
            },
        };
        ContentDecoder {
            limit,
            decoded: 0,
            state,
            failed: None,
            inflater: None,
            crc: Crc::new(),
            member_out: 0,
            scratch: Vec::new(),
            started: false,
        }
    }

    /// Feeds compressed bytes; appends the decoded bytes to `out` (clear it
    /// yourself between calls). Never produces more than `limit` in total:
    /// when the limit would be passed, the bytes up to the limit are appended
    /// and `TooLarge` is returned. Works with input split at any byte.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = self.feed_inner(input, out);
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }

    /// End of the body: Ok if the stream was complete (gzip trailer seen and
    /// CRC32 and ISIZE match; deflate stream ended) or never started (an
    /// empty body), Err(Truncated) otherwise. Identity: always Ok (unless the
    /// limit was already hit).
    /// All output is already produced by `feed`, so nothing is appended to
    /// `out`; the parameter exists for API symmetry.
    pub fn finish(&mut self, _out: &mut Vec<u8>) -> Result<(), DecodeError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match &self.state {
            State::Identity | State::DeflateDone | State::GzMemberDone => Ok(()),
            _ if !self.started => Ok(()),
            _ => {
                self.failed = Some(DecodeError::Truncated);
                Err(DecodeError::Truncated)
            }
        }
    }

    /// Decoded bytes so far.
    pub fn decoded(&self) -> u64 {
        self.decoded
    }

    fn feed_inner(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError> {
        self.started |= !input.is_empty();
        while !input.is_empty() {
            match &mut self.state {
                State::Identity => {
                    let remaining = self.limit - self.decoded;
                    if input.len() as u64 > remaining {
                        // `remaining` < input.len(), so it fits in usize.
                        out.extend_from_slice(&input[..remaining as usize]);
                        self.decoded = self.limit;
                        return Err(DecodeError::TooLarge { limit: self.limit });
                    }
                    out.extend_from_slice(input);
                    self.decoded += input.len() as u64;
                    input = &[];
                }
                State::Sniff { buf, len } => {
                    buf[*len] = input[0];
                    *len += 1;
                    input = &input[1..];
                    if *len == 2 {
                        let head = *buf;
                        self.inflater = Some(Decompress::new(is_zlib_header(head[0], head[1])));
                        self.state = State::Inflate;
                        let used = self.inflate(&head, out)?;
                        if used < head.len() {
                            return Err(corrupt(
                                "unexpected data after the end of the deflate stream",
                            ));
                        }
                    }
                }
                State::Inflate | State::GzBody => {
                    let used = self.inflate(input, out)?;
                    input = &input[used..];
                }
                State::DeflateDone => {
                    return Err(corrupt(
                        "unexpected data after the end of the deflate stream",
                    ));
                }
                State::GzHeader(header) => {
                    let mut complete = false;
                    while let Some((&b, rest)) = input.split_first() {
                        input = rest;
                        if header.push(b)? {
                            complete = true;
                            break;
                        }
                    }
                    if complete {
                        match &mut self.inflater {
                            Some(d) => d.reset(false),
                            None => self.inflater = Some(Decompress::new(false)),
                        }
                        self.crc.reset();
                        self.member_out = 0;
                        self.state = State::GzBody;
                    }
                }
                State::GzTrailer { buf, len } => {
                    let take = (8 - *len).min(input.len());
                    buf[*len..*len + take].copy_from_slice(&input[..take]);
                    *len += take;
                    input = &input[take..];
                    if *len == 8 {
                        let crc = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
                        let isize = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]);
                        if crc != self.crc.sum() {
                            return Err(corrupt("gzip CRC32 mismatch"));
                        }
                        // ISIZE is the member length modulo 2^32.
                        if isize != self.member_out as u32 {
                            return Err(corrupt("gzip length (ISIZE) mismatch"));
                        }
                        self.state = State::GzMemberDone;
                    }
                }
                State::GzMemberDone => {
                    self.state = State::GzHeader(Box::new(GzHeader::new(true)));
                }
            }
        }
        Ok(())
    }

    /// Inflates from `input` into `out` until the input is used up (and all
    /// pending output is drained) or the deflate stream ends. Returns the
    /// number of input bytes consumed; on stream end switches the state.
    fn inflate(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, DecodeError> {
        let gzip = matches!(self.state, State::GzBody);
        let Some(d) = self.inflater.as_mut() else {
            return Err(corrupt("internal error: no inflater"));
        };
        if self.scratch.is_empty() {
            self.scratch = vec![0; CHUNK];
        }
        let mut pos = 0;
        loop {
            let remaining = self.limit - self.decoded;
            // One byte more than allowed, to notice a stream that goes past
            // the limit.
            let room = remaining.saturating_add(1).min(CHUNK as u64) as usize;
            let scratch = &mut self.scratch[..room];
            let (in_before, out_before) = (d.total_in(), d.total_out());
            let result = d.decompress(&input[pos..], scratch, FlushDecompress::None);
            let consumed = (d.total_in() - in_before) as usize;
            let produced = (d.total_out() - out_before) as usize;
            pos += consumed;
            let status = result.map_err(|e| inflate_error(&e))?;
            if produced as u64 > remaining {
                // `remaining` < `produced` <= CHUNK: fits in usize.
                out.extend_from_slice(&scratch[..remaining as usize]);
                self.decoded = self.limit;
                return Err(DecodeError::TooLarge { limit: self.limit });
            }
            let fresh = &scratch[..produced];
            out.extend_from_slice(fresh);
            self.decoded += produced as u64;
            if gzip {
                self.crc.update(fresh);
                self.member_out += produced as u64;
            }
            match status {
                Status::StreamEnd => {
                    self.state = if gzip {
                        State::GzTrailer {
                            buf: [0; 8],
                            len: 0,
                        }
                    } else {
                        State::DeflateDone
                    };
                    return Ok(pos);
                }
                Status::Ok | Status::BufError => {
                    if consumed == 0 && produced == 0 {
                        if pos < input.len() {
                            // Input and output room available but no
                            // progress: never expected from a sane inflater;
                            // refuse rather than loop or drop input.
                            return Err(corrupt("deflate decoder made no progress"));
                        }
                        return Ok(pos);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
    use proptest::prelude::*;
    use std::io::Write;

    fn gzip(data: &[u8], level: u32) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::new(level));
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn zlib(data: &[u8], level: u32) -> Vec<u8> {
        let mut e = ZlibEncoder::new(Vec::new(), Compression::new(level));
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn raw(data: &[u8], level: u32) -> Vec<u8> {
        let mut e = DeflateEncoder::new(Vec::new(), Compression::new(level));
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// Feeds `input` in pieces whose sizes cycle through `sizes`, clearing
    /// `out` between calls as the API requires; returns the whole output.
    fn decode_split(
        coding: Coding,
        limit: u64,
        input: &[u8],
        sizes: &[usize],
    ) -> Result<Vec<u8>, DecodeError> {
        let mut d = ContentDecoder::new(coding, limit);
        let mut all = Vec::new();
        let mut out = Vec::new();
        let mut rest = input;
        let mut i = 0;
        while !rest.is_empty() {
            let n = sizes[i % sizes.len()].clamp(1, rest.len());
            i += 1;
            out.clear();
            d.feed(&rest[..n], &mut out)?;
            all.extend_from_slice(&out);
            rest = &rest[n..];
        }
        out.clear();
        d.finish(&mut out)?;
        all.extend_from_slice(&out);
        assert_eq!(d.decoded(), all.len() as u64);
        Ok(all)
    }

    fn decode_whole(coding: Coding, input: &[u8]) -> Result<Vec<u8>, DecodeError> {
        decode_split(coding, u64::MAX, input, &[usize::MAX])
    }

    fn decode_bytewise(coding: Coding, input: &[u8]) -> Result<Vec<u8>, DecodeError> {
        decode_split(coding, u64::MAX, input, &[1])
    }

    /// ~150 KB: text-like runs plus pseudo-random bytes (several chunks of
    /// output, stored and Huffman blocks).
    fn sample() -> Vec<u8> {
        let mut v = Vec::new();
        let mut x: u32 = 12345;
        for i in 0..3000 {
            v.extend_from_slice(format!("line {i}: the quick brown fox\n").as_bytes());
            for _ in 0..20 {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                v.push((x >> 16) as u8);
            }
        }
        v
    }

    #[test]
    fn gzip_round_trip_whole_and_bytewise() {
        let data = sample();
        let enc = gzip(&data, 6);
        assert_eq!(decode_whole(Coding::Gzip, &enc).unwrap(), data);
        assert_eq!(decode_bytewise(Coding::Gzip, &enc).unwrap(), data);
    }

    #[test]
    fn zlib_deflate_round_trip_whole_and_bytewise() {
        let data = sample();
        let enc = zlib(&data, 6);
        assert!(is_zlib_header(enc[0], enc[1]));
        assert_eq!(decode_whole(Coding::Deflate, &enc).unwrap(), data);
        assert_eq!(decode_bytewise(Coding::Deflate, &enc).unwrap(), data);
    }

    #[test]
    fn raw_deflate_round_trip_whole_and_bytewise() {
        let data = sample();
        for level in [0, 1, 9] {
            let enc = raw(&data, level);
            assert!(!is_zlib_header(enc[0], enc[1]));
            assert_eq!(decode_whole(Coding::Deflate, &enc).unwrap(), data);
            assert_eq!(decode_bytewise(Coding::Deflate, &enc).unwrap(), data);
        }
    }

    #[test]
    fn a_zlib_header_needs_the_method_the_window_and_the_check_bits() {
        // 0x78 0x9c, zlib's default header, and its neighbours that miss one of the three.
        assert!(is_zlib_header(0x78, 0x9c));
        assert!(!is_zlib_header(0x78, 0x9d), "check bits");
        // Method 8 with a 64 KiB window (CINFO 8), check bits right: 0x88 * 256 + 0x1c = 31 * 1125.
        assert!(!is_zlib_header(0x88, 0x1c), "window");
        // Method 1, check bits right: 0x01 * 256 + 0x17 = 31 * 9.
        assert!(!is_zlib_header(0x01, 0x17), "method");
        // A raw stored block of 23 bytes starts with exactly those two bytes (BFINAL, type 0,
        // then LEN = 23 = 0x17): it is raw deflate, not a zlib stream.
        let data: Vec<u8> = (b'a'..).take(23).collect();
        let mut enc = vec![0x01, 0x17, 0x00, 0xe8, 0xff];
        enc.extend_from_slice(&data);
        assert_eq!(decode_whole(Coding::Deflate, &enc).unwrap(), data);
        assert_eq!(decode_bytewise(Coding::Deflate, &enc).unwrap(), data);
    }

    #[test]
    fn empty_payloads_round_trip() {
        assert_eq!(decode_bytewise(Coding::Gzip, &gzip(b"", 6)).unwrap(), b"");
        assert_eq!(
            decode_bytewise(Coding::Deflate, &zlib(b"", 6)).unwrap(),
            b""
        );
        assert_eq!(decode_bytewise(Coding::Deflate, &raw(b"", 6)).unwrap(), b"");
        assert_eq!(decode_bytewise(Coding::Identity, b"").unwrap(), b"");
    }

    #[test]
    fn identity_passes_through_and_is_bounded() {
        assert_eq!(
            decode_bytewise(Coding::Identity, b"hello").unwrap(),
            b"hello"
        );
        let mut d = ContentDecoder::new(Coding::Identity, 3);
        let mut out = Vec::new();
        assert_eq!(
            d.feed(b"hello", &mut out),
            Err(DecodeError::TooLarge { limit: 3 })
        );
        assert_eq!(out, b"hel");
        assert_eq!(d.decoded(), 3);
    }

    #[test]
    fn identity_up_to_exactly_the_limit_is_accepted() {
        let mut d = ContentDecoder::new(Coding::Identity, 5);
        let mut out = Vec::new();
        assert_eq!(d.feed(b"hel", &mut out), Ok(()));
        assert_eq!(d.feed(b"lo", &mut out), Ok(()));
        assert_eq!(out, b"hello");
        assert_eq!(d.decoded(), 5);
        assert_eq!(d.feed(b"", &mut out), Ok(()));
        assert_eq!(
            d.feed(b"!", &mut out),
            Err(DecodeError::TooLarge { limit: 5 })
        );
        assert_eq!(out, b"hello");
    }

    /// A gzip member with every optional header field, built by hand.
    fn gzip_all_fields(payload: &[u8], good_hcrc: bool) -> (Vec<u8>, usize) {
        let mut v = vec![0x1f, 0x8b, 8, FTEXT_FLAGS, 1, 2, 3, 4, 0, 255];
        v.extend_from_slice(&5u16.to_le_bytes());
        v.extend_from_slice(b"AB\x03\x00x"); // FEXTRA: one subfield
        v.extend_from_slice(b"file.txt\0");
        v.extend_from_slice(b"a comment\0");
        let mut hcrc = Crc::new();
        hcrc.update(&v);
        let mut c = (hcrc.sum() & 0xffff) as u16;
        if !good_hcrc {
            c ^= 1;
        }
        v.extend_from_slice(&c.to_le_bytes());
        let header_len = v.len();
        v.extend_from_slice(&raw(payload, 6));
        let mut crc = Crc::new();
        crc.update(payload);
        v.extend_from_slice(&crc.sum().to_le_bytes());
        v.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        (v, header_len)
    }
    const FTEXT_FLAGS: u8 = 0x01 | FHCRC | FEXTRA | FNAME | FCOMMENT;

    #[test]
    fn gzip_header_fields_split_across_feeds() {
        let payload = b"payload with every header field".repeat(10);
        let (enc, header_len) = gzip_all_fields(&payload, true);
        assert_eq!(decode_bytewise(Coding::Gzip, &enc).unwrap(), payload);
        for split in 0..=header_len + 1 {
            let mut d = ContentDecoder::new(Coding::Gzip, u64::MAX);
            let mut all = Vec::new();
            let mut out = Vec::new();
            d.feed(&enc[..split], &mut out).unwrap();
            all.extend_from_slice(&out);
            out.clear();
            d.feed(&enc[split..], &mut out).unwrap();
            all.extend_from_slice(&out);
            d.finish(&mut out).unwrap();
            assert_eq!(all, payload, "split at {split}");
        }
        let (bad, _) = gzip_all_fields(&payload, false);
        assert!(matches!(
            decode_bytewise(Coding::Gzip, &bad),
            Err(DecodeError::Corrupt(_))
        ));
    }

    #[test]
    fn bad_crc_and_isize_are_corrupt() {
        let data = sample();
        let enc = gzip(&data, 6);
        let n = enc.len();
        let mut bad_crc = enc.clone();
        bad_crc[n - 8] ^= 0x55;
        let err = decode_whole(Coding::Gzip, &bad_crc).unwrap_err();
        assert_eq!(err, corrupt("gzip CRC32 mismatch"));
        let mut bad_len = enc.clone();
        bad_len[n - 1] ^= 0x01;
        assert_eq!(
            decode_bytewise(Coding::Gzip, &bad_len).unwrap_err(),
            corrupt("gzip length (ISIZE) mismatch")
        );
        let mut bad_adler = zlib(&data, 6);
        let m = bad_adler.len();
        bad_adler[m - 1] ^= 0x01;
        assert!(matches!(
            decode_whole(Coding::Deflate, &bad_adler),
            Err(DecodeError::Corrupt(_))
        ));
    }

    #[test]
    fn truncated_streams_fail_at_finish() {
        let data = sample();
        for enc in [gzip(&data, 6), zlib(&data, 6), raw(&data, 6)] {
            let coding = if enc[0] == 0x1f {
                Coding::Gzip
            } else {
                Coding::Deflate
            };
            for cut in [1, 2, 4, 7, enc.len() / 2, enc.len() - 1] {
                let short = &enc[..enc.len() - cut];
                assert_eq!(
                    decode_whole(coding, short),
                    Err(DecodeError::Truncated),
                    "{coding:?} cut {cut}"
                );
            }
        }
        assert_eq!(
            decode_whole(Coding::Deflate, b"\x78"),
            Err(DecodeError::Truncated)
        );
        // Header only.
        assert_eq!(
            decode_whole(Coding::Gzip, &gzip(b"x", 6)[..10]),
            Err(DecodeError::Truncated)
        );
    }

    #[test]
    fn an_empty_body_is_empty_not_truncated() {
        for coding in [Coding::Gzip, Coding::Deflate, Coding::Identity] {
            assert_eq!(decode_whole(coding, b""), Ok(Vec::new()), "{coding:?}");
            // Empty feeds are no bytes either.
            let mut d = ContentDecoder::new(coding, 100);
            let mut out = Vec::new();
            d.feed(b"", &mut out).unwrap();
            d.feed(b"", &mut out).unwrap();
            assert_eq!(d.finish(&mut out), Ok(()), "{coding:?}");
            assert!(out.is_empty());
            assert_eq!(d.decoded(), 0);
        }
    }

    #[test]
    fn one_byte_then_the_end_is_truncated() {
        assert_eq!(
            decode_whole(Coding::Gzip, b"\x1f"),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            decode_whole(Coding::Deflate, b"\x78"),
            Err(DecodeError::Truncated)
        );
    }

    #[test]
    fn garbage_is_corrupt() {
        let is_corrupt =
            |r: Result<Vec<u8>, DecodeError>| matches!(r, Err(DecodeError::Corrupt(_)));
        assert!(is_corrupt(decode_whole(
            Coding::Gzip,
            b"<html>not gzip</html>"
        )));
        assert!(is_corrupt(decode_bytewise(Coding::Gzip, b"\x1f\x8c")));
        assert!(is_corrupt(decode_whole(Coding::Gzip, b"\x1f\x8b\x07\x00")));
        assert!(is_corrupt(decode_whole(Coding::Gzip, b"\x1f\x8b\x08\x20")));
        // Valid gzip header, then a deflate block of reserved type 3.
        let mut g = gzip(b"", 6)[..10].to_vec();
        g.extend_from_slice(&[0xff; 16]);
        assert!(is_corrupt(decode_whole(Coding::Gzip, &g)));
        assert!(is_corrupt(decode_whole(Coding::Deflate, &[0xff; 16])));
        assert!(is_corrupt(decode_bytewise(Coding::Deflate, &[0xff; 16])));
        // zlib header announcing a preset dictionary.
        assert!(is_corrupt(decode_whole(
            Coding::Deflate,
            b"\x78\xbb\x00\x00\x00\x01\x03\x00"
        )));
        // Error message wording.
        let e = decode_whole(Coding::Gzip, b"nope").unwrap_err();
        assert_eq!(
            e.to_string(),
            "compressed body is corrupt: not a gzip stream (bad magic bytes)"
        );
    }

    #[test]
    fn a_truncation_found_by_finish_is_returned_again_by_feed() {
        let g = gzip(b"hello", 6);
        let mut d = ContentDecoder::new(Coding::Gzip, 100);
        let mut out = Vec::new();
        d.feed(&g[..g.len() - 4], &mut out).unwrap();
        assert_eq!(d.finish(&mut out), Err(DecodeError::Truncated));
        // The rest arriving after the end does not complete it: it failed, it stays failed.
        assert_eq!(
            d.feed(&g[g.len() - 4..], &mut out),
            Err(DecodeError::Truncated)
        );
        assert_eq!(d.finish(&mut out), Err(DecodeError::Truncated));
    }

    #[test]
    fn trailing_data_is_corrupt_and_decoder_stays_poisoned() {
        let mut g = gzip(b"hello", 6);
        g.extend_from_slice(b"\0\0");
        assert_eq!(
            decode_whole(Coding::Gzip, &g),
            Err(corrupt("unexpected data after the end of the gzip stream"))
        );
        let mut z = zlib(b"hello", 6);
        z.push(0);
        assert!(matches!(
            decode_bytewise(Coding::Deflate, &z),
            Err(DecodeError::Corrupt(_))
        ));
        let mut d = ContentDecoder::new(Coding::Deflate, 100);
        let mut out = Vec::new();
        let mut r = raw(b"hello", 6);
        r.push(1);
        let err = d.feed(&r, &mut out).unwrap_err();
        assert_eq!(out, b"hello");
        assert_eq!(d.feed(b"", &mut out), Err(err.clone()));
        assert_eq!(d.finish(&mut out), Err(err));
    }

    #[test]
    fn bomb_stops_at_limit() {
        let limit = 1024 * 1024;
        let mut e = GzEncoder::new(Vec::new(), Compression::new(9));
        let zeros = vec![0u8; 1024 * 1024];
        for _ in 0..100 {
            e.write_all(&zeros).unwrap();
        }
        let bomb = e.finish().unwrap();
        assert!(bomb.len() < 200_000, "bomb is {} bytes", bomb.len());

        let started = std::time::Instant::now();
        let mut d = ContentDecoder::new(Coding::Gzip, limit);
        let mut out = Vec::new();
        let mut max_len = 0;
        let mut total = 0u64;
        let mut result = Ok(());
        let mut fed = 0;
        for piece in bomb.chunks(4096) {
            out.clear();
            result = d.feed(piece, &mut out);
            fed += piece.len();
            max_len = max_len.max(out.len());
            assert!(out.len() <= 4096 * 1100);
            total += out.len() as u64;
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(DecodeError::TooLarge { limit }));
        assert!(max_len as u64 <= limit);
        assert_eq!(total, limit);
        assert_eq!(d.decoded(), limit);
        assert!(fed < bomb.len() / 10, "fed {fed} of {}", bomb.len());
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        assert_eq!(d.finish(&mut out), Err(DecodeError::TooLarge { limit }));
        assert_eq!(
            DecodeError::TooLarge { limit }.to_string(),
            "decompressed body larger than the limit of 1048576 bytes"
        );
    }

    #[test]
    fn limit_is_exact() {
        let data = sample();
        let n = data.len() as u64;
        for enc in [
            (Coding::Gzip, gzip(&data, 6)),
            (Coding::Deflate, raw(&data, 6)),
        ] {
            assert_eq!(decode_split(enc.0, n, &enc.1, &[777]).unwrap(), data);
            let mut d = ContentDecoder::new(enc.0, n - 1);
            let mut out = Vec::new();
            assert_eq!(
                d.feed(&enc.1, &mut out),
                Err(DecodeError::TooLarge { limit: n - 1 })
            );
            assert_eq!(out, &data[..data.len() - 1]);
        }
        let mut d = ContentDecoder::new(Coding::Gzip, 0);
        let mut out = Vec::new();
        assert_eq!(d.feed(&gzip(b"", 6), &mut out), Ok(()));
        assert_eq!(d.finish(&mut out), Ok(()));
        let mut d = ContentDecoder::new(Coding::Gzip, 0);
        assert_eq!(
            d.feed(&gzip(b"x", 6), &mut out),
            Err(DecodeError::TooLarge { limit: 0 })
        );
        assert!(out.is_empty());
    }

    #[test]
    fn concatenated_gzip_members() {
        let a = b"first member payload ".repeat(100);
        let b = sample();
        let mut enc = gzip(&a, 6);
        enc.extend_from_slice(&gzip(&b, 1));
        enc.extend_from_slice(&gzip(b"", 6));
        let mut want = a.clone();
        want.extend_from_slice(&b);
        assert_eq!(decode_whole(Coding::Gzip, &enc).unwrap(), want);
        assert_eq!(decode_bytewise(Coding::Gzip, &enc).unwrap(), want);
        // A truncated second member is still truncation.
        let mut partial = gzip(&a, 6);
        partial.extend_from_slice(&gzip(&b, 6)[..5]);
        assert_eq!(
            decode_whole(Coding::Gzip, &partial),
            Err(DecodeError::Truncated)
        );
    }

    #[test]
    fn a_gzip_trailer_split_across_feeds_then_the_next_member() {
        // The first member's 8-byte trailer arrives in two feeds, the second one carrying the
        // rest of the trailer and all of the next member: every split point inside the trailer.
        let a = b"first member payload ".repeat(100);
        let first = gzip(&a, 6);
        let mut enc = first.clone();
        enc.extend_from_slice(&gzip(b"second", 6));
        let mut want = a.clone();
        want.extend_from_slice(b"second");
        for split in first.len() - 7..first.len() {
            let sizes = [split, usize::MAX];
            assert_eq!(
                decode_split(Coding::Gzip, u64::MAX, &enc, &sizes).unwrap(),
                want,
                "split at {split}"
            );
        }
    }

    #[test]
    fn coding_from_header() {
        let h = |s: &str| Coding::from_header(Some(s.as_bytes()));
        assert_eq!(Coding::from_header(None), Some(Coding::Identity));
        assert_eq!(h("gzip"), Some(Coding::Gzip));
        assert_eq!(h(" GZip \t"), Some(Coding::Gzip));
        assert_eq!(h("x-gzip"), Some(Coding::Gzip));
        assert_eq!(h("X-GZIP"), Some(Coding::Gzip));
        assert_eq!(h("deflate"), Some(Coding::Deflate));
        assert_eq!(h("Deflate"), Some(Coding::Deflate));
        assert_eq!(h("identity"), Some(Coding::Identity));
        assert_eq!(h("IDENTITY"), Some(Coding::Identity));
        assert_eq!(h(""), Some(Coding::Identity));
        assert_eq!(h("br"), None);
        assert_eq!(h("zstd"), None);
        assert_eq!(h("compress"), None);
        assert_eq!(h("gzip, gzip"), None);
        assert_eq!(h("gzip,deflate"), None);
        assert_eq!(h("gzipx"), None);
        assert_eq!(Coding::from_header(Some(b"\xffgzip")), None);
        assert_eq!(
            DecodeError::Truncated.to_string(),
            "compressed body ended early"
        );
    }

    fn encode(kind: u8, data: &[u8], level: u32) -> (Coding, Vec<u8>) {
        match kind {
            0 => (Coding::Gzip, gzip(data, level)),
            1 => (Coding::Deflate, zlib(data, level)),
            _ => (Coding::Deflate, raw(data, level)),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn prop_round_trip(
            chunk in proptest::collection::vec(any::<u8>(), 0..2048),
            repeat in 1usize..40,
            level in 0u32..=9,
            kind in 0u8..3,
            sizes in proptest::collection::vec(1usize..3000, 1..16),
        ) {
            let data = chunk.repeat(repeat);
            let (coding, enc) = encode(kind, &data, level);
            prop_assert_eq!(decode_split(coding, u64::MAX, &enc, &sizes).unwrap(), data.clone());
            // With an exact limit it still succeeds; one less must fail.
            let n = data.len() as u64;
            prop_assert_eq!(decode_split(coding, n, &enc, &sizes).unwrap(), data);
            if n > 0 {
                prop_assert_eq!(
                    decode_split(coding, n - 1, &enc, &sizes),
                    Err(DecodeError::TooLarge { limit: n - 1 })
                );
            }
        }

        #[test]
        fn prop_arbitrary_bytes_never_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..4096),
            gz in any::<bool>(),
            prefix in any::<bool>(),
            sizes in proptest::collection::vec(1usize..600, 1..8),
            limit in 0u64..100_000,
        ) {
            // Optionally start with a plausible header to get past sniffing.
            let mut input = match (gz, prefix) {
                (true, true) => vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3],
                (false, true) => vec![0x78, 0x9c],
                _ => Vec::new(),
            };
            input.extend_from_slice(&bytes);
            let coding = if gz { Coding::Gzip } else { Coding::Deflate };
            let _ = decode_split(coding, limit, &input, &sizes);
        }

        #[test]
        fn prop_mutated_streams_never_panic(
            chunk in proptest::collection::vec(any::<u8>(), 1..1024),
            repeat in 1usize..8,
            kind in 0u8..3,
            flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
            sizes in proptest::collection::vec(1usize..300, 1..8),
        ) {
            let data = chunk.repeat(repeat);
            let (coding, mut enc) = encode(kind, &data, 6);
            for (at, x) in flips {
                let i = at.index(enc.len());
                enc[i] ^= x;
            }
            if let Ok(got) = decode_split(coding, 1 << 20, &enc, &sizes) {
                // Checksummed formats must not silently return wrong data.
                // (A damaged zlib header may turn the input into raw deflate.)
                if kind == 0 || (kind == 1 && is_zlib_header(enc[0], enc[1])) {
                    prop_assert_eq!(got, data);
                }
            }
        }
    }
}
