// This repository's solutions of the workshop exercises, copied from lib.rs by
// `python3 scripts/exercises.py freeze`: `python3 scripts/dev.py solution N` takes them
// from here. Not compiled; tests/test_exercises.py checks that lib.rs agrees.

// ----- Exercise 2 begin: factorial -----
/// The largest n whose factorial fits in a u64: 20! = 2432902008176640000.
const FACTORIAL_MAX_N: u64 = 20;

/// Compute n! for 0 <= n <= 20; larger n raise ValueError("Input too large (max 20)").
#[pyfunction]
#[pyo3(signature = (n, /))]
fn factorial(n: u64) -> PyResult<u64> {
    if n > FACTORIAL_MAX_N {
        return Err(PyValueError::new_err("Input too large (max 20)"));
    }
    Ok((1..=n).product())
}
// ----- Exercise 2 end: factorial -----

// ----- Exercise 3 begin: Counter -----
use std::sync::atomic::AtomicI64;

/// A counter that can go up and down (the guide's exercise 3).
#[pyclass(module = "rust_demo", frozen)]
struct Counter {
    // An atomic needs no lock: each update is a single compare-and-swap.
    count: AtomicI64,
}

impl Counter {
    fn step(&self, delta: i64) -> PyResult<()> {
        self.count
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |count| {
                count.checked_add(delta)
            })
            .map(drop)
            .map_err(|_| PyOverflowError::new_err("Counter would overflow a 64-bit integer"))
    }
}

#[pymethods]
impl Counter {
    /// Create a counter starting at 0.
    #[new]
    fn new() -> Self {
        Counter {
            count: AtomicI64::new(0),
        }
    }

    /// Add 1.
    fn increment(&self) -> PyResult<()> {
        self.step(1)
    }

    /// Subtract 1.
    fn decrement(&self) -> PyResult<()> {
        self.step(-1)
    }

    /// Return the current count.
    fn value(&self) -> i64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Reset to 0.
    fn reset(&self) {
        self.count.store(0, Ordering::Relaxed);
    }

    /// Python representation, e.g. Counter(value=0).
    fn __repr__(&self) -> String {
        format!("Counter(value={})", self.value())
    }

    /// Pickle and copy support: rebuild a Counter, then restore its value.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> (Bound<'py, PyType>, (), i64) {
        (slf.get_type(), (), slf.get().value())
    }

    /// Restore the value saved by __reduce__.
    fn __setstate__(&self, value: i64) {
        self.count.store(value, Ordering::Relaxed);
    }
}
// ----- Exercise 3 end: Counter -----

// ----- Exercise 4 begin: sieve_of_eratosthenes -----
// The tuned sieve as a Python list: `python3 scripts/dev.py start 4` takes out everything
// down to the end marker for the guide's simple version; `solution 4` puts it back.

/// How big a list of primes gets: an engine, declared here so that `start 4` takes it out.
#[path = "engines/prime_list.rs"]
mod prime_list;

use engines::sieve::PrimeBits;
use prime_list::ListPlan;

/// A Python list of the first `len` values, checking Ctrl-C every million items. Creating
/// the ints costs more than finding the primes, so this uses the C API directly (PyO3's
/// `PyList::new` is about 1.5x slower here).
fn int_list(
    py: Python<'_>,
    len: usize,
    values: impl Iterator<Item = u64>,
) -> PyResult<Bound<'_, PyList>> {
    const CHECK_EVERY: usize = 1 << 20;
    let size = isize::try_from(len).map_err(|_| PyMemoryError::new_err("list too long"))?;
    // SAFETY: the thread is attached, and the list is new: no other thread can see it, with
    // or without a GIL, until we return it. PyList_New returns `len` NULL slots (or NULL on
    // error), owned by `list` from then on, so it is freed on every early return below; a
    // list with NULL slots left is valid to free. PyList_SetItem steals the new int (and
    // frees it itself if it fails), and each index is < len. The list reaches Python only
    // once every slot is filled.
    unsafe {
        let list = Bound::from_owned_ptr_or_err(py, ffi::PyList_New(size))?.cast_into_unchecked();
        let mut filled = 0;
        // try_for_each, not a for loop: a tighter loop (0.06 ms less at n = 10**6).
        values.take(len).try_for_each(|value| {
            if filled % CHECK_EVERY == CHECK_EVERY - 1 {
                py.check_signals()?;
            }
            // The signed constructor has a small-int fast path (the unsigned one, until 3.12, not).
            let int = match i64::try_from(value) {
                Ok(small) => ffi::PyLong_FromLongLong(small),
                Err(_) => ffi::PyLong_FromUnsignedLongLong(value),
            };
            if int.is_null() || ffi::PyList_SetItem(list.as_ptr(), filled as isize, int) != 0 {
                return Err(PyErr::fetch(py));
            }
            filled += 1;
            Ok(())
        })?;
        if filled < len {
            return Err(pyo3::exceptions::PySystemError::new_err(
                "int_list: fewer values than promised",
            ));
        }
        Ok(list)
    }
}

/// Find all primes up to n (inclusive) with a sieve of Eratosthenes.
///
/// The sieve runs without the GIL, so other Python threads keep running, and Ctrl-C stops
/// it within a fraction of a second. If the list of primes could not fit in this machine's
/// memory, MemoryError is raised before any work starts.
#[pyfunction]
#[pyo3(signature = (n, /))]
fn sieve_of_eratosthenes(py: Python<'_>, n: u64) -> PyResult<Bound<'_, PyList>> {
    let plan = ListPlan::new(n);
    if plan.exceeds_memory() {
        return Err(PyMemoryError::new_err(format!(
            "sieve_of_eratosthenes({n}): a list of up to {} primes needs about {} GiB, \
             more than this machine's memory; count_primes({n}) needs almost none",
            plan.bound,
            plan.bytes >> 30
        )));
    }
    let bits = plan.reserve_bits().ok_or_else(|| {
        PyMemoryError::new_err(format!("sieve_of_eratosthenes({n}): out of memory"))
    })?;
    let mut keep_going = interruptible(py)?;
    let primes = py.detach(|| PrimeBits::sieve(n, bits, &mut keep_going))?;
    int_list(py, primes.count(n), primes.primes(n))
}
// ----- Exercise 4 end: sieve_of_eratosthenes -----

#[pymodule(gil_used = false)]
fn rust_demo(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // One line each, as the guide writes them; `module = "rust_demo"` lets pickle find a class.
    m.add_function(wrap_pyfunction!(fibonacci, m)?)?;
    m.add_function(wrap_pyfunction!(count_unique_words, m)?)?;
    m.add_function(wrap_pyfunction!(is_palindrome, m)?)?;
    m.add_function(wrap_pyfunction!(sum_list, m)?)?;
    m.add_function(wrap_pyfunction!(filter_positive, m)?)?;
    m.add_function(wrap_pyfunction!(word_frequencies, m)?)?;
    m.add_function(wrap_pyfunction!(safe_divide, m)?)?;
    m.add_function(wrap_pyfunction!(safe_parse_int, m)?)?;
    m.add_function(wrap_pyfunction!(factorial, m)?)?;
    m.add_function(wrap_pyfunction!(sieve_of_eratosthenes, m)?)?;
    m.add_function(wrap_pyfunction!(count_primes, m)?)?;
    m.add_function(wrap_pyfunction!(build_info, m)?)?;
    m.add_class::<MovingAverage>()?;
    m.add_class::<Counter>()?;
    m.add_class::<RingBuffer>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
