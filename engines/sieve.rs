//! The segmented sieve of Eratosthenes over the odd numbers: the engine of `count_primes`
//! and `sieve_of_eratosthenes`.

/// Odd numbers per sieve segment: 32 KiB of flags, which stay in the L1 data cache.
pub const SEGMENT_ODDS: usize = 1 << 15;

/// The small primes whose multiples are copied into each segment from a repeating pattern
/// instead of being crossed off one by one: together they account for ~40% of the marks.
const PRESIEVED_PRIMES: [u64; 5] = [3, 5, 7, 11, 13];

/// The pattern repeats every 3*5*7*11*13 odd numbers.
const PATTERN_ODDS: usize = 15_015;

/// Flags for the odd numbers 1, 3, 5, ... (one period): 0 where a presieved prime divides.
fn presieve_pattern() -> &'static [u8] {
    static PATTERN: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    PATTERN.get_or_init(|| {
        (0..PATTERN_ODDS as u64)
            .map(|i| u8::from(PRESIEVED_PRIMES.iter().all(|&p| (2 * i + 1) % p != 0)))
            .collect()
    })
}

/// The sieve keeps the odd primes up to this limit in memory, with where each one next
/// crosses off: at most 1,077,870 primes, 8.2 MiB. They are all the base primes any n up to
/// 2**48 needs. Beyond that, the larger base primes are found again for each segment.
pub const CACHED_BASE_PRIMES_LIMIT: u64 = 1 << 24;

/// The integer square root of n.
pub fn isqrt(n: u64) -> u64 {
    let mut root = (n as f64).sqrt() as u64;
    // The float estimate can be off by one either way for large n.
    while root.checked_mul(root).is_none_or(|square| square > n) {
        root -= 1;
    }
    while (root + 1)
        .checked_mul(root + 1)
        .is_some_and(|square| square <= n)
    {
        root += 1;
    }
    root
}

/// Up to 64 flags, each 0 or 1, as the bits of one word, the first flag lowest.
fn pack_flags(flags: &[u8]) -> u64 {
    // Multiplying eight 0/1 bytes by this constant moves byte k to bit 56 + k. No two
    // partial products overlap, so nothing carries and the top byte holds all eight flags.
    const GATHER: u64 = 0x0102_0408_1020_4080;
    let mut eights = flags.chunks_exact(8);
    let mut word = 0;
    for (k, eight) in eights.by_ref().enumerate() {
        let eight = u64::from_le_bytes(eight.try_into().unwrap_or_default());
        word |= (eight.wrapping_mul(GATHER) >> 56) << (8 * k);
    }
    let done = flags.len() - eights.remainder().len();
    for (i, &flag) in eights.remainder().iter().enumerate() {
        word |= u64::from(flag) << (done + i);
    }
    word
}

/// The primes up to n, one bit per odd number: bit i (counting through the words, lowest
/// bit first) is set exactly when 2i + 1 is prime; 2 is implied when n >= 2.
///
/// At n/16 bytes this is a fraction of the list of primes it becomes (1,000,000 fits in
/// 62.5 KiB, against 613 KiB for a `Vec<u64>` of its 78,498 primes), so little memory is
/// touched between sieving and building the list, and the allocator never has to go back
/// to the OS for it; reading the primes back out with `trailing_zeros` is as fast as
/// reading a `Vec`.
pub struct PrimeBits {
    /// The bits, 64 odd numbers to a word.
    pub words: Vec<u64>,
}

impl PrimeBits {
    /// Sieve up to n, appending to `words` (empty, reserved or not). `keep_going` is called
    /// between segments, and its error stops the sieve.
    pub fn sieve<E>(
        n: u64,
        mut words: Vec<u64>,
        keep_going: &mut dyn FnMut() -> Result<(), E>,
    ) -> Result<Self, E> {
        sieve_segments(n, keep_going, &mut |low, flags| {
            // Segments hold a multiple of 64 odd numbers, so each one starts a new word.
            debug_assert_eq!(low / 2, 64 * words.len() as u64);
            words.extend(flags.chunks(64).map(pack_flags));
        })?;
        Ok(Self { words })
    }

