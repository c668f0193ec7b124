//! Byte searches over the short distances inside one log line: the end of a host name, a
//! key's `=`, the `[` before a pid. Most end within 16 or 32 bytes, where a general search
//! (memchr) spends more on its set-up than on the search, and a byte-by-byte loop pays a
//! mispredicted exit whose position changes from line to line. Here each step compares 16
//! bytes at once (SSE2, part of every x86_64 CPU; a portable loop elsewhere) and turns the
//! matches into a bit mask: one predictable branch per 16 bytes.
//!
//! `SET` holds the bytes looked for (one to four); a search finds the first (or last) byte of
//! `s` that is any of them.
//!
//! [`bitmap_into`] is the one search over a whole chunk: its line ends, found in one pass.

/// Bit `i` of the result is set when `block[i]` is one of `set`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn mask16<const N: usize>(block: &[u8; 16], set: [u8; N]) -> u32 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        _mm_setzero_si128,
    };
    // SAFETY: SSE2 is in the x86_64 baseline, so these intrinsics are always available; the
    // unaligned load reads exactly the 16 bytes that `block` borrows.
    unsafe {
        let v = _mm_loadu_si128(block.as_ptr().cast::<__m128i>());
        let mut hits = _mm_setzero_si128();
        for b in set {
            hits = _mm_or_si128(hits, _mm_cmpeq_epi8(v, _mm_set1_epi8(b as i8)));
        }
        _mm_movemask_epi8(hits) as u32
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn mask16<const N: usize>(block: &[u8; 16], set: [u8; N]) -> u32 {
    let mut m = 0u32;
    for (i, c) in block.iter().enumerate() {
        if set.contains(c) {
            m |= 1 << i;
        }
    }
    m
}

/// The 16 bytes of `s` from `at` (the caller keeps `at + 16 <= s.len()`).
#[inline(always)]
fn block_at(s: &[u8], at: usize) -> &[u8; 16] {
    match s.get(at..).and_then(|r| r.first_chunk::<16>()) {
        Some(b) => b,
        None => &[0; 16],
    }
}

/// `s` (shorter than 16 bytes; more are cut) in a zero-padded block, built from two loads
/// that overlap (where they overlap they hold the same bytes): a copy of variable length
/// would call `memcpy`.
#[inline(always)]
fn load_short(s: &[u8]) -> [u8; 16] {
    let s = &s[..s.len().min(15)];
    let n = s.len();
    let v: u128 = if n >= 8 {
        let lo = s.first_chunk::<8>().map_or(0, |w| u64::from_le_bytes(*w));
        let hi = s.last_chunk::<8>().map_or(0, |w| u64::from_le_bytes(*w));
        u128::from(lo) | (u128::from(hi) << (8 * (n - 8)))
    } else if n >= 4 {
        let lo = s.first_chunk::<4>().map_or(0, |w| u32::from_le_bytes(*w));
        let hi = s.last_chunk::<4>().map_or(0, |w| u32::from_le_bytes(*w));
        u128::from(lo) | (u128::from(hi) << (8 * (n - 4)))
    } else {
        // one to three bytes: the first, the middle and the last cover them
        let at = |i: usize| s.get(i).map_or(0, |&b| u128::from(b) << (8 * i));
        if n == 0 {
            0
        } else {
            at(0) | at(n / 2) | at(n - 1)
        }
    };
    v.to_le_bytes()
}

/// The matches in `s` (shorter than 16 bytes), searched in a zero-padded block whose padding
/// is masked out.
#[inline(always)]
fn short_mask<const N: usize>(s: &[u8], set: [u8; N]) -> u32 {
    let n = s.len().min(15);
    mask16(&load_short(s), set) & ((1u32 << n) - 1)
}

/// Position of the first byte of `s` that is one of `set`.
#[inline]
pub fn find_any<const N: usize>(s: &[u8], set: [u8; N]) -> Option<usize> {
    let n = s.len();
    if n < 16 {
        let m = short_mask(s, set);
        return (m != 0).then(|| m.trailing_zeros() as usize);
    }
    let mut i = 0;
    while i + 16 <= n {
        let m = mask16(block_at(s, i), set);
        if m != 0 {
            return Some(i + m.trailing_zeros() as usize);
        }
        i += 16;
    }
    if i < n {
        // the last 16 bytes, overlapping what was searched: shift those bytes out
        let last = n - 16;
        let m = mask16(block_at(s, last), set) >> (i - last);
        if m != 0 {
            return Some(i + m.trailing_zeros() as usize);
        }
    }
    None
}

/// Position of the last byte of `s` that is one of `set`.
#[inline]
pub fn rfind_any<const N: usize>(s: &[u8], set: [u8; N]) -> Option<usize> {
    let n = s.len();
    if n < 16 {
        let m = short_mask(s, set);
        return (m != 0).then(|| 31 - m.leading_zeros() as usize);
    }
    // blocks from the end: [n-16, n), [n-32, n-16), ...; the first block may overlap
    let mut end = n;
    while end >= 16 {
        let at = end - 16;
        let m = mask16(block_at(s, at), set);
        if m != 0 {
            return Some(at + 31 - m.leading_zeros() as usize);
        }
        end = at;
    }
    if end > 0 {
        // the first 16 bytes, keeping only those before `end`
        let m = mask16(block_at(s, 0), set) & ((1u32 << end) - 1);
        if m != 0 {
            return Some(31 - m.leading_zeros() as usize);
        }
    }
    None
}

/// Position of the first `b` in the first 16 bytes of `s`, searched inline; `None` when `s` is
/// shorter or holds none there (it may hold one further on).
#[inline(always)]
pub fn find_near(s: &[u8], b: u8) -> Option<usize> {
    let m = mask16(s.first_chunk::<16>()?, [b]);
    (m != 0).then(|| m.trailing_zeros() as usize)
}

/// Position of the first `a` in `s` that `b` follows (`", "` after a value, `": "` after a
/// queue id): the two bytes' masks of a block and of the block one byte on, ANDed. Most
/// pairs looked for lie in the first block, which is searched inline.
#[inline(always)]
pub fn find_pair(s: &[u8], a: u8, b: u8) -> Option<usize> {
    match find_pair_near(s, a, b) {
        Some(i) => Some(i),
        None => find_pair_from(s, a, b),
    }
}

/// [`find_pair`] over the first 16 positions of `s` (which must hold 17 bytes), inline; `None`
/// when there is no pair there (there may be one further on).
#[inline(always)]
pub fn find_pair_near(s: &[u8], a: u8, b: u8) -> Option<usize> {
    let first = s.first_chunk::<16>()?;
    let next = s.get(1..).and_then(|r| r.first_chunk::<16>())?;
    let m = mask16(first, [a]) & mask16(next, [b]);
    (m != 0).then(|| m.trailing_zeros() as usize)
}

/// [`find_pair`] from the start of `s`, out of line.
#[inline(never)]
fn find_pair_from(s: &[u8], a: u8, b: u8) -> Option<usize> {
    let n = s.len();
    if n < 17 {
        // zero-padded blocks; a pair must lie wholly inside `s`
        let first = match s.first_chunk::<16>() {
            Some(b) => *b,
            None => load_short(s),
        };
        let next = load_short(s.get(1..).unwrap_or_default());
        let m = mask16(&first, [a]) & mask16(&next, [b]);
        let m = m & ((1u32 << n.saturating_sub(1)) - 1);
        return (m != 0).then(|| m.trailing_zeros() as usize);
    }
    let mut i = 0;
    while i + 17 <= n {
        let m = mask16(block_at(s, i), [a]) & mask16(block_at(s, i + 1), [b]);
        if m != 0 {
            return Some(i + m.trailing_zeros() as usize);
        }
        i += 16;
    }
    if i + 1 < n {
        // the last pairs, overlapping what was searched: shift those out
        let last = n - 17;
        let m = (mask16(block_at(s, last), [a]) & mask16(block_at(s, last + 1), [b])) >> (i - last);
        if m != 0 {
            return Some(i + m.trailing_zeros() as usize);
        }
    }
    None
}

/// Bit `i` of the result is set when `block[i]` lies in one of the inclusive byte ranges
/// `ranges` (each `(lo, hi)` with `lo <= hi <= 0x7f`: ASCII ranges, as the signed compares
/// below need; bytes above 0x7f are in none).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub fn ranges_mask16<const N: usize>(block: &[u8; 16], ranges: [(u8, u8); N]) -> u32 {
    use std::arch::x86_64::{
        __m128i, _mm_and_si128, _mm_cmpgt_epi8, _mm_cmplt_epi8, _mm_loadu_si128, _mm_movemask_epi8,
        _mm_or_si128, _mm_set1_epi8, _mm_setzero_si128,
    };
    debug_assert!(ranges.iter().all(|&(lo, hi)| lo <= hi && hi <= 0x7f));
    // SAFETY: SSE2 is in the x86_64 baseline, so these intrinsics are always available; the
    // unaligned load reads exactly the 16 bytes that `block` borrows.
    unsafe {
        let v = _mm_loadu_si128(block.as_ptr().cast::<__m128i>());
        let mut hits = _mm_setzero_si128();
        for (lo, hi) in ranges {
            // signed: bytes above 0x7f are negative, so below `lo` (and not above `lo - 1`,
            // which is -1 at the least); `hi` 0x7f bounds nothing else
            let above = _mm_cmpgt_epi8(v, _mm_set1_epi8((lo as i8).wrapping_sub(1)));
            let inside = if hi == 0x7f {
                above
            } else {
                _mm_and_si128(
                    above,
                    _mm_cmplt_epi8(v, _mm_set1_epi8((hi as i8).wrapping_add(1))),
                )
            };
            hits = _mm_or_si128(hits, inside);
        }
        _mm_movemask_epi8(hits) as u32
    }
}

