//! The primes up to n as a list: how many there can be, whether such a list fits in this
//! machine's memory, and reading them out of the sieve's bits. The engine of
//! `sieve_of_eratosthenes`, declared inside lib.rs's Exercise 4 region so that
//! `python3 scripts/dev.py start 4` takes it out with the function that uses it.

use crate::engines::sieve::PrimeBits;

/// An upper bound on the number of primes up to n (Rosser & Schoenfeld; Dusart for large n).
fn prime_count_upper_bound(n: u64) -> u64 {
    if n < 17 {
        return n / 2 + 1;
    }
    let x = n as f64;
    let ln = x.ln();
    let bound = if n >= 355_991 {
        x / ln * (1.0 + 1.0 / ln + 2.51 / (ln * ln))
    } else {
        1.25506 * x / ln
    };
    bound.ceil() as u64 + 1
}

/// Bytes of RAM on this machine, where the OS tells us.
fn physical_memory() -> Option<u64> {
    #[cfg(unix)]
    {
        // SAFETY: sysconf only reads system configuration.
        let (pages, page_size) = unsafe {
            (
                libc::sysconf(libc::_SC_PHYS_PAGES),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        u64::try_from(pages)
            .ok()?
            .checked_mul(u64::try_from(page_size).ok()?)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Bytes each prime of a sieve result costs: 8 for its slot in the list, 32 for the int.
const BYTES_PER_LISTED_PRIME: u64 = 40;

/// What a list of the primes up to n takes, worked out before any of it is allocated.
pub struct ListPlan {
    /// At most this many primes.
    pub bound: u64,
    /// Words of `PrimeBits` to sieve into.
    pub words: u64,
    /// Bytes for the bits and the list together (saturating).
    pub bytes: u64,
}

impl ListPlan {
    /// The plan for the primes up to n.
    pub fn new(n: u64) -> Self {
        let bound = prime_count_upper_bound(n);
        let words = PrimeBits::words_needed(n);
        let bytes = bound
            .saturating_mul(BYTES_PER_LISTED_PRIME)
            .saturating_add(words.saturating_mul(8));
        ListPlan {
            bound,
            words,
            bytes,
        }
    }

    /// Whether the list needs more than this machine's memory, where the OS tells us.
    pub fn exceeds_memory(&self) -> bool {
        physical_memory().is_some_and(|memory| self.bytes > memory)
    }

    /// An empty vector with room for the bits, or None if there is no memory for them.
    pub fn reserve_bits(&self) -> Option<Vec<u64>> {
        let mut bits = Vec::new();
        bits.try_reserve_exact(usize::try_from(self.words).ok()?)
            .ok()?;
        Some(bits)
    }
}

impl PrimeBits {
    /// How many words the primes up to n need: an upper bound, to reserve them up front.
    fn words_needed(n: u64) -> u64 {
        (n / 2 + 1).div_ceil(64)
    }

    /// How many primes there are up to n, the limit these bits were sieved to.
    pub fn count(&self, n: u64) -> usize {
        let odd: u32 = self.words.iter().map(|word| word.count_ones()).sum::<u32>();
        usize::from(n >= 2) + odd as usize
    }

    /// All the primes up to n, the limit these bits were sieved to, in order.
    pub fn primes(&self, n: u64) -> impl Iterator<Item = u64> + '_ {
        (n >= 2).then_some(2).into_iter().chain(self.odd_primes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engines::sieve::prime_count;

    #[test]
    fn the_list_holds_every_prime_the_sieve_counts() {
        for n in (0..200).chain([65_535, 65_536, 65_537, 1 << 20]) {
            let bits = PrimeBits::sieve(n, Vec::new(), &mut || Ok::<_, ()>(())).unwrap();
            let primes: Vec<u64> = bits.primes(n).collect();
            let counted = prime_count(n, &mut || Ok::<_, ()>(())).unwrap();
            assert_eq!(primes.len() as u64, counted, "n = {n}");
            assert_eq!(bits.count(n), primes.len(), "n = {n}");
            assert!(primes.windows(2).all(|pair| pair[0] < pair[1]), "n = {n}");
            assert!(primes.last().is_none_or(|&p| p <= n), "n = {n}");
            let plan = ListPlan::new(n);
            assert!(bits.words.len() as u64 <= plan.words, "n = {n}");
            assert!(plan.bound >= primes.len() as u64, "n = {n}");
            let reserved = plan.reserve_bits().map_or(0, |bits| bits.capacity());
            assert!(reserved as u64 >= plan.words, "n = {n}");
            assert!(!plan.exceeds_memory(), "n = {n}");
        }
    }

    #[test]
    fn prime_count_bound_holds() {
        for n in (0..2000).chain([355_990, 355_991, 1_000_000, 10_000_000]) {
            let bits = PrimeBits::sieve(n, Vec::new(), &mut || Ok::<_, ()>(())).unwrap();
            assert!(
                bits.count(n) as u64 <= prime_count_upper_bound(n),
                "n = {n}"
            );
        }
    }
}