    /// The odd primes, in order.
    pub fn odd_primes(&self) -> impl Iterator<Item = u64> + '_ {
        self.words.iter().enumerate().flat_map(|(index, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                let bit = u64::from(rest.trailing_zeros());
                rest &= rest.checked_sub(1)?; // None once no bit is left
                Some(2 * (64 * index as u64 + bit) + 1)
            })
        })
    }
}

/// The odd primes up to `limit` (at most 2**32), found by the sieve itself.
/// Memory: 4 bytes per prime plus limit/16 bytes while sieving.
pub fn odd_primes_up_to<E>(
    limit: u64,
    keep_going: &mut dyn FnMut() -> Result<(), E>,
) -> Result<Vec<u32>, E> {
    let bits = PrimeBits::sieve(limit, Vec::new(), keep_going)?;
    // Every value here is odd and <= limit <= 2**32, so it fits in a u32.
    Ok(bits.odd_primes().map(|p| p as u32).collect())
}

/// Segmented sieve of Eratosthenes over the odd numbers up to n.
///
/// For each segment it calls `visit(low, flags)`, where `flags[i] != 0` exactly when
/// `low + 2*i` is an odd prime, then `keep_going()`, whose error stops the sieve.
///
/// Memory is bounded whatever n is: O(sqrt(n)) up to the cache limit (8.2 MiB of base primes
/// for n >= 2**48, 0.6 MiB for n = 10**12), plus 32 KiB of segment.
fn sieve_segments<E>(
    n: u64,
    keep_going: &mut dyn FnMut() -> Result<(), E>,
    visit: &mut dyn FnMut(u64, &[u8]),
) -> Result<(), E> {
    sieve_segments_caching(n, CACHED_BASE_PRIMES_LIMIT, keep_going, visit)
}

/// `sieve_segments`, keeping the base primes up to `cache_limit` (which must be at least
/// n**(1/4)) in memory; tests pass small limits to exercise the uncached path.
fn sieve_segments_caching<E>(
    n: u64,
    cache_limit: u64,
    keep_going: &mut dyn FnMut() -> Result<(), E>,
    visit: &mut dyn FnMut(u64, &[u8]),
) -> Result<(), E> {
    if n < 3 {
        return Ok(());
    }
    debug_assert!(cache_limit.saturating_mul(cache_limit) >= isqrt(n));
    let base_primes = odd_primes_up_to(isqrt(n).min(cache_limit), keep_going)?;
    let mut scratch = Scratch::default();
    sieve_range(
        &base_primes,
        cache_limit,
        1,
        n,
        &mut scratch,
        keep_going,
        visit,
    )
}

/// The working memory of one thread's sieve, kept from range to range.
#[derive(Default)]
pub struct Scratch {
    /// One segment's flags (the first `len` of them in use).
    flags: Vec<u8>,
    /// Where each crossing prime in use has its next odd multiple (see `sieve_range`).
    next_multiple: Vec<u32>,
    /// Flags for finding the uncached base primes, above 2**48.
    uncached_flags: Vec<u8>,
}

impl Scratch {
    /// All the memory a thread of a threaded count can need, allocated now, or None: then
    /// that thread is not started, rather than failing (aborting) once running.
    pub fn try_for(base_primes: usize, uncached: bool) -> Option<Self> {
        let mut scratch = Scratch::default();
        scratch.flags.try_reserve_exact(SEGMENT_ODDS).ok()?;
        scratch.next_multiple.try_reserve_exact(base_primes).ok()?;
        if uncached {
            scratch
                .uncached_flags
                .try_reserve_exact(SEGMENT_ODDS)
                .ok()?;
        }
        Some(scratch)
    }
}