/// [`ranges_mask16`] byte by byte.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
pub fn ranges_mask16<const N: usize>(block: &[u8; 16], ranges: [(u8, u8); N]) -> u32 {
    let mut m = 0u32;
    for (i, c) in block.iter().enumerate() {
        if ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(c)) {
            m |= 1 << i;
        }
    }
    m
}

/// Position of the first `b` in `s`.
#[inline]
pub fn find(s: &[u8], b: u8) -> Option<usize> {
    find_any(s, [b])
}

/// Position of the last `b` in `s`.
#[inline]
pub fn rfind(s: &[u8], b: u8) -> Option<usize> {
    rfind_any(s, [b])
}

/// The line ends (`\n`) of `s` as a bitmap in `out`, which has one word per 64 bytes of `s`
/// (the last one possibly partial): bit `i % 64` of word `i / 64` is set when `s[i]` is a
/// newline. Lines are a few hundred bytes long, so a search per line (memchr) pays its set-up
/// and tail code on every line; one pass, 64 bytes a step with the widest compare the CPU
/// has, then costs a few instructions a line. Also tells, from the same pass, whether `s`
/// holds a NUL byte and whether it is all ASCII.
fn bitmap_into(s: &[u8], out: &mut [u64]) -> ChunkBytes {
    debug_assert_eq!(out.len(), s.len().div_ceil(64));
    let full = s.len() / 64;
    let mut done = 0;
    let mut bytes = ChunkBytes {
        nul: false,
        ascii: true,
    };
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512bw") {
            // SAFETY: the CPU has AVX-512BW (checked just above).
            bytes = unsafe { bitmap_avx512(s, &mut out[..full]) };
            done = full;
        } else if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above).
            bytes = unsafe { bitmap_avx2(s, &mut out[..full]) };
            done = full;
        }
    }
    // the blocks no vector path took, and the last partial one
    for (k, w) in out.iter_mut().enumerate().skip(done) {
        let (m, b) = block_masks_portable(s, 64 * k);
        *w = m;
        bytes.nul |= b.nul;
        bytes.ascii &= b.ascii;
    }
    bytes
}

