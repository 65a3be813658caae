//! rust_demo: the companion module of the workshop guide
//! "Rust for Pythonistas: Building Native Extensions with PyO3".
//!
//! Layout: each section below holds plain Rust functions (tested by `cargo test`, no Python
//! needed) and, beneath them, thin `#[pyfunction]` / `#[pyclass]` wrappers that convert
//! arguments, release the GIL for long work and turn Rust errors into Python exceptions.
//! The `#[pymodule]` function at the bottom registers everything Python sees, one line each.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use pyo3::exceptions::{PyIndexError, PyOverflowError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple, PyType};
use pyo3::{ffi, intern, PyTraverseError};

// ───────────────────────────── 1. Simple functions ─────────────────────────────

/// The largest n whose Fibonacci number fits in a u64: F(93) = 12200160415121876738.
const FIBONACCI_MAX_N: u64 = 93;

/// F(n), or `None` when it does not fit in a u64 (n > 93).
fn fibonacci_u64(n: u64) -> Option<u64> {
    // (a, b) = (F(2k), F(2k + 1)), two steps per turn: half the loop overhead of one step.
    let (mut a, mut b) = (0u64, 1u64);
    for _ in 0..n / 2 {
        // checked_add: a release build would silently wrap around instead of panicking.
        a = a.checked_add(b)?;
        b = b.checked_add(a)?;
    }
    // For even n, b = F(n + 1) was computed too; it fits whenever F(n) does (n <= 92).
    Some(if n % 2 == 0 { a } else { b })
}

/// Compute the nth Fibonacci number iteratively: F(0) = 0, F(1) = 1.
///
/// Raises OverflowError for n > 93, whose result does not fit in 64 bits.
#[pyfunction]
#[pyo3(signature = (n, /))]
fn fibonacci(n: u64) -> PyResult<u64> {
    // F(n) is computed for n <= 93 only, so the loop above never runs more than 93 times.
    if n > FIBONACCI_MAX_N {
        return Err(PyOverflowError::new_err(format!(
            "fibonacci({n}) does not fit in 64 bits: the largest supported n is {FIBONACCI_MAX_N}"
        )));
    }
    fibonacci_u64(n).ok_or_else(|| PyOverflowError::new_err("fibonacci overflowed"))
}

/// Python's `str.isspace()`: Unicode White_Space plus the four ASCII separators U+001C..U+001F.
fn is_python_space(c: u32) -> bool {
    (0x1C..=0x1F).contains(&c) || char::from_u32(c).is_some_and(char::is_whitespace)
}

fn is_ascii_punctuation(c: u32) -> bool {
    u8::try_from(c).is_ok_and(|b| b.is_ascii_punctuation())
}

/// Distinct words among already-lowercased code points: split on whitespace, strip ASCII
/// punctuation from both ends, ignore what is left empty.
fn count_unique_lowered_words(text: &[u32]) -> usize {
    text.split(|&c| is_python_space(c))
        .map(|word| {
            let start = word.iter().position(|&c| !is_ascii_punctuation(c));
            let end = word.iter().rposition(|&c| !is_ascii_punctuation(c));
            match (start, end) {
                (Some(start), Some(end)) => &word[start..=end],
                _ => &[],
            }
        })
        .filter(|word| !word.is_empty())
        .collect::<HashSet<_>>()
        .len()
}

/// Count distinct words, case-insensitively.
///
/// Words are split on whitespace exactly like `str.split()`, and ASCII punctuation is
/// stripped from both ends of each (`"Hello,"` and `"hello"` are the same word):
/// `len({w.strip(string.punctuation) for w in text.lower().split()} - {""})`.
#[pyfunction]
#[pyo3(signature = (text, /))]
fn count_unique_words(text: &Bound<'_, PyString>) -> PyResult<usize> {
    // Python's own lower() keeps the case rules identical to str.lower() on every version.
    let lowered = text.call_method0(intern!(text.py(), "lower"))?;
    Ok(count_unique_lowered_words(&code_points(lowered.cast()?)?))
}

/// Whether lowercased code points read the same both ways, looking only at letters and
/// digits (Rust's `char::is_alphanumeric`). Final sigma `ς` counts as `σ`.
fn is_lowered_palindrome(text: &[u32]) -> bool {
    let mut letters = text
        .iter()
        .filter_map(|&c| char::from_u32(c))
        .filter(|c| c.is_alphanumeric())
        .map(|c| if c == 'ς' { 'σ' } else { c });
    // Compare from both ends until the two cursors meet.
    while let (Some(front), Some(back)) = (letters.next(), letters.next_back()) {
        if front != back {
            return false;
        }
    }
    true
}

/// Check whether text is a palindrome, ignoring case and every character that is not a
/// letter or digit. The empty string is a palindrome.
#[pyfunction]
#[pyo3(signature = (text, /))]
fn is_palindrome(text: &Bound<'_, PyString>) -> PyResult<bool> {
    let lowered = text.call_method0(intern!(text.py(), "lower"))?;
    Ok(is_lowered_palindrome(&code_points(lowered.cast()?)?))
}

/// The code points of a Python string.
///
/// abi3-py39 has no borrowed UTF-8 view of a `str` (`PyUnicode_AsUTF8AndSize` arrived in
/// 3.10's limited API), so we copy its code points instead. Unlike UTF-8 this also works
/// for strings holding lone surrogates, which Python allows.
fn code_points(text: &Bound<'_, PyString>) -> PyResult<Vec<u32>> {
    let mut buffer = Vec::new();
    code_points_into(text, &mut buffer)?;
    Ok(buffer)
}