/// Sieve the odd numbers from `low` (odd) to `last`, segment by segment, with `base_primes`,
/// every odd prime up to min(isqrt(last), cache_limit); larger base primes are found again
/// for each segment (see `UncachedPrimes`). Calls `visit` and `keep_going` as
/// `sieve_segments` does. A range may start anywhere: the whole sieve is the range from 1.
pub fn sieve_range<E>(
    base_primes: &[u32],
    cache_limit: u64,
    mut low: u64,
    last: u64,
    scratch: &mut Scratch,
    keep_going: &mut dyn FnMut() -> Result<(), E>,
    visit: &mut dyn FnMut(u64, &[u8]),
) -> Result<(), E> {
    if low > last {
        return Ok(());
    }
    let presieved = base_primes.iter().take_while(|&&p| p <= 13).count();
    let crossing_primes = &base_primes[presieved..];
    // Where each crossing prime in use has its next odd multiple, as an index into the next
    // segment: carried over from segment to segment, so no prime needs a division after it
    // joins. Primes join in order, once their square is in reach.
    let Scratch {
        flags,
        next_multiple,
        uncached_flags,
    } = scratch;
    next_multiple.clear();
    flags.resize(SEGMENT_ODDS.min(((last - low) / 2) as usize + 1), 0);
    let pattern = presieve_pattern();
    loop {
        let len = flags.len().min(((last - low) / 2) as usize + 1);
        let segment = &mut flags[..len];
        let mut offset = ((low / 2) % PATTERN_ODDS as u64) as usize;
        for chunk in segment.chunks_mut(PATTERN_ODDS) {
            let (head, tail) = chunk.split_at_mut((PATTERN_ODDS - offset).min(chunk.len()));
            head.copy_from_slice(&pattern[offset..offset + head.len()]);
            tail.copy_from_slice(&pattern[..tail.len()]);
            offset = (offset + chunk.len()) % PATTERN_ODDS;
        }
        let high = low + 2 * (len as u64 - 1);
        while let Some(&p) = crossing_primes.get(next_multiple.len()) {
            let square = u64::from(p) * u64::from(p); // p < 2**32, so no overflow
            if square > high {
                break;
            }
            // The first multiple left to cross off is the square, unless the range starts
            // past it (a range of a threaded count): then one division finds it.
            let first = if square >= low {
                Some(square)
            } else {
                first_odd_multiple(u64::from(p), low)
            };
            // first - low < 2p, so the index fits; with no odd multiple below 2**64 there is
            // nothing left to cross off, and an index past every segment says so.
            next_multiple.push(first.map_or(u32::MAX, |first| ((first - low) / 2) as u32));
        }
        for (&p, next) in crossing_primes.iter().zip(next_multiple.iter_mut()) {
            let step = p as usize; // odd multiples are 2p apart: p slots of odd numbers
            let mut i = *next as usize;
            while i < len {
                segment[i] = 0;
                i += step;
            }
            *next = (i - len) as u32; // less than p, or u32::MAX - len: it fits
        }
        // cache_limit <= 2**32 in use, so its square does not overflow.
        if high / cache_limit >= cache_limit && isqrt(high) > cache_limit {
            uncached_flags.resize(SEGMENT_ODDS, 0);
            let uncached = UncachedPrimes {
                small_primes: base_primes,
                cache_limit,
                flags: uncached_flags,
            };
            uncached.cross_off(segment, low, keep_going)?;
        }
        if low == 1 {
            // 1 is not prime, and the pattern crossed off the presieved primes themselves.
            segment[0] = 0;
            for &p in &PRESIEVED_PRIMES {
                if let Some(flag) = segment.get_mut((p / 2) as usize) {
                    *flag = 1;
                }
            }
        }
        visit(low, segment);
        keep_going()?;
        match high.checked_add(2) {
            Some(next) if next <= last => low = next,
            _ => return Ok(()),
        }
    }
}