/// Bytes of a chunk that [`LineEnds`] searches at a time.
const PIECE: usize = 16 << 10;

/// The line ends of a chunk found piece by piece, as its lines are read, rather than in one
/// pass before them: reading a piece's line ends asks the memory for the bytes two pieces
/// ahead, so that they come in while the lines before them are parsed (in a memory-mapped file, the first
/// pass over the bytes waits for memory otherwise). Tells whether the bytes searched so far
/// are all ASCII without NUL (`clean`), and, once [`finish`](Self::finish)ed, the whole
/// chunk's [`ChunkBytes`].
pub struct LineEnds<'a> {
    s: &'a [u8],
    words: &'a mut [u64],
    /// Words searched at a time.
    piece: usize,
    /// Words searched so far.
    filled: usize,
    /// Index of the word that `bits` is what is left of.
    at: usize,
    bits: u64,
    bytes: ChunkBytes,
}

impl<'a> LineEnds<'a> {
    /// The line ends of `s`, with `buf` as the bitmap's storage (kept between chunks).
    pub fn new(s: &'a [u8], buf: &'a mut Vec<u64>) -> LineEnds<'a> {
        LineEnds::with_piece(s, buf, PIECE / 64)
    }

    /// [`new`](Self::new), searching `piece` words (64 bytes each) at a time.
    fn with_piece(s: &'a [u8], buf: &'a mut Vec<u64>, piece: usize) -> LineEnds<'a> {
        let words = s.len().div_ceil(64);
        if buf.len() < words {
            buf.resize(words, 0);
        }
        let mut e = LineEnds {
            s,
            words: &mut buf[..words],
            piece: piece.max(1),
            filled: 0,
            at: 0,
            bits: 0,
            bytes: ChunkBytes {
                nul: false,
                ascii: true,
            },
        };
        e.fill();
        e.bits = e.words.first().copied().unwrap_or(0);
        e
    }

    /// Search the next piece; false when every piece is searched.
    fn fill(&mut self) -> bool {
        let from = self.filled;
        if from >= self.words.len() {
            return false;
        }
        let to = (from + self.piece).min(self.words.len());
        let end = (64 * to).min(self.s.len());
        let b = bitmap_into(&self.s[64 * from..end], &mut self.words[from..to]);
        self.bytes.nul |= b.nul;
        self.bytes.ascii &= b.ascii;
        self.filled = to;
        true
    }

    /// Every byte searched so far is ASCII and none is NUL; true of each byte before the
    /// last line end returned.
    pub fn clean(&self) -> bool {
        self.bytes.ascii && !self.bytes.nul
    }

    /// Search the rest of the chunk; what its bytes hold.
    pub fn finish(&mut self) -> ChunkBytes {
        while self.fill() {}
        self.bytes
    }
}