/// Like [`code_points`], reusing `buffer` so a loop over many words allocates nothing.
fn code_points_into(text: &Bound<'_, PyString>, buffer: &mut Vec<u32>) -> PyResult<()> {
    // SAFETY: `text` is a live str (the type guarantees it) and we hold the GIL. The buffer
    // has room for exactly `len` code points and PyUnicode_AsUCS4 writes at most that many
    // (copy_null = 0); `set_len` runs only after it reports success.
    unsafe {
        let len = ffi::PyUnicode_GetLength(text.as_ptr());
        let len = usize::try_from(len).map_err(|_| PyErr::fetch(text.py()))?;
        buffer.clear();
        buffer.reserve(len);
        if len > 0 {
            let written =
                ffi::PyUnicode_AsUCS4(text.as_ptr(), buffer.as_mut_ptr(), len as isize, 0);
            if written.is_null() {
                return Err(PyErr::fetch(text.py()));
            }
            buffer.set_len(len);
        }
    }
    Ok(())
}

// ───────────────────────────── 2. Collections ─────────────────────────────

/// The value of `list[index]` if it is an exact `int` that fits in an i64.
///
/// This is the fast path of `sum_list`: it reads the item without touching its reference
/// count (each refcount change is an out-of-line call under abi3), which is what lets a
/// Rust loop keep up with the C loop inside the builtin `sum()`.
fn exact_int_at(list: &Bound<'_, PyList>, index: usize) -> Option<i64> {
    let index = isize::try_from(index).ok()?;
    // SAFETY: we hold the GIL. PyList_GetItem bounds-checks and returns a borrowed pointer
    // (or NULL) that the list keeps alive; we only read it, and no Python code can run
    // before we are done: the type check and the conversion of an exact int call no Python.
    unsafe {
        let item = ffi::PyList_GetItem(list.as_ptr(), index);
        if item.is_null() {
            ffi::PyErr_Clear();
            return None;
        }
        if ffi::PyLong_CheckExact(item) == 0 {
            return None;
        }
        let mut overflow = 0;
        let value = ffi::PyLong_AsLongLongAndOverflow(item, &mut overflow);
        (overflow == 0).then_some(value)
    }
}

/// Call `f` with each item of a list, tuple or other iterable, converted to an i64.
///
/// Raises TypeError for an item that is not an int and OverflowError for one outside i64.
fn for_each_i64(items: &Bound<'_, PyAny>, mut f: impl FnMut(i64)) -> PyResult<()> {
    if let Ok(list) = items.cast::<PyList>() {
        let (mut index, mut len) = (0, list.len());
        while index < len {
            match exact_int_at(list, index) {
                Some(value) => f(value),
                None => {
                    f(list.get_item(index)?.extract()?);
                    // Converting anything but an exact int can run Python code (an
                    // `__index__` method) that resizes the list under us.
                    len = list.len();
                }
            }
            index += 1;
        }
    } else if let Ok(tuple) = items.cast::<PyTuple>() {
        for item in tuple.iter() {
            f(item.extract()?);
        }
    } else {
        for item in items.try_iter()? {
            f(item?.extract()?);
        }
    }
    Ok(())
}

/// Sum all elements in a list (or tuple, or any iterable) of ints.
///
/// The running total is kept in 128 bits, so only a final total outside the 64-bit range
/// raises OverflowError; `[2**63 - 1, 1, -1]` sums fine.
#[pyfunction]
#[pyo3(signature = (items, /))]
fn sum_list(items: &Bound<'_, PyAny>) -> PyResult<i64> {
    let mut total: i128 = 0;
    for_each_i64(items, |value| total += i128::from(value))?;
    i64::try_from(total).map_err(|_| {
        PyOverflowError::new_err(format!(
            "sum_list: the total {total} does not fit in 64 bits"
        ))
    })
}

/// Filter a list to only positive numbers (> 0), keeping their order.
#[pyfunction]
#[pyo3(signature = (items, /))]
fn filter_positive(items: &Bound<'_, PyAny>) -> PyResult<Vec<i64>> {
    let mut positive = Vec::new();
    for_each_i64(items, |value| {
        if value > 0 {
            positive.push(value);
        }
    })?;
    Ok(positive)
}

/// Counts of words, keyed by their lowercased code points, in first-seen order.
struct WordCounts<K> {
    index: HashMap<Box<[u32]>, usize, foldhash::fast::RandomState>,
    entries: Vec<(K, u64)>,
}

impl<K> WordCounts<K> {
    fn new() -> Self {
        WordCounts {
            index: HashMap::default(),
            entries: Vec::new(),
        }
    }

    /// Count one more `word`; `make_key` builds the entry's key on its first occurrence.
    fn add<E>(&mut self, word: &[u32], make_key: impl FnOnce() -> Result<K, E>) -> Result<(), E> {
        match self.index.get(word) {
            Some(&i) => self.entries[i].1 += 1,
            None => {
                self.index.insert(word.into(), self.entries.len());
                self.entries.push((make_key()?, 1));
            }
        }
        Ok(())
    }
}

