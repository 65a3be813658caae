//! The prime count spread over threads: the engine of `count_primes(n, threads=...)`.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::sieve::{
    isqrt, odd_primes_in, odd_primes_up_to, prime_count, sieve_range, Scratch,
    CACHED_BASE_PRIMES_LIMIT, SEGMENT_ODDS,
};

/// Odd numbers per block of a threaded count: 64 segments, a few milliseconds of work, so
/// that a thread on a slower core (a busy VM) simply takes fewer blocks.
const BLOCK_ODDS: u64 = 64 * SEGMENT_ODDS as u64;

/// `count_primes` takes at most this many threads.
pub const MAX_THREADS: usize = 1024;

/// The number of primes up to n, counted by up to `threads` threads, this one included,
/// that take blocks of segments in turn. Only this thread calls `keep_going` (it alone may
/// talk to Python): between helper starts too, so that a stop asked for while they start
/// (which takes a while when there are more threads than cores) is answered at once. When it
/// fails, the others stop after their current segment and are joined before this returns.
///
/// If `keep_going` forks the process (Python code it runs, such as a signal handler, may),
/// the child has no helper threads: there this thread counts again, alone, from the start.
///
/// Memory: the base primes once, plus a segment and the next-multiple table per thread.
pub fn prime_count_threaded<E>(
    n: u64,
    threads: usize,
    keep_going: &mut dyn FnMut() -> Result<(), E>,
) -> Result<u64, E> {
    let blocks = (n / 2 + n % 2).div_ceil(BLOCK_ODDS); // the odd numbers up to n, in blocks
    let threads = usize::try_from(blocks).map_or(threads, |blocks| threads.min(blocks));
    let helpers = threads.saturating_sub(1);
    if helpers == 0 {
        return prime_count(n, keep_going);
    }
    let forks_before = forks();
    let blocks = Arc::new(Blocks {
        n,
        count: blocks,
        next: AtomicU64::new(0),
        base_primes: odd_primes_up_to(isqrt(n).min(CACHED_BASE_PRIMES_LIMIT), keep_going)?,
    });
    // Each thread's memory is had before it starts: one that could not have it would abort
    // the process, so with too little memory fewer threads run, and with none to spare the
    // count runs on this thread alone, as with threads=1.
    let uncached = isqrt(n) > CACHED_BASE_PRIMES_LIMIT;
    let scratch_for_one = || Scratch::try_for(blocks.base_primes.len(), uncached);
    let Some(mut mine) = scratch_for_one() else {
        drop(blocks);
        return prime_count(n, keep_going);
    };
    let stop = Arc::new(AtomicBool::new(false));
    let up = Arc::new(AtomicUsize::new(0)); // helpers that have started running

    // This thread's check: keep_going, then whether it forked us into a child.
    let mut check = || {
        keep_going().map_err(Stopped::Asked)?;
        if forks() == forks_before {
            Ok(())
        } else {
            Err(Stopped::Forked)
        }
    };
    let mut started = Vec::new();
    let mut starting = Ok(());
    'start: for _ in 0..helpers {
        // A new thread also needs memory that is not ours to ask for (its stack, glibc's
        // thread-local blocks, which abort the process when they cannot be had): start one
        // only while a few MiB more are still to be had.
        if Vec::<u8>::new().try_reserve_exact(THREAD_HEADROOM).is_err() {
            break;
        }
        let Some(mut scratch) = scratch_for_one() else {
            break;
        };
        let (blocks, stop, running) = (blocks.clone(), stop.clone(), up.clone());
        let helper = std::thread::Builder::new()
            .stack_size(HELPER_STACK)
            .spawn(move || {
                running.fetch_add(1, Ordering::Release);
                blocks.claim_and_count(&mut scratch, &mut || {
                    if stop.load(Ordering::Relaxed) {
                        Err(())
                    } else {
                        Ok(())
                    }
                })
            });
        // A thread the OS will not start is no error: the others take its blocks.
        match helper {
            Ok(helper) => started.push(helper),
            Err(_) => break,
        }
        // Wait until it runs: by then its thread-local blocks are in place, and the
        // headroom check for the next one sees the memory they took. With more threads than
        // cores that can take a scheduler period per thread, so keep checking meanwhile.
        loop {
            if let Err(stopped) = check() {
                starting = Err(stopped);
                break 'start;
            }
            if up.load(Ordering::Acquire) >= started.len() {
                break;
            }
            std::thread::yield_now();
        }
    }
    let counted = starting.and_then(|()| blocks.claim_and_count(&mut mine, &mut check));
    if counted.is_err() {
        stop.store(true, Ordering::Relaxed); // the helpers' results no longer matter
    }
    let counted = match counted {
        Err(Stopped::Forked) => {
            // We are a forked child, and the helpers' threads do not exist here: joining one
            // would wait forever, and dropping its handle would detach a thread that glibc
            // has already reclaimed. Forget them (their shared state stays allocated).
            std::mem::forget(started);
            return prime_count(n, keep_going);
        }
        Err(Stopped::Asked(err)) => Err(err),
        Ok(count) => Ok(count),
    };
    let mut total = u64::from(n >= 2);
    for helper in started {
        match helper.join() {
            Ok(Ok(count)) => total += count,
            Ok(Err(())) => {} // stopped because `counted` failed
            // A helper panicking would be a bug in the sieve: pass it on as it was.
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
    counted.map(|count| total + count)
}

/// Why the calling thread of a threaded count stopped early.
enum Stopped<E> {
    /// `keep_going` said so.
    Asked(E),
    /// The process forked during `keep_going`, and this is the child.
    Forked,
}

/// How many times, since the first call, this process has come out of a fork as the child:
/// a fork during a count changes it in the child only, never in the parent.
fn forks() -> u64 {
    static FORKS: AtomicU64 = AtomicU64::new(0);
    #[cfg(unix)]
    {
        extern "C" fn count_fork() {
            FORKS.fetch_add(1, Ordering::Relaxed);
        }
        static REGISTER: std::sync::Once = std::sync::Once::new();
        // SAFETY: the handler is a plain function that lives as long as the program, and it
        // only adds to an atomic, which is async-signal-safe, as a handler run in a forked
        // child must be (the child may have been forked from any thread at any moment).
        REGISTER.call_once(|| unsafe {
            libc::pthread_atfork(None, None, Some(count_fork));
        });
    }
    FORKS.load(Ordering::Relaxed)
}

/// The thread ident of Python's main thread, if remembered (idents are never 0): looking it
/// up costs ~0.5 µs, more than `count_primes(10)` itself.
static MAIN_THREAD_IDENT: AtomicU64 = AtomicU64::new(0);

/// Python's main thread ident, as remembered by `remember_main_thread` in this process.
pub fn known_main_thread() -> Option<u64> {
    Some(MAIN_THREAD_IDENT.load(Ordering::Relaxed)).filter(|&ident| ident != 0)
}

/// Remember Python's main thread ident, until a fork: the thread that forked is the child's
/// main thread, so the child looks again.
pub fn remember_main_thread(ident: u64) {
    #[cfg(unix)]
    {
        extern "C" fn forget_main_thread() {
            MAIN_THREAD_IDENT.store(0, Ordering::Relaxed);
        }
        static REGISTER: std::sync::Once = std::sync::Once::new();
        // SAFETY: the handler is a plain function that lives as long as the program, and it
        // only stores to an atomic, which is async-signal-safe, as a handler run in a forked
        // child must be.
        REGISTER.call_once(|| unsafe {
            libc::pthread_atfork(None, None, Some(forget_main_thread));
        });
    }
    MAIN_THREAD_IDENT.store(ident, Ordering::Relaxed);
}

/// How often long work on Python's main thread stops to let Python handle Ctrl-C.
const SIGNAL_CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// When long work on Python's main thread should next check for Ctrl-C: after 50 ms of work,
/// counted from when the previous check returned, or after four times as long as that check
/// had to wait (for the GIL) if that is longer. So waiting for a GIL that another thread keeps
/// busy costs at most a fifth of the run, and Ctrl-C still answers within a fraction of a
/// second when nobody does.
pub struct CheckClock {
    last_check: Instant,
    interval: Duration,
}

impl CheckClock {
    /// A clock whose first check is due 50 ms from now.
    pub fn start() -> Self {
        CheckClock {
            last_check: Instant::now(),
            interval: SIGNAL_CHECK_INTERVAL,
        }
    }

    /// Whether a check is due.
    pub fn due(&self) -> bool {
        self.last_check.elapsed() >= self.interval
    }

    /// Run `check`, timing it to set when the next one is due.
    pub fn check<T>(&mut self, check: impl FnOnce() -> T) -> T {
        let asked = Instant::now();
        let result = check();
        self.last_check = Instant::now();
        self.interval = SIGNAL_CHECK_INTERVAL.max(self.last_check.duration_since(asked) * 4);
        result
    }
}

/// A helper thread's stack: the sieve needs little, and a small one leaves more of a capped
/// address space to everything else (Rust's default is 2 MiB).
const HELPER_STACK: usize = 256 * 1024;

/// The memory that must still be free (allocated and freed at once to check) before another
/// helper thread starts.
const THREAD_HEADROOM: usize = 8 << 20;

/// The blocks of a threaded count, which its threads claim in turn.
struct Blocks {
    n: u64,
    count: u64,
    /// The next block nobody has claimed yet.
    next: AtomicU64,
    /// Every odd prime up to min(isqrt(n), CACHED_BASE_PRIMES_LIMIT), shared by the threads.
    base_primes: Vec<u32>,
}

impl Blocks {
    /// Claim blocks until none is left, and count the odd primes in them.
    fn claim_and_count<E>(
        &self,
        scratch: &mut Scratch,
        keep_going: &mut dyn FnMut() -> Result<(), E>,
    ) -> Result<u64, E> {
        let mut count = 0;
        loop {
            let block = self.next.fetch_add(1, Ordering::Relaxed);
            if block >= self.count {
                return Ok(count);
            }
            // block * BLOCK_ODDS is below the number of odd numbers up to n: no overflow.
            let low = 1 + 2 * block * BLOCK_ODDS;
            let last = low.saturating_add(2 * (BLOCK_ODDS - 1)).min(self.n);
            sieve_range(
                &self.base_primes,
                CACHED_BASE_PRIMES_LIMIT,
                low,
                last,
                scratch,
                keep_going,
                &mut |_, flags| count += odd_primes_in(flags),
            )?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_interrupt() -> impl FnMut() -> Result<(), ()> {
        || Ok(())
    }

    #[test]
    fn a_slow_check_spaces_out_the_next() {
        let mut clock = CheckClock::start();
        assert!(!clock.due());
        clock.check(|| std::thread::sleep(Duration::from_millis(30)));
        assert!(clock.interval >= Duration::from_millis(120));
        assert!(!clock.due());
    }

    #[test]
    fn the_main_thread_is_remembered() {
        remember_main_thread(7);
        assert_eq!(known_main_thread(), Some(7));
    }

    #[test]
    fn threaded_counts_match_across_block_edges() {
        let block = 2 * BLOCK_ODDS;
        for n in [
            0,
            1,
            2,
            3,
            block - 1,
            block,
            block + 1,
            3 * block + 7,
            5 * block - 2,
        ] {
            let expected = prime_count(n, &mut no_interrupt()).unwrap();
            for threads in 0..=8 {
                let counted = prime_count_threaded(n, threads, &mut no_interrupt()).unwrap();
                assert_eq!(counted, expected, "n = {n}, threads = {threads}");
            }
        }
    }

    #[test]
    fn a_threaded_count_stops_when_asked() {
        // Its base primes take one segment, so the stop comes inside the threaded part.
        let n = 40 * 2 * BLOCK_ODDS;
        let mut checks = 0;
        let mut stop_after_three = || {
            checks += 1;
            if checks == 3 {
                Err("stop")
            } else {
                Ok(())
            }
        };
        assert_eq!(
            prime_count_threaded(n, 4, &mut stop_after_three),
            Err("stop")
        );
        assert_eq!(checks, 3);
    }
}