/// Ask the memory for the cache line of `s[at]`, if `at` lies in `s`.
#[inline(always)]
fn prefetch_at(s: &[u8], at: usize) {
    #[cfg(target_arch = "x86_64")]
    if at < s.len() {
        // SAFETY: a hint only; the address lies in `s`.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                s.as_ptr().add(at).cast::<i8>(),
            );
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (s, at);
}

impl Iterator for LineEnds<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        while self.bits == 0 {
            self.at += 1;
            // one cache line asked for per 64 bytes read: two pieces ahead, it is in by the
            // time its piece is searched
            prefetch_at(self.s, 64 * (self.at + 2 * self.piece));
            if self.at >= self.filled && !self.fill() {
                return None;
            }
            self.bits = *self.words.get(self.at)?;
        }
        let i = 64 * self.at + self.bits.trailing_zeros() as usize;
        self.bits &= self.bits - 1;
        Some(i)
    }
}

/// What [`bitmap_into`] saw of a chunk's bytes besides its newlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkBytes {
    /// Some byte is NUL.
    pub nul: bool,
    /// Every byte is below 0x80 (so the chunk is valid UTF-8).
    pub ascii: bool,
}

/// Newlines among the (at most) 64 bytes of `s` from `at`, and what else they hold.
fn block_masks_portable(s: &[u8], at: usize) -> (u64, ChunkBytes) {
    let rest = s.get(at..).unwrap_or(&[]);
    let mut m = 0u64;
    let (mut nul, mut high) = (false, 0u8);
    for (i, &c) in rest.iter().enumerate().take(64) {
        m |= u64::from(c == b'\n') << i;
        nul |= c == 0;
        high |= c;
    }
    let ascii = high < 0x80;
    (m, ChunkBytes { nul, ascii })
}

/// [`bitmap_into`]'s full blocks with AVX-512BW: one compare per 64 bytes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512bw")]
unsafe fn bitmap_avx512(s: &[u8], out: &mut [u64]) -> ChunkBytes {
    use std::arch::x86_64::{
        __m512i, _mm512_cmpeq_epi8_mask, _mm512_loadu_si512, _mm512_movepi8_mask, _mm512_set1_epi8,
        _mm512_setzero_si512,
    };
    let nl = _mm512_set1_epi8(b'\n' as i8);
    let zero = _mm512_setzero_si512();
    let (mut nul, mut high) = (0u64, 0u64);
    for (w, block) in out.iter_mut().zip(s.chunks_exact(64)) {
        // SAFETY: `block` is 64 readable bytes; the load is unaligned.
        let v = unsafe { _mm512_loadu_si512(block.as_ptr().cast::<__m512i>()) };
        *w = _mm512_cmpeq_epi8_mask(v, nl);
        nul |= _mm512_cmpeq_epi8_mask(v, zero);
        // each byte's top bit
        high |= _mm512_movepi8_mask(v);
    }
    ChunkBytes {
        nul: nul != 0,
        ascii: high == 0,
    }
}