/// Create a frequency map from a list of strings: `{word.lower(): count}`.
///
/// Gives the same result as `collections.Counter(w.lower() for w in words)`, including
/// Unicode case rules (`"ß"`, `"Σ"`, `"İ"`), with keys in first-seen order. ASCII words are
/// lowercased in Rust; any other word goes through Python's own `str.lower()`.
#[pyfunction]
#[pyo3(signature = (words, /))]
fn word_frequencies<'py>(words: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
    let py = words.py();
    let mut counts = WordCounts::<Bound<'py, PyString>>::new();
    let mut buffer = Vec::new();
    let mut count_word = |word: Bound<'py, PyAny>| -> PyResult<()> {
        let word = word.cast_into::<PyString>().map_err(|err| {
            PyTypeError::new_err(format!(
                "word_frequencies() expects str items, got {}",
                err.into_inner().get_type()
            ))
        })?;
        code_points_into(&word, &mut buffer)?;
        // The ASCII fast path is only for exact str: a subclass may override lower().
        // SAFETY: `word` is a live object and we hold the GIL; this only reads its type.
        let exact_str = unsafe { ffi::PyUnicode_CheckExact(word.as_ptr()) } != 0;
        if exact_str && buffer.iter().all(|&c| c < 0x80) {
            buffer.iter_mut().for_each(|c| {
                if (0x41..=0x5A).contains(c) {
                    *c += 0x20; // 'A'..='Z' -> 'a'..='z'
                }
            });
            counts.add(&buffer, || {
                let ascii: String = buffer.iter().map(|&c| c as u8 as char).collect();
                Ok(PyString::new(py, &ascii))
            })
        } else {
            let lowered = word
                .call_method0(intern!(py, "lower"))?
                .cast_into::<PyString>()?;
            code_points_into(&lowered, &mut buffer)?;
            counts.add(&buffer, || Ok(lowered))
        }
    };
    if let Ok(list) = words.cast::<PyList>() {
        for word in list.iter() {
            count_word(word)?;
        }
    } else {
        for word in words.try_iter()? {
            count_word(word?)?;
        }
    }
    let frequencies = PyDict::new(py);
    for (word, count) in counts.entries {
        frequencies.set_item(word, count)?;
    }
    Ok(frequencies)
}

// ───────────────────────────── 3. Error handling ─────────────────────────────

/// Divide two numbers, raising ValueError("Division by zero") when b is 0 (or -0.0).
#[pyfunction]
#[pyo3(signature = (a, b, /))]
fn safe_divide(a: f64, b: f64) -> PyResult<f64> {
    if b == 0.0 {
        Err(PyValueError::new_err("Division by zero"))
    } else {
        Ok(a / b)
    }
}

/// Parse a string as a 64-bit integer, ignoring surrounding whitespace.
///
/// Raises ValueError("Cannot parse '<s>': <reason>") for anything else.
#[pyfunction]
#[pyo3(signature = (s, /))]
// `&str` arguments need Python 3.10's limited API; on abi3-py39 PyO3 hands us a String.
fn safe_parse_int(s: String) -> PyResult<i64> {
    s.trim()
        .parse::<i64>()
        .map_err(|e| PyValueError::new_err(format!("Cannot parse '{s}': {e}")))
}

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

// ───────────────────────────── 4. Classes ─────────────────────────────
//
// All three classes are `frozen`: Python never hands out `&mut self`, so two threads can
// never collide on a borrow ("Already borrowed"). Mutable state sits behind a Mutex (or an
// atomic). Two rules keep the locks deadlock-free: no Python code runs while one is held
// (no repr, no ==, and no dropping of Python objects, whose __del__ could run anything),
// and the GIL is never released while one is held.

/// Lock a mutex. Nothing panics while holding these locks, so a poisoned one is still
/// consistent; taking it anyway beats turning every later call into a PanicException.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An exact running sum of floats (Shewchuk's algorithm, the one behind `math.fsum`).
///
/// The sum is held as a list of non-overlapping partials whose exact total is the true sum,
/// so adding and later subtracting a huge value leaves no trace in the small ones.
#[derive(Clone, Debug, Default)]
struct ExactSum {
    partials: Vec<f64>,
}

/// Below this magnitude, adding one or two values to partials that are also below it cannot
/// overflow: the partials never overlap, so together they are less than twice the largest,
/// and every running sum stays under 3x this bound for the first value and 7x for the second.
const NO_OVERFLOW: f64 = f64::MAX / 8.0;

/// Add `value` to non-overlapping `partials` in place (one step of Shewchuk's algorithm).
/// Returns false if the sum overflowed, which leaves `partials` meaningless.
fn add_to_partials(partials: &mut Vec<f64>, value: f64) -> bool {
    let mut x = value;
    let mut kept = 0;
    // In place: slot `kept` is never ahead of the partial being read.
    for j in 0..partials.len() {
        let partial = partials[j];
        // Knuth's TwoSum: hi + lo == x + partial exactly, whichever is bigger. Neither it
        // nor the store below branches; on varied data those branches were coin flips.
        let hi = x + partial;
        let back = hi - x;
        let lo = (x - (hi - back)) + (partial - back);
        partials[kept] = lo; // kept only if nonzero
        kept += usize::from(lo != 0.0);
        x = hi;
    }
    partials.truncate(kept);
    partials.push(x);
    x.is_finite()
}

impl ExactSum {
    /// Add one or two values in turn, or, if the exact sum would leave the float range at any
    /// step, leave the sum unchanged and return false.
    fn add_all(&mut self, values: &[f64]) -> bool {
        debug_assert!(values.len() <= 2, "NO_OVERFLOW covers two values");
        let below = |v: &f64| v.abs() < NO_OVERFLOW;
        if values.iter().chain(self.partials.last()).all(below) {
            // The usual case: nothing can overflow, so update in place.
            for &value in values {
                let finite = add_to_partials(&mut self.partials, value);
                debug_assert!(finite, "NO_OVERFLOW is too large");
            }
            return true;
        }
        // Near the top of the float range: work on a copy, kept only if all went well.
        let mut work = self.partials.clone();
        let added = values
            .iter()
            .all(|&value| add_to_partials(&mut work, value));
        if added {
            self.partials = work;
        }
        added
    }