/// The first odd multiple of the odd number p that is at least `from`, if below 2**64.
fn first_odd_multiple(p: u64, from: u64) -> Option<u64> {
    let multiple = from.div_ceil(p).checked_mul(p)?;
    if multiple % 2 == 0 {
        multiple.checked_add(p)
    } else {
        Some(multiple)
    }
}

/// The base primes above the cache limit, for segments beyond cache_limit**2 (n > 2**48).
///
/// There are too many to keep (203 million below 2**32), so each segment finds them again,
/// a block at a time, by sieving with the cached primes, and crosses off their multiples
/// with one division each. That is slow, thousands of times slower per segment than the
/// cached path, but the memory stays bounded, and `keep_going` runs after every block.
struct UncachedPrimes<'a> {
    /// Every odd prime up to cache_limit, in order.
    small_primes: &'a [u32],
    cache_limit: u64,
    /// Scratch flags for one block of candidates, SEGMENT_ODDS long.
    flags: &'a mut [u8],
}

impl UncachedPrimes<'_> {
    /// Cross off, in `segment` (flags for the odd numbers low, low + 2, ...), the multiples
    /// of every prime p with cache_limit < p <= isqrt(last number of the segment).
    fn cross_off<E>(
        self,
        segment: &mut [u8],
        low: u64,
        keep_going: &mut dyn FnMut() -> Result<(), E>,
    ) -> Result<(), E> {
        let Some(last) = segment.len().checked_sub(1) else {
            return Ok(());
        };
        let high = low + 2 * last as u64; // the segment's last number: no overflow
        let top = isqrt(high); // below 2**32
        let mut start = (self.cache_limit + 1) | 1; // the first odd number above the cache
        while start <= top {
            let len = self.flags.len().min(((top - start) / 2) as usize + 1);
            let block = &mut self.flags[..len];
            let block_high = start + 2 * (len as u64 - 1); // <= top < 2**32
            block.fill(1);
            // Sieve the block with the cached primes: cache_limit**2 >= top covers it.
            for &p in self.small_primes {
                let p = u64::from(p);
                if p * p > block_high {
                    break;
                }
                // p * p <= block_high < 2**32: nothing here can overflow.
                let first = first_odd_multiple(p, start.max(p * p)).unwrap_or(u64::MAX);
                let mut i = ((first - start) / 2) as usize; // first >= start
                while i < len {
                    block[i] = 0;
                    i += p as usize;
                }
            }
            // Each candidate left is a prime q; cross off its odd multiples from q*q on.
            for (i, _) in block.iter().enumerate().filter(|(_, &flag)| flag != 0) {
                let q = start + 2 * i as u64;
                let Some(first) = first_odd_multiple(q, low.max(q * q)) else {
                    continue; // no multiple below 2**64
                };
                let mut j = ((first - low) / 2) as usize; // first >= low
                while j < segment.len() {
                    segment[j] = 0;
                    j += q as usize;
                }
            }
            keep_going()?;
            start = block_high + 2;
        }
        Ok(())
    }
}

/// The number of primes up to n.
pub fn prime_count<E>(n: u64, keep_going: &mut dyn FnMut() -> Result<(), E>) -> Result<u64, E> {
    let mut count = u64::from(n >= 2);
    sieve_segments(n, keep_going, &mut |_, flags| count += odd_primes_in(flags))?;
    Ok(count)
}