/// [`bitmap_into`]'s full blocks with AVX2: two compares per 64 bytes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn bitmap_avx2(s: &[u8], out: &mut [u64]) -> ChunkBytes {
    use std::arch::x86_64::{
        __m256i, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8, _mm256_or_si256,
        _mm256_set1_epi8, _mm256_setzero_si256,
    };
    let nl = _mm256_set1_epi8(b'\n' as i8);
    let zero = _mm256_setzero_si256();
    let mut nul = _mm256_setzero_si256();
    let mut any = _mm256_setzero_si256();
    for (w, block) in out.iter_mut().zip(s.chunks_exact(64)) {
        // SAFETY: `block` is 64 readable bytes; the loads are unaligned.
        let (lo, hi) = unsafe {
            (
                _mm256_loadu_si256(block.as_ptr().cast::<__m256i>()),
                _mm256_loadu_si256(block.as_ptr().add(32).cast::<__m256i>()),
            )
        };
        let m_lo = _mm256_movemask_epi8(_mm256_cmpeq_epi8(lo, nl)) as u32;
        let m_hi = _mm256_movemask_epi8(_mm256_cmpeq_epi8(hi, nl)) as u32;
        *w = u64::from(m_lo) | (u64::from(m_hi) << 32);
        nul = _mm256_or_si256(
            nul,
            _mm256_or_si256(_mm256_cmpeq_epi8(lo, zero), _mm256_cmpeq_epi8(hi, zero)),
        );
        // the bytes ORed: a top bit anywhere stays
        any = _mm256_or_si256(any, _mm256_or_si256(lo, hi));
    }
    ChunkBytes {
        nul: _mm256_movemask_epi8(nul) != 0,
        ascii: _mm256_movemask_epi8(any) == 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive(s: &[u8], set: &[u8]) -> Option<usize> {
        s.iter().position(|c| set.contains(c))
    }

    fn naive_rev(s: &[u8], set: &[u8]) -> Option<usize> {
        s.iter().rposition(|c| set.contains(c))
    }

    proptest! {
        /// Every length from empty to several blocks, with the bytes looked for anywhere
        /// (including none, NUL, and bytes above 0x7f, whose sign the SIMD compare must not
        /// mind).
        #[test]
        fn searches_agree_with_a_byte_loop(
            s in proptest::collection::vec(proptest::sample::select(vec![0u8, b'a', b'b', b'[', b' ', 0x80, 0xff]), 0..200),
        ) {
            for b in [0u8, b'a', b'[', 0x80, 0xff, b'z'] {
                prop_assert_eq!(find(&s, b), naive(&s, &[b]));
                prop_assert_eq!(rfind(&s, b), naive_rev(&s, &[b]));
            }
            let set = [b' ', b'[', 0xff, b'q'];
            prop_assert_eq!(find_any(&s, set), naive(&s, &set));
            prop_assert_eq!(rfind_any(&s, set), naive_rev(&s, &set));
            let set = [b'b', b'a'];
            prop_assert_eq!(find_any(&s, set), naive(&s, &set));
            prop_assert_eq!(rfind_any(&s, set), naive_rev(&s, &set));
            for b in [b'a', 0x80, 0] {
                let near = s.get(..16).and_then(|h| naive(h, &[b])).filter(|_| s.len() >= 16);
                prop_assert_eq!(find_near(&s, b), near);
            }
            for (a, b) in [(b'a', b'b'), (b'a', b'a'), (b' ', 0x80), (0, 0), (0xff, b'[')] {
                let pair = s.windows(2).position(|w| w == [a, b]);
                prop_assert_eq!(find_pair(&s, a, b), pair);
                let near = pair.filter(|&i| i < 16 && s.len() >= 17);
                prop_assert_eq!(find_pair_near(&s, a, b), near);
            }
        }
    }

    proptest! {
        /// The newlines of any text, across block edges, in a partial last block, and with
        /// bytes above 0x7f, are the positions a byte loop finds.
        #[test]
        fn newlines_are_every_line_end(
            s in proptest::collection::vec(proptest::sample::select(vec![b'\n', b'a', 0, 0x8a, 0xff]), 0..400),
        ) {
            let want: Vec<usize> = s.iter().enumerate().filter(|(_, &c)| c == b'\n').map(|(i, _)| i).collect();
            let seen = |b: &[u8]| ChunkBytes { nul: b.contains(&0), ascii: b.is_ascii() };
            // one word at a time, a few, or all at once; with a buffer left longer, or
            // shorter, by an earlier chunk
            for (piece, fill) in [(1, u64::MAX), (3, 7), (PIECE / 64, 0)] {
                let mut buf = vec![fill; piece * 2];
                let mut ends = LineEnds::with_piece(&s, &mut buf, piece);
                let mut got = Vec::new();
                while let Some(i) = ends.next() {
                    // what `clean` says holds of every byte up to the line end returned
                    if ends.clean() {
                        prop_assert!(s[..=i].iter().all(|&c| c != 0 && c.is_ascii()));
                    }
                    got.push(i);
                }
                prop_assert_eq!(&got, &want);
                prop_assert_eq!(ends.finish(), seen(&s));
                prop_assert_eq!(ends.clean(), s.iter().all(|&c| c != 0 && c.is_ascii()));
            }
            let mut words = vec![u64::MAX; s.len().div_ceil(64)];
            prop_assert_eq!(bitmap_into(&s, &mut words), seen(&s));
            // each vector path this CPU has, whichever `bitmap_into` picked
            #[cfg(target_arch = "x86_64")]
            {
                let full = s.len() / 64;
                let mut w = vec![0u64; full];
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2
                    let z = unsafe { bitmap_avx2(&s[..64 * full], &mut w) };
                    prop_assert_eq!(&w[..], &words[..full]);
                    prop_assert_eq!(z, seen(&s[..64 * full]));
                }
                if std::arch::is_x86_feature_detected!("avx512bw") {
                    // SAFETY: the CPU has AVX-512BW
                    let z = unsafe { bitmap_avx512(&s[..64 * full], &mut w) };
                    prop_assert_eq!(&w[..], &words[..full]);
                    prop_assert_eq!(z, seen(&s[..64 * full]));
                }
            }
            // and the portable path, which the CPU features may leave untested
            let full = s.len() / 64;
            for k in 0..=full {
                let (m, z) = block_masks_portable(&s, 64 * k);
                prop_assert_eq!(m, words.get(k).copied().unwrap_or(0));
                prop_assert_eq!(z, seen(s.get(64 * k..(64 * k + 64).min(s.len())).unwrap_or_default()));
            }
        }
    }

    proptest! {
        /// In mostly-ASCII text with at most one other byte, the line ends found piece by
        /// piece stay `clean` exactly up to the piece that holds that byte.
        #[test]
        fn line_ends_are_clean_up_to_the_first_other_byte(
            mut s in proptest::collection::vec(proptest::sample::select(vec![b'\n', b'a', b'b']), 0..1500),
            at in any::<proptest::sample::Index>(),
            other in proptest::option::of(proptest::sample::select(vec![0u8, 0xc3])),
            piece in 1usize..5,
        ) {
            let bad = match (other, s.is_empty()) {
                (Some(c), false) => {
                    let i = at.index(s.len());
                    s[i] = c;
                    Some(i)
                }
                _ => None,
            };
            let mut buf = Vec::new();
            let mut ends = LineEnds::with_piece(&s, &mut buf, piece);
            while let Some(i) = ends.next() {
                let searched = (64 * piece * (i / (64 * piece) + 1)).min(s.len());
                prop_assert_eq!(ends.clean(), bad.is_none_or(|b| b >= searched), "line end {}", i);
            }
            prop_assert_eq!(ends.clean(), bad.is_none());
        }
    }

    proptest! {
        /// The range mask is the ranges' membership, byte by byte (bytes above 0x7f too).
        #[test]
        fn range_masks_agree_with_a_byte_loop(b in proptest::array::uniform16(any::<u8>())) {
            let ranges = [(b'0', b'9'), (b'A', b'F'), (0, 3), (0x7f, 0x7f)];
            let mut want = 0u32;
            for (i, c) in b.iter().enumerate() {
                if ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(c)) {
                    want |= 1 << i;
                }
            }
            prop_assert_eq!(ranges_mask16(&b, ranges), want);
        }
    }

    #[test]
    fn block_edges() {
        // a single hit at every position of slices of every length up to 50
        for n in 0..50 {
            for at in 0..n {
                let mut s = vec![b'.'; n];
                s[at] = b'x';
                assert_eq!(find(&s, b'x'), Some(at), "n={n} at={at}");
                assert_eq!(rfind(&s, b'x'), Some(at), "n={n} at={at}");
                if at + 1 < n {
                    let mut s = vec![b'x'; n];
                    s[at + 1] = b'y';
                    assert_eq!(find_pair(&s, b'x', b'y'), Some(at), "n={n} at={at}");
                }
            }
            let s = vec![b'.'; n];
            assert_eq!(find(&s, b'x'), None);
            assert_eq!(rfind(&s, b'x'), None);
        }
    }
}