    /// The exact sum, correctly rounded to the nearest float (the final step of `math.fsum`).
    fn total(&self) -> f64 {
        let p = &self.partials;
        let Some((&last, rest)) = p.split_last() else {
            return 0.0;
        };
        let (mut hi, mut lo) = (last, 0.0);
        // Every `p[n - 1]` below runs only while n > 0, so it is in bounds.
        let mut n = rest.len();
        while n > 0 {
            let x = hi;
            let y = p[n - 1];
            n -= 1;
            hi = x + y;
            lo = y - (hi - x);
            if lo != 0.0 {
                break;
            }
        }
        // Round half-even correctly when the discarded part is exactly half an ulp.
        if n > 0 && ((lo < 0.0 && p[n - 1] < 0.0) || (lo > 0.0 && p[n - 1] > 0.0)) {
            let y = lo * 2.0;
            let x = hi + y;
            if y == x - hi {
                hi = x;
            }
        }
        hi
    }
}

/// What `Window::push` can refuse.
#[derive(Debug, PartialEq)]
enum WindowError {
    NotFinite,
    SumOverflow,
}

/// The last `size` values and their exact sum: the state of a MovingAverage.
#[derive(Clone, Debug)]
struct Window {
    size: usize,
    values: VecDeque<f64>,
    sum: ExactSum,
}

impl Window {
    fn new(size: usize) -> Self {
        // No `with_capacity(size)`: a huge window must not allocate up front.
        Self {
            size,
            values: VecDeque::new(),
            sum: ExactSum::default(),
        }
    }

    /// Add a value, dropping the oldest once the window is full. O(1) whatever the size.
    /// On error nothing changes.
    fn push(&mut self, value: f64) -> Result<(), WindowError> {
        if !value.is_finite() {
            return Err(WindowError::NotFinite);
        }
        let full = self.values.len() == self.size;
        let added = match self.values.front() {
            Some(&oldest) if full => self.sum.add_all(&[-oldest, value]),
            _ => self.sum.add_all(&[value]),
        };
        if !added {
            return Err(WindowError::SumOverflow);
        }
        if full {
            self.values.pop_front();
        }
        self.values.push_back(value);
        Ok(())
    }

    /// The mean of the window (0.0 when empty): the exactly rounded sum over the count, the
    /// same number `statistics.fmean(window)` gives.
    fn average(&self) -> f64 {
        if self.values.is_empty() {
            0.0
        } else {
            self.sum.total() / self.values.len() as f64
        }
    }

    fn clear(&mut self) {
        self.values.clear();
        self.sum = ExactSum::default();
    }
}

/// A moving average over the last `window_size` values.
///
/// `add` is O(1) whatever the window size, and the average is exact: it equals
/// `statistics.fmean` of the values in the window, even after a huge value has come and gone.
#[pyclass(module = "rust_demo", frozen)]
struct MovingAverage {
    /// The number of values the average covers.
    #[pyo3(get)]
    window_size: usize,
    window: Mutex<Window>,
}

/// A positive size from Python, or ValueError(`message`).
fn positive_size(size: i64, message: &'static str) -> PyResult<usize> {
    usize::try_from(size)
        .ok()
        .filter(|&size| size > 0)
        .ok_or_else(|| PyValueError::new_err(message))
}

#[pymethods]
impl MovingAverage {
    /// Create a new MovingAverage with the specified window size (a positive int).
    #[new]
    fn new(window_size: i64) -> PyResult<Self> {
        let window_size = positive_size(window_size, "Window size must be positive")?;
        Ok(MovingAverage {
            window_size,
            window: Mutex::new(Window::new(window_size)),
        })
    }

    /// Add a value and return the current moving average.
    ///
    /// Raises ValueError for nan or infinity, and OverflowError if the sum of the window
    /// would exceed the float range; in both cases nothing is added.
    fn add(&self, value: f64) -> PyResult<f64> {
        let mut window = lock(&self.window);
        match window.push(value) {
            Ok(()) => Ok(window.average()),
            Err(WindowError::NotFinite) => Err(PyValueError::new_err(format!(
                "MovingAverage.add() needs a finite number, got {value}"
            ))),
            Err(WindowError::SumOverflow) => Err(PyOverflowError::new_err(
                "MovingAverage.add(): the sum of the window would exceed the float range",
            )),
        }
    }

    /// Get the current moving average (0.0 when no values have been added).
    fn average(&self) -> f64 {
        lock(&self.window).average()
    }

    /// Get the number of values currently stored (at most window_size).
    fn count(&self) -> usize {
        lock(&self.window).values.len()
    }

    /// Clear all values.
    fn clear(&self) {
        lock(&self.window).clear();
    }

    /// Python representation, e.g. MovingAverage(window_size=3, count=3, avg=30.00).
    fn __repr__(&self) -> String {
        let window = lock(&self.window);
        format!(
            "MovingAverage(window_size={}, count={}, avg={:.2})",
            self.window_size,
            window.values.len(),
            window.average()
        )
    }

    /// Pickle and copy support: rebuild with the same window size and values.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> (Bound<'py, PyType>, (usize,), Vec<f64>) {
        let this = slf.get();
        let values = lock(&this.window).values.iter().copied().collect();
        (slf.get_type(), (this.window_size,), values)
    }

    /// Restore the values saved by __reduce__ (oldest first).
    fn __setstate__(&self, values: Vec<f64>) -> PyResult<()> {
        let mut window = Window::new(self.window_size);
        for value in values {
            window
                .push(value)
                .map_err(|_| PyValueError::new_err("invalid MovingAverage state"))?;
        }
        *lock(&self.window) = window;
        Ok(())
    }
}

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

/// A fixed-capacity FIFO: the plain-Rust core of RingBuffer.
#[derive(Debug)]
struct Ring<T> {
    capacity: usize,
    items: VecDeque<T>,
    /// Bumped by every change, so iterators can notice they went stale.
    version: u64,
}

impl<T> Ring<T> {
    fn new(capacity: usize) -> Self {
        // No `with_capacity`: RingBuffer(10**12) must not allocate up front.
        Ring {
            capacity,
            items: VecDeque::new(),
            version: 0,
        }
    }