/// How many flags of a segment are set (each 0 or 1): its odd primes.
pub fn odd_primes_in(flags: &[u8]) -> u64 {
    flags
        .chunks(64)
        .map(|flags| u64::from(pack_flags(flags).count_ones()))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_interrupt() -> impl FnMut() -> Result<(), ()> {
        || Ok(())
    }

    fn naive_primes(n: u64) -> Vec<u64> {
        (2..=n)
            .filter(|&k| (2..k).take_while(|d| d * d <= k).all(|d| k % d != 0))
            .collect()
    }

    #[test]
    fn primes_match_trial_division_across_segment_edges() {
        let edges = [
            0,
            1,
            2,
            3,
            4,
            9,
            25,
            100,
            2 * SEGMENT_ODDS as u64 - 1,
            2 * SEGMENT_ODDS as u64 + 1,
        ];
        for &n in edges.iter().chain(&[3 * SEGMENT_ODDS as u64 + 7]) {
            let bits = PrimeBits::sieve(n, Vec::new(), &mut no_interrupt()).unwrap();
            let primes: Vec<u64> = (n >= 2)
                .then_some(2)
                .into_iter()
                .chain(bits.odd_primes())
                .collect();
            assert_eq!(primes, naive_primes(n), "n = {n}");
            assert_eq!(
                prime_count(n, &mut no_interrupt()).unwrap(),
                primes.len() as u64
            );
        }
    }

    #[test]
    fn pack_flags_matches_a_bit_by_bit_loop() {
        for len in 0..=64 {
            let flags: Vec<u8> = (0..len)
                .map(|i| u8::from(i % 3 == 0 || i % 7 == 5))
                .collect();
            let expected = (0..len).fold(0u64, |word, i| word | u64::from(flags[i]) << i);
            assert_eq!(pack_flags(&flags), expected, "len = {len}");
        }
        assert_eq!(pack_flags(&[1; 64]), u64::MAX);
    }

    #[test]
    fn known_prime_counts() {
        for (n, count) in [
            (1_000_000, 78_498),
            (10_000_000, 664_579),
            (1 << 32, 203_280_221),
        ] {
            if n <= 10_000_000 || !cfg!(debug_assertions) {
                assert_eq!(prime_count(n, &mut no_interrupt()).unwrap(), count);
            }
        }
    }

    #[test]
    fn uncached_base_primes_sieve_correctly() {
        // With only the primes up to 16 (or 32) cached, every larger base prime goes through
        // the path that n > 2**48 takes: found again for each segment.
        for (cache_limit, n) in [
            (16, 65_536),
            (18, 3 * SEGMENT_ODDS as u64 + 7),
            (32, 1 << 20),
        ] {
            let mut primes = vec![2];
            sieve_segments_caching(n, cache_limit, &mut no_interrupt(), &mut |low, flags| {
                primes.extend(
                    (0..flags.len())
                        .filter(|&i| flags[i] != 0)
                        .map(|i| low + 2 * i as u64),
                );
            })
            .unwrap();
            let expected = PrimeBits::sieve(n, Vec::new(), &mut no_interrupt()).unwrap();
            let expected: Vec<u64> = [2].into_iter().chain(expected.odd_primes()).collect();
            assert_eq!(primes, expected, "n = {n}");
        }
        assert_eq!(
            naive_primes(65_536).len(),
            prime_count(65_536, &mut no_interrupt()).unwrap() as usize
        );
    }

    #[test]
    fn first_odd_multiple_stays_below_2_to_the_64() {
        assert_eq!(first_odd_multiple(3, 10), Some(15));
        assert_eq!(first_odd_multiple(3, 9), Some(9));
        assert_eq!(first_odd_multiple(5, 1), Some(5));
        assert_eq!(first_odd_multiple(4_294_967_291, u64::MAX), None);
        let near_top = u64::MAX - 100;
        let m = first_odd_multiple(7, near_top).unwrap();
        assert!(m >= near_top && m % 7 == 0 && m % 2 == 1);
    }

    #[test]
    fn sieve_stops_when_asked() {
        let mut segments = 0;
        let mut stop_after_two = || {
            segments += 1;
            if segments == 2 {
                Err("stop")
            } else {
                Ok(())
            }
        };
        assert_eq!(prime_count(u64::MAX, &mut stop_after_two), Err("stop"));
    }

    #[test]
    fn isqrt_is_exact_near_squares_and_at_the_top() {
        for r in [1u64, 2, 3, 1000, 4_294_967_295] {
            assert_eq!(isqrt(r * r), r);
            assert_eq!(isqrt(r * r - 1), r - 1);
        }
        assert_eq!(isqrt(u64::MAX), 4_294_967_295);
    }
}