    /// Append `item`; when full, the oldest item is removed and returned.
    fn push(&mut self, item: T) -> Option<T> {
        let evicted = if self.items.len() == self.capacity {
            self.items.pop_front()
        } else {
            None
        };
        self.items.push_back(item);
        self.version = self.version.wrapping_add(1);
        evicted
    }

    /// Remove and return the oldest item.
    fn pop(&mut self) -> Option<T> {
        let item = self.items.pop_front()?;
        self.version = self.version.wrapping_add(1);
        Some(item)
    }

    /// The item at `index` (0 is the oldest), counting from the newest when negative.
    fn get(&self, index: isize) -> Option<&T> {
        let position = if index < 0 {
            index.checked_add_unsigned(self.items.len())?
        } else {
            index
        };
        self.items.get(usize::try_from(position).ok()?)
    }

    /// Remove and return every item.
    fn take_all(&mut self) -> VecDeque<T> {
        self.version = self.version.wrapping_add(1);
        std::mem::take(&mut self.items)
    }

    /// `push` each item in turn, moving the items it evicts into `evicted`.
    fn push_all(&mut self, items: impl IntoIterator<Item = T>, evicted: &mut Vec<T>) {
        evicted.extend(items.into_iter().filter_map(|item| self.push(item)));
    }
}

/// A fixed-capacity FIFO buffer of any Python objects, like `deque(maxlen=capacity)`.
///
/// `push` appends (dropping the oldest item when full), `pop` removes the oldest.
/// `rb[0]` is the oldest item and `rb[-1]` the newest; iteration goes oldest to newest.
#[pyclass(module = "rust_demo", frozen, sequence, weakref)]
struct RingBuffer {
    ring: Mutex<Ring<Py<PyAny>>>,
}

impl RingBuffer {
    /// Items per locked batch in `extend`: bounds the evicted items held back until the
    /// lock is released.
    const BATCH: usize = 4096;

    /// Push the items of an exact list or tuple, whose `len` and `get` run no Python code,
    /// a batch at a time under one lock.
    fn push_indexed<'py>(
        &self,
        len: impl Fn() -> usize,
        get: impl Fn(usize) -> PyResult<Bound<'py, PyAny>>,
    ) {
        let mut start = 0;
        loop {
            // The length is read again for each batch: the evicted items' `__del__`, run
            // between batches, may have resized the list, as it could between the steps of
            // a Python loop over it.
            let end = len().min(start + Self::BATCH); // start <= len, far below usize::MAX
            if start >= end {
                return;
            }
            let mut evicted = Vec::with_capacity(end - start);
            let mut ring = lock(&self.ring);
            for index in start..end {
                // Within a batch no Python code runs, so the length holds; on a free-threaded
                // build another thread may shrink the list, and then the batch ends here.
                let Ok(item) = get(index) else { break };
                evicted.extend(ring.push(item.unbind()));
            }
            drop(ring);
            drop(evicted); // after the lock is released, as in push()
            start = end;
        }
    }

    /// Push every item under one lock, then release the ones evicted.
    fn push_batch(&self, batch: Vec<Py<PyAny>>) {
        let mut evicted = Vec::with_capacity(batch.len());
        lock(&self.ring).push_all(batch, &mut evicted);
        drop(evicted); // after the lock is released, as in push()
    }

    /// New references to the items, oldest first, taken under the lock so that the caller
    /// can run Python code (repr, ==) on them after releasing it.
    fn snapshot(&self, py: Python<'_>) -> Vec<Py<PyAny>> {
        lock(&self.ring)
            .items
            .iter()
            .map(|item| item.clone_ref(py))
            .collect()
    }
}

#[pymethods]
impl RingBuffer {
    /// Create an empty buffer holding at most `capacity` items (a positive int).
    #[new]
    fn new(capacity: i64) -> PyResult<Self> {
        let capacity = positive_size(capacity, "Capacity must be positive")?;
        Ok(RingBuffer {
            ring: Mutex::new(Ring::new(capacity)),
        })
    }

    /// The maximum number of items.
    #[getter]
    fn capacity(&self) -> usize {
        lock(&self.ring).capacity
    }

    /// Append an item; when the buffer is full the oldest item is dropped.
    fn push(&self, item: Py<PyAny>) {
        let evicted = lock(&self.ring).push(item);
        // The lock is released at the end of the statement above, so dropping the evicted
        // item (whose __del__ may run any Python code, even code using this buffer) is safe.
        drop(evicted);
    }

    /// Append every item of an iterable, in order, like `deque.extend`: once the buffer is
    /// full, each new item drops the oldest. One call for many items saves the cost of a
    /// Python call per item (the guide's "overhead consideration").
    ///
    /// A list or tuple is read in batches of 4096 items, each pushed under one lock; the
    /// items a batch evicts are released after it, so their `__del__` runs between batches.
    #[pyo3(signature = (items, /))]
    fn extend(slf: &Bound<'_, Self>, items: &Bound<'_, PyAny>) -> PyResult<()> {
        let this = slf.get();
        if items.is(slf) {
            // rb.extend(rb): like deque, extend with what the buffer held when called.
            this.push_batch(this.snapshot(slf.py()));
        } else if let Ok(list) = items.cast_exact::<PyList>() {
            this.push_indexed(|| list.len(), |index| list.get_item(index));
        } else if let Ok(tuple) = items.cast_exact::<PyTuple>() {
            this.push_indexed(|| tuple.len(), |index| tuple.get_item(index));
        } else {
            // Any other iterable: its __next__ is Python code, so no lock is held across it.
            for item in items.try_iter()? {
                this.push(item?.unbind());
            }
        }
        Ok(())
    }

    /// Remove and return the oldest item; IndexError when empty.
    fn pop(&self) -> PyResult<Py<PyAny>> {
        let item = lock(&self.ring).pop();
        item.ok_or_else(|| PyIndexError::new_err("pop from an empty RingBuffer"))
    }

    /// Remove every item.
    fn clear(&self) {
        let items = lock(&self.ring).take_all();
        drop(items); // after the lock is released, as in push()
    }

    /// Whether the buffer holds `capacity` items.
    fn is_full(&self) -> bool {
        let ring = lock(&self.ring);
        ring.items.len() == ring.capacity
    }

    /// The items as a list, oldest first.
    fn to_list<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.snapshot(py))
    }

    fn __len__(&self) -> usize {
        lock(&self.ring).items.len()
    }

    fn __getitem__(&self, py: Python<'_>, index: isize) -> PyResult<Py<PyAny>> {
        let item = lock(&self.ring).get(index).map(|item| item.clone_ref(py));
        item.ok_or_else(|| PyIndexError::new_err("RingBuffer index out of range"))
    }

    fn __contains__(&self, value: &Bound<'_, PyAny>) -> PyResult<bool> {
        for item in self.snapshot(value.py()) {
            // Like `in` on a list: identity first, then ==.
            let item = item.bind(value.py());
            if item.is(value) || item.eq(value)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn __iter__(slf: Py<Self>) -> RingBufferIterator {
        let version = lock(&slf.get().ring).version;
        RingBufferIterator {
            buffer: slf,
            next: AtomicUsize::new(0),
            version,
        }
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        // Py_ReprEnter detects a buffer that (indirectly) contains itself and would otherwise
        // recurse until the stack overflows; list and deque use the same guard.
        // SAFETY: `slf` is a live object and we hold the GIL.
        if unsafe { ffi::Py_ReprEnter(slf.as_ptr()) } != 0 {
            return Ok("RingBuffer(...)".to_owned());
        }
        let this = slf.get();
        let items = PyList::new(slf.py(), this.snapshot(slf.py())).and_then(|list| list.repr());
        // SAFETY: pairs with the successful Py_ReprEnter above.
        unsafe { ffi::Py_ReprLeave(slf.as_ptr()) };
        Ok(format!(
            "RingBuffer(capacity={}, items={})",
            this.capacity(),
            items?
        ))
    }

    /// Pickle and copy support: rebuild with the same capacity, then restore the items.
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyType>, (usize,), Bound<'py, PyList>)> {
        let this = slf.get();
        Ok((slf.get_type(), (this.capacity(),), this.to_list(slf.py())?))
    }

    /// Replace the items with those saved by __reduce__ (oldest first).
    fn __setstate__(&self, items: Vec<Py<PyAny>>) {
        let mut ring = lock(&self.ring);
        let mut dropped = ring.take_all();
        dropped.extend(items.into_iter().filter_map(|item| ring.push(item)));
        drop(ring);
        drop(dropped); // after the lock is released, as in push()
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        // The collector must not block. The lock is only ever held briefly by a thread that
        // holds the GIL, so it is free here; if it were not, skipping the visit is safe (the
        // collector then sees these items as referenced from outside and keeps them).
        if let Ok(ring) = self.ring.try_lock() {
            for item in &ring.items {
                visit.call(item)?;
            }
        }
        Ok(())
    }

    fn __clear__(&self) {
        self.clear();
    }
}

/// Iterator over a RingBuffer, oldest to newest. Raises RuntimeError if the buffer changes
/// during iteration, as deque does.
#[pyclass(module = "rust_demo", frozen)]
struct RingBufferIterator {
    buffer: Py<RingBuffer>,
    next: AtomicUsize,
    version: u64,
}

#[pymethods]
impl RingBufferIterator {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let ring = lock(&self.buffer.get().ring);
        if ring.version != self.version {
            return Err(PyRuntimeError::new_err(
                "RingBuffer mutated during iteration",
            ));
        }
        let position = self.next.fetch_add(1, Ordering::Relaxed);
        Ok(ring.items.get(position).map(|item| item.clone_ref(py)))
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.buffer)
    }
}

// ───────────────────────────── 5. Performance: the sieve ─────────────────────────────

/// Odd numbers per sieve segment: 32 KiB of flags, which stay in the L1 data cache.
const SEGMENT_ODDS: usize = 1 << 15;

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

/// How often long work without the GIL stops to let Python handle Ctrl-C.
const SIGNAL_CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// The integer square root of n.
fn isqrt(n: u64) -> u64 {
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
struct PrimeBits {
    words: Vec<u64>,
}

impl PrimeBits {
    /// Sieve up to n, appending to `words` (empty, reserved or not). `keep_going` is called
    /// between segments, and its error stops the sieve.
    fn sieve<E>(
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
    fn odd_primes(&self) -> impl Iterator<Item = u64> + '_ {
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
fn odd_primes_up_to<E>(
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
/// `low + 2*i` is an odd prime, then `keep_going()`, whose error stops the sieve. Memory is
/// O(sqrt(n)) whatever n is.
fn sieve_segments<E>(
    n: u64,
    keep_going: &mut dyn FnMut() -> Result<(), E>,
    visit: &mut dyn FnMut(u64, &[u8]),
) -> Result<(), E> {
    if n < 3 {
        return Ok(());
    }
    let base_primes = odd_primes_up_to(isqrt(n), keep_going)?;
    let presieved = base_primes.iter().take_while(|&&p| p <= 13).count();
    let crossing_primes = &base_primes[presieved..];
    // Where each crossing prime in use has its next odd multiple, as an index into the next
    // segment: carried over from segment to segment, so no prime needs a division. Primes
    // join in order, once their square (their first multiple left to cross off) is in reach.
    let mut next_multiple: Vec<u32> = Vec::new();
    let pattern = presieve_pattern();
    let mut flags = vec![0u8; SEGMENT_ODDS.min((n / 2) as usize + 1)];
    let mut low: u64 = 1;
    while low <= n {
        let len = flags.len().min(((n - low) / 2) as usize + 1);
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
            // low <= square <= high: the square was out of reach of the previous segment.
            next_multiple.push(((square - low) / 2) as u32);
        }
        for (&p, next) in crossing_primes.iter().zip(&mut next_multiple) {
            let step = p as usize; // odd multiples are 2p apart: p slots of odd numbers
            let mut i = *next as usize;
            while i < len {
                segment[i] = 0;
                i += step;
            }
            *next = (i - len) as u32; // less than p, so it fits
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
            Some(next) => low = next,
            None => break,
        }
    }
    Ok(())
}

/// The number of primes up to n.
fn prime_count<E>(n: u64, keep_going: &mut dyn FnMut() -> Result<(), E>) -> Result<u64, E> {
    let mut count = u64::from(n >= 2);
    sieve_segments(n, keep_going, &mut |_, flags| {
        count += flags
            .chunks(64)
            .map(|flags| u64::from(pack_flags(flags).count_ones()))
            .sum::<u64>();
    })?;
    Ok(count)
}

/// Call from long work that runs without the GIL: every 50 ms it briefly re-attaches to
/// run Python's signal handlers, so Ctrl-C raises KeyboardInterrupt promptly.
fn interruptible() -> impl FnMut() -> PyResult<()> {
    let mut last_check = Instant::now();
    move || {
        if last_check.elapsed() < SIGNAL_CHECK_INTERVAL {
            return Ok(());
        }
        last_check = Instant::now();
        Python::attach(|py| py.check_signals())
    }
}

/// Count the primes up to n (inclusive) with the same sieve, without building a list.
///
/// Memory stays small whatever n is; the GIL is released for the whole count, so several
/// threads counting at once run in parallel. Ctrl-C stops it within a fraction of a second.
#[pyfunction]
#[pyo3(signature = (n, /))]
fn count_primes(py: Python<'_>, n: u64) -> PyResult<u64> {
    py.detach(|| prime_count(n, &mut interruptible()))
}

// ----- Exercise 4 begin: sieve_of_eratosthenes -----
// The tuned sieve as a Python list. `python3 scripts/dev.py start 4` takes out everything
// down to the end marker (count_primes above keeps the sieve itself) for you to write the
// guide's simple version instead; `python3 scripts/dev.py solution 4` puts it back.

use pyo3::exceptions::{PyMemoryError, PySystemError};

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

impl PrimeBits {
    /// How many words the primes up to n need: an upper bound, to reserve them up front.
    fn words_needed(n: u64) -> u64 {
        (n / 2 + 1).div_ceil(64)
    }

    /// How many primes there are up to n, the limit these bits were sieved to.
    fn count(&self, n: u64) -> usize {
        let odd: u32 = self.words.iter().map(|word| word.count_ones()).sum::<u32>();
        usize::from(n >= 2) + odd as usize
    }

    /// All the primes up to n, the limit these bits were sieved to, in order.
    fn primes(&self, n: u64) -> impl Iterator<Item = u64> + '_ {
        (n >= 2).then_some(2).into_iter().chain(self.odd_primes())
    }
}

/// A Python list of the first `len` values, built item by item so that Ctrl-C is checked
/// every million items: turning hundreds of millions of primes into Python ints takes
/// seconds.
///
/// This is the floor of `sieve_of_eratosthenes`: creating the int objects costs more than
/// finding the primes, so it is written directly against the C API (PyO3's generic
/// `PyList::new` is about 1.5x slower here).
fn int_list(
    py: Python<'_>,
    len: usize,
    values: impl Iterator<Item = u64>,
) -> PyResult<Bound<'_, PyList>> {
    const CHECK_EVERY: usize = 1 << 20;
    let size = isize::try_from(len).map_err(|_| PyMemoryError::new_err("list too long"))?;
    // SAFETY: we hold the GIL. PyList_New returns a new list of `len` NULL slots (or NULL on
    // error), owned by `list` from then on, so it is freed on every early return below; a
    // list with NULL slots left is valid to free. PyList_SetItem steals the new int (and
    // frees it itself if it fails), and each index is < len. The list reaches Python only
    // once every slot is filled.
    unsafe {
        let list = Bound::from_owned_ptr_or_err(py, ffi::PyList_New(size))?.cast_into_unchecked();
        let mut filled = 0;
        // try_for_each, not a for loop: chained iterators that drive themselves compile to a
        // tighter loop (0.06 ms less at n = 10**6).
        values.take(len).try_for_each(|value| {
            if filled % CHECK_EVERY == CHECK_EVERY - 1 {
                py.check_signals()?;
            }
            // CPython's signed constructor has a fast path for small ints; the unsigned one
            // (until 3.12) does not, and was a third slower here.
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
            return Err(PySystemError::new_err(
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
    let bound = prime_count_upper_bound(n);
    let words = PrimeBits::words_needed(n);
    let needed = bound
        .saturating_mul(BYTES_PER_LISTED_PRIME)
        .saturating_add(words.saturating_mul(8));
    if physical_memory().is_some_and(|memory| needed > memory) {
        return Err(PyMemoryError::new_err(format!(
            "sieve_of_eratosthenes({n}): a list of up to {bound} primes needs about {} GiB, \
             more than this machine's memory; count_primes({n}) needs almost none",
            needed >> 30
        )));
    }
    let mut bits = Vec::new();
    usize::try_from(words)
        .ok()
        .and_then(|words| bits.try_reserve_exact(words).ok())
        .ok_or_else(|| {
            PyMemoryError::new_err(format!("sieve_of_eratosthenes({n}): out of memory"))
        })?;
    let primes = py.detach(|| PrimeBits::sieve(n, bits, &mut interruptible()))?;
    int_list(py, primes.count(n), primes.primes(n))
}
// ----- Exercise 4 end: sieve_of_eratosthenes -----

// ───────────────────────────── The module ─────────────────────────────

/// Companion code of the workshop "Rust for Pythonistas: Building Native Extensions with PyO3".
///
/// Functions: fibonacci, count_unique_words, is_palindrome, sum_list, filter_positive,
/// word_frequencies, safe_divide, safe_parse_int, factorial, sieve_of_eratosthenes,
/// count_primes. Classes: MovingAverage, Counter, RingBuffer.
#[pymodule]
fn rust_demo(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // One line per function and class, exactly as the guide writes them. Each class is
    // declared with `module = "rust_demo"`, which is what lets pickle find it again.
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
    m.add_class::<MovingAverage>()?;
    m.add_class::<Counter>()?;
    m.add_class::<RingBuffer>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

// ───────────────────────────── Rust tests (no Python needed) ─────────────────────────────

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
    fn fibonacci_values_and_limit() {
        assert_eq!(fibonacci_u64(0), Some(0));
        assert_eq!(fibonacci_u64(1), Some(1));
        assert_eq!(fibonacci_u64(40), Some(102_334_155));
        assert_eq!(fibonacci_u64(93), Some(12_200_160_415_121_876_738));
        assert_eq!(fibonacci_u64(94), None);
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
            let primes: Vec<u64> = bits.primes(n).collect();
            assert_eq!(primes, naive_primes(n), "n = {n}");
            assert_eq!(bits.count(n), primes.len());
            assert!(bits.words.len() as u64 <= PrimeBits::words_needed(n));
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
    fn prime_count_bound_holds() {
        for n in (0..2000).chain([355_990, 355_991, 1_000_000, 10_000_000]) {
            let bits = PrimeBits::sieve(n, Vec::new(), &mut no_interrupt()).unwrap();
            assert!(
                bits.count(n) as u64 <= prime_count_upper_bound(n),
                "n = {n}"
            );
        }
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

    fn cps(text: &str) -> Vec<u32> {
        text.chars().map(u32::from).collect()
    }

    #[test]
    fn unique_words_strip_punctuation_and_split_like_python() {
        assert_eq!(
            count_unique_lowered_words(&cps("hello, world! hello world -- ...")),
            2
        );
        assert_eq!(count_unique_lowered_words(&cps("a\u{1c}b\u{3000}c a")), 3);
        assert_eq!(count_unique_lowered_words(&cps("")), 0);
    }

    #[test]
    fn palindromes() {
        assert!(is_lowered_palindrome(&cps("a man a plan a canal panama")));
        assert!(is_lowered_palindrome(&cps("")));
        assert!(is_lowered_palindrome(&cps("σας")) == is_lowered_palindrome(&cps("ςας")));
        assert!(!is_lowered_palindrome(&cps("hello")));
        assert!(is_lowered_palindrome(&[0xD800, u32::from('a'), 0xDC00]));
    }

    #[test]
    fn exact_sum_forgets_a_huge_value() {
        let mut sum = ExactSum::default();
        assert!(sum.add_all(&[1e300, 1.0]));
        assert!(sum.add_all(&[2.0, -1e300]));
        assert_eq!(sum.total(), 3.0);
        assert!(sum.add_all(&[f64::MAX]));
        assert!(!sum.add_all(&[-1.0, f64::MAX]), "overflow is refused");
        assert_eq!(sum.total(), f64::MAX);
    }

    #[test]
    fn exact_sum_updates_in_place_right_up_to_the_bound() {
        // The largest values the in-place path takes; its debug_assert checks no overflow.
        let big = NO_OVERFLOW * (1.0 - f64::EPSILON);
        let mut sum = ExactSum::default();
        assert!(sum.add_all(&[big]));
        assert!(sum.add_all(&[big, big]));
        assert_eq!(sum.total(), 3.0 * big);
        assert!(sum.add_all(&[-big, -big]));
        assert_eq!(sum.total(), big);
    }

    #[test]
    fn window_slides_and_refuses_bad_values() {
        let mut window = Window::new(3);
        for (value, average) in [(10.0, 10.0), (20.0, 15.0), (30.0, 20.0), (40.0, 30.0)] {
            window.push(value).unwrap();
            assert_eq!(window.average(), average);
        }
        assert_eq!(window.push(f64::NAN), Err(WindowError::NotFinite));
        assert_eq!(window.values, [20.0, 30.0, 40.0]);
    }

    #[test]
    fn ring_evicts_oldest_and_indexes_from_both_ends() {
        let mut ring = Ring::new(3);
        assert_eq!(ring.push(1), None);
        ring.push(2);
        ring.push(3);
        assert_eq!(ring.push(4), Some(1));
        assert_eq!(ring.get(0), Some(&2));
        assert_eq!(ring.get(-1), Some(&4));
        assert_eq!(ring.get(-3), Some(&2));
        assert_eq!(ring.get(-4), None);
        assert_eq!(ring.get(3), None);
        assert_eq!(ring.get(isize::MIN), None);
        assert_eq!(ring.pop(), Some(2));
        assert_eq!(ring.take_all(), [3, 4]);
        assert_eq!(ring.pop(), None);
    }

    #[test]
    fn push_all_keeps_the_newest_and_hands_back_the_evicted() {
        let mut ring = Ring::new(2);
        let mut evicted = Vec::new();
        ring.push_all([1, 2, 3, 4, 5], &mut evicted);
        assert_eq!(evicted, [1, 2, 3]);
        assert_eq!(ring.take_all(), [4, 5]);
    }
}
