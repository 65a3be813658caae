//! rust_demo: the companion module of the workshop guide
//! "Rust for Pythonistas: Building Native Extensions with PyO3".
//!
//! Layout: each section below holds plain Rust functions (tested by `cargo test`, no Python
//! needed) and, beneath them, thin `#[pyfunction]` / `#[pyclass]` wrappers that convert
//! arguments, release the GIL for long work and turn Rust errors into Python exceptions.
//! The `#[pymodule]` function at the bottom registers everything Python sees, one line each.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet, TryReserveError, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use pyo3::exceptions::{
    PyIndexError, PyMemoryError, PyOverflowError, PyRuntimeError, PyTypeError, PyValueError,
};
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple, PyType};
use pyo3::{ffi, intern, PyTraverseError};

/// The MemoryError for an allocation that failed. Every allocation whose size depends on the
/// input goes through `try_reserve`, so running out of memory (a container's memory cap, an
/// address-space limit) raises MemoryError instead of aborting the interpreter.
fn no_memory(_: TryReserveError) -> PyErr {
    PyMemoryError::new_err("out of memory")
}

/// A Python list of `items`. Unlike PyO3's `PyList::new`, which panics when Python cannot
/// allocate the list, a failure here is a MemoryError.
fn list_of<'py, T: IntoPyObject<'py>>(
    py: Python<'py>,
    items: impl IntoIterator<Item = T>,
) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for item in items {
        list.append(item)?;
    }
    Ok(list)
}

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
fn count_unique_lowered_words(text: &[u32]) -> Result<usize, TryReserveError> {
    let words = text
        .split(|&c| is_python_space(c))
        .map(|word| {
            let start = word.iter().position(|&c| !is_ascii_punctuation(c));
            let end = word.iter().rposition(|&c| !is_ascii_punctuation(c));
            match (start, end) {
                (Some(start), Some(end)) => &word[start..=end],
                _ => &[],
            }
        })
        .filter(|word| !word.is_empty());
    let mut unique = HashSet::new();
    for word in words {
        if !unique.contains(word) {
            unique.try_reserve(1)?;
            unique.insert(word);
        }
    }
    Ok(unique.len())
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
    count_unique_lowered_words(&code_points(lowered.cast()?)?).map_err(no_memory)
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
    // SAFETY: `text` is a live str (the type guarantees it) and this thread is attached to
    // the interpreter; a str is immutable, so no other thread can change it under us, with or
    // without a GIL. The buffer has room for at least `len` code points and PyUnicode_AsUCS4
    // writes at most that many (copy_null = 0); `set_len` runs only after it reports success.
    unsafe {
        let len = ffi::PyUnicode_GetLength(text.as_ptr());
        let len = usize::try_from(len).map_err(|_| PyErr::fetch(text.py()))?;
        buffer.clear();
        buffer.try_reserve(len).map_err(no_memory)?;
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

/// What `list[index]` is, as far as the fast path of `for_each_i64` cares.
enum ListItem {
    /// An exact `int` that fits in an i64, with its value.
    Int(i64),
    /// Anything else: converting it may run Python code.
    Other,
    /// `index` is past the end of the list.
    End,
}

/// Classify `item` without running any Python code.
///
/// # Safety
/// `item` must point to a live object for the duration of the call, and the thread must be
/// attached to the interpreter.
unsafe fn classify_item(item: *mut ffi::PyObject) -> ListItem {
    // SAFETY: the caller keeps `item` alive; an exact int is immutable, and neither the type
    // check nor the conversion of an exact int calls any Python code.
    unsafe {
        if ffi::PyLong_CheckExact(item) == 0 {
            return ListItem::Other;
        }
        let mut overflow = 0;
        let value = ffi::PyLong_AsLongLongAndOverflow(item, &mut overflow);
        if overflow == 0 {
            ListItem::Int(value)
        } else {
            ListItem::Other
        }
    }
}

/// What `list[index]` is: the fast path of `sum_list`.
///
/// With the GIL, this reads the item without touching its reference count (each refcount
/// change is an out-of-line call under abi3), which is what lets a Rust loop keep up with the
/// C loop inside the builtin `sum()`.
#[cfg(not(Py_GIL_DISABLED))]
fn list_item_at(list: &Bound<'_, PyList>, index: usize) -> ListItem {
    let Ok(index) = isize::try_from(index) else {
        return ListItem::End;
    };
    // SAFETY: this build has a GIL and we hold it. PyList_GetItem bounds-checks and returns
    // a borrowed pointer (or NULL with IndexError set, which we clear) that the list keeps
    // alive until Python code runs and changes the list; classify_item runs none, and with
    // the GIL held no other thread can run any either.
    unsafe {
        let item = ffi::PyList_GetItem(list.as_ptr(), index);
        if item.is_null() {
            ffi::PyErr_Clear();
            return ListItem::End;
        }
        classify_item(item)
    }
}

/// What `list[index]` is: the free-threaded version of the fast path of `sum_list`.
///
/// Without a GIL another thread can remove the item from the list and free it at any moment,
/// so a borrowed pointer from PyList_GetItem could dangle: take a strong reference instead
/// (PyList_GetItemRef, through PyO3's safe `get_item`).
#[cfg(Py_GIL_DISABLED)]
fn list_item_at(list: &Bound<'_, PyList>, index: usize) -> ListItem {
    match list.get_item(index) {
        // SAFETY: `item` is a strong reference we own until the end of this block, and the
        // thread is attached (we hold a `Bound`).
        Ok(item) => unsafe { classify_item(item.as_ptr()) },
        Err(_) => ListItem::End,
    }
}

/// Call `f` with each item of an iterable, converted to an i64, stopping at `f`'s first error.
///
/// Gives what `for item in items: f(operator.index(item))` gives, for any iterable: an exact
/// tuple is read in place, an exact list by index (Python's list iterator does the same, so a list that grows or
/// shrinks during the call is seen exactly as a Python loop sees it); everything else,
/// subclasses of list and tuple included, goes through the iteration protocol, as `sum()` does.
/// Raises TypeError for an item that is not an int and OverflowError for one outside i64.
fn for_each_i64(items: &Bound<'_, PyAny>, mut f: impl FnMut(i64) -> PyResult<()>) -> PyResult<()> {
    if let Ok(list) = items.cast_exact::<PyList>() {
        let (mut index, mut len) = (0, list.len());
        while index < len {
            match list_item_at(list, index) {
                ListItem::Int(value) => f(value)?,
                ListItem::Other => {
                    // With a GIL this cannot fail (index < len, and no Python code ran since
                    // len was read); without one, another thread may have shrunk the list.
                    let Ok(item) = list.get_item(index) else {
                        break;
                    };
                    f(item.extract()?)?;
                    // Converting anything but an exact int can run Python code (an
                    // `__index__` method) that resizes the list under us.
                    len = list.len();
                }
                ListItem::End => break,
            }
            index += 1;
        }
    } else if let Ok(tuple) = items.cast_exact::<PyTuple>() {
        // A tuple never changes, and `items` keeps it (and so its items) alive: its items can
        // be read in place, without a reference count, on every build.
        for item in tuple.iter_borrowed() {
            // SAFETY: `item` is alive as long as the tuple, and the thread is attached.
            match unsafe { classify_item(item.as_ptr()) } {
                ListItem::Int(value) => f(value)?,
                _ => f(item.extract()?)?,
            }
        }
    } else {
        for item in items.try_iter()? {
            f(item?.extract()?)?;
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
    for_each_i64(items, |value| {
        // Each value is below 2**63 in magnitude, so it takes 2**64 items (centuries of
        // iteration) before |total| could reach 2**127: no overflow in practice.
        total += i128::from(value);
        Ok(())
    })?;
    i64::try_from(total).map_err(|_| {
        PyOverflowError::new_err(format!(
            "sum_list: the total {total} does not fit in 64 bits"
        ))
    })
}

/// Filter a list to only positive numbers (> 0), keeping their order.
#[pyfunction]
#[pyo3(signature = (items, /))]
fn filter_positive<'py>(items: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
    let mut positive = Vec::new();
    for_each_i64(items, |value| {
        if value > 0 {
            positive.try_reserve(1).map_err(no_memory)?;
            positive.push(value);
        }
        Ok(())
    })?;
    int_list_of(items.py(), &positive)
}

/// A Python list of ints, pre-sized: `list_of` appends one by one (a third slower here), and
/// PyO3's `PyList::new` panics if Python cannot allocate; this raises MemoryError instead.
fn int_list_of<'py>(py: Python<'py>, values: &[i64]) -> PyResult<Bound<'py, PyList>> {
    let len = isize::try_from(values.len()).map_err(|_| PyMemoryError::new_err("list too long"))?;
    // SAFETY: the thread is attached, and the list is new: no other thread can see it until
    // we return it. PyList_New returns `len` NULL slots (or NULL on error), owned by `list`
    // from then on, so it is freed on an early return (NULL slots are valid to free).
    // PyList_SetItem steals the new int (freeing it itself if it fails), and every index is
    // below `len` because it counts `values`.
    unsafe {
        let list = Bound::from_owned_ptr_or_err(py, ffi::PyList_New(len))?;
        for (index, &value) in values.iter().enumerate() {
            let int = ffi::PyLong_FromLongLong(value);
            if int.is_null() || ffi::PyList_SetItem(list.as_ptr(), index as isize, int) != 0 {
                return Err(PyErr::fetch(py));
            }
        }
        Ok(list.cast_into_unchecked())
    }
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
    /// Running out of memory is a MemoryError, and then nothing is counted.
    fn add(&mut self, word: &[u32], make_key: impl FnOnce() -> PyResult<K>) -> PyResult<()> {
        match self.index.get(word) {
            Some(&i) => self.entries[i].1 += 1,
            None => {
                self.index.try_reserve(1).map_err(no_memory)?;
                self.entries.try_reserve(1).map_err(no_memory)?;
                let mut owned = Vec::new();
                owned.try_reserve_exact(word.len()).map_err(no_memory)?;
                owned.extend_from_slice(word);
                let key = make_key()?;
                // Both reservations above succeeded, so neither of these allocates (the
                // boxed slice reuses `owned`'s exact allocation).
                self.index
                    .insert(owned.into_boxed_slice(), self.entries.len());
                self.entries.push((key, 1));
            }
        }
        Ok(())
    }
}

/// A new str from ASCII bytes; MemoryError if Python cannot allocate it.
fn ascii_str<'py>(py: Python<'py>, ascii: &[u8]) -> PyResult<Bound<'py, PyString>> {
    let len = isize::try_from(ascii.len()).map_err(|_| PyMemoryError::new_err("str too long"))?;
    // SAFETY: the pointer and length describe `ascii`, which is valid UTF-8 (ASCII); the
    // result is a new reference or NULL with an exception set, and from_owned_ptr_or_err
    // takes ownership of it. PyO3's PyString::new would panic on NULL instead.
    unsafe {
        let ptr = ffi::PyUnicode_FromStringAndSize(ascii.as_ptr().cast(), len);
        Ok(Bound::from_owned_ptr_or_err(py, ptr)?.cast_into_unchecked())
    }
}

/// Create a frequency map from a list of strings: `{word.lower(): count}`.
///
/// Gives the same result as `collections.Counter(w.lower() for w in words)`, including
/// Unicode case rules (`"ß"`, `"Σ"`, `"İ"`), with keys in first-seen order, for any iterable;
/// a list that grows while it is counted (from a `lower()` method, say) is seen as Python's
/// own loop sees it. ASCII words of exact type `str` are lowercased in Rust; any other word
/// goes through its own `lower()`.
#[pyfunction]
#[pyo3(signature = (words, /))]
fn word_frequencies<'py>(words: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
    let py = words.py();
    let mut counts = WordCounts::<Bound<'py, PyString>>::new();
    let mut buffer = Vec::new();
    let mut ascii = Vec::new();
    let mut count_word = |word: Bound<'py, PyAny>| -> PyResult<()> {
        let word = word.cast_into::<PyString>().map_err(|err| {
            PyTypeError::new_err(format!(
                "word_frequencies() expects str items, got {}",
                err.into_inner().get_type()
            ))
        })?;
        code_points_into(&word, &mut buffer)?;
        // The ASCII fast path is only for exact str: a subclass may override lower().
        // SAFETY: `word` is a live object and the thread is attached; this only reads its
        // type, which never changes.
        let exact_str = unsafe { ffi::PyUnicode_CheckExact(word.as_ptr()) } != 0;
        if exact_str && buffer.iter().all(|&c| c < 0x80) {
            buffer.iter_mut().for_each(|c| {
                if (0x41..=0x5A).contains(c) {
                    *c += 0x20; // 'A'..='Z' -> 'a'..='z'
                }
            });
            counts.add(&buffer, || {
                ascii.clear();
                ascii.try_reserve(buffer.len()).map_err(no_memory)?;
                ascii.extend(buffer.iter().map(|&c| c as u8)); // all < 0x80
                ascii_str(py, &ascii)
            })
        } else {
            let lowered = word
                .call_method0(intern!(py, "lower"))?
                .cast_into::<PyString>()?;
            code_points_into(&lowered, &mut buffer)?;
            counts.add(&buffer, || Ok(lowered))
        }
    };
    if let Ok(list) = words.cast_exact::<PyList>() {
        // By index, re-reading the length each time, as Python's list iterator does: a
        // word's lower() may append to the list, and Counter would see the new words.
        let mut index = 0;
        while index < list.len() {
            // With a GIL this cannot fail; without one, another thread may have shrunk the
            // list since len() was read.
            let Ok(word) = list.get_item(index) else {
                break;
            };
            count_word(word)?;
            index += 1;
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
// atomic), which is what makes them safe on the free-threaded build too. Two rules keep the
// locks deadlock-free: no Python code runs while one is held (no repr, no ==, and no
// dropping of Python objects, whose __del__ could run anything), and the thread never
// detaches from the interpreter (releases the GIL) while it holds one.

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

/// 2**k as a float, for -1074 <= k <= 1023 (every power of two a float can hold).
fn pow2(k: i32) -> f64 {
    debug_assert!((-1074..=1023).contains(&k));
    if k >= -1022 {
        f64::from_bits(u64::from((k + 1023).unsigned_abs()) << 52) // normal: biased exponent
    } else {
        f64::from_bits(1 << (k + 1074).unsigned_abs()) // subnormal: one mantissa bit
    }
}

/// Limbs of the fixed-point accumulator in `ExactSum::of`: each holds 64 bits (plus carries),
/// the lowest bit worth 2**-1074. Finite floats reach bit 2097; 36 limbs (2304 bits) leave
/// room for the carries of 2**64 values and a sign.
const FIXED_LIMBS: usize = 36;

impl ExactSum {
    /// The exact sum of finite `values`, in whatever order, or `None` if it is 2**1024 or
    /// more in magnitude (outside the float range; reachable MovingAverage states never are).
    ///
    /// Adding the values one by one to partials can overflow on the way even when the final
    /// sum fits (1e308 + 1e308 - 1e308). Here each value is added exactly into a 2304-bit
    /// fixed-point integer, which no order of values can overflow, and the total is then cut
    /// into 53-bit pieces: non-overlapping floats, smallest first, which is what `partials`
    /// must be.
    fn of(values: impl IntoIterator<Item = f64>) -> Option<Self> {
        let mut limbs = [0i128; FIXED_LIMBS];
        for value in values {
            debug_assert!(value.is_finite());
            let bits = value.to_bits();
            let exponent = ((bits >> 52) & 0x7FF) as u32; // 11 bits: 0..=2046 when finite
            let fraction = bits & ((1 << 52) - 1);
            // value = mantissa * 2**(shift - 1074) exactly, with shift in 0..=2045.
            let (mantissa, shift) = if exponent == 0 {
                (fraction, 0)
            } else {
                (fraction | 1 << 52, exponent - 1)
            };
            let wide = u128::from(mantissa) << (shift % 64); // below 2**117
            let limb = (shift / 64) as usize; // at most 31, so limb + 1 < FIXED_LIMBS
            let (low, high) = (i128::from(wide as u64), (wide >> 64) as i128);
            // Each limb gains less than 2**64 per value, so it stays far below 2**127 for
            // any number of values a window can hold (each takes 8 bytes of memory).
            if value < 0.0 {
                limbs[limb] -= low;
                limbs[limb + 1] -= high;
            } else {
                limbs[limb] += low;
                limbs[limb + 1] += high;
            }
        }
        // Propagate carries (floor division by 2**64 keeps each limb in 0..2**64), then work
        // on the magnitude: the pieces of a negative sum are those of -sum, negated.
        let normalize = |limbs: &mut [i128; FIXED_LIMBS]| {
            for k in 0..FIXED_LIMBS - 1 {
                let carry = limbs[k] >> 64;
                limbs[k] -= carry << 64;
                limbs[k + 1] += carry;
            }
        };
        normalize(&mut limbs);
        let negative = limbs[FIXED_LIMBS - 1] < 0;
        if negative {
            limbs.iter_mut().for_each(|limb| *limb = -*limb);
            normalize(&mut limbs);
        }
        // Every limb is now in 0..2**64 (the top one too: the sum is below 2**2160).
        let word = |k: usize| limbs.get(k).map_or(0, |&limb| limb as u64 as u128);
        let mut partials = Vec::new();
        for start in (0..FIXED_LIMBS * 64).step_by(53) {
            let (k, offset) = (start / 64, start % 64);
            let piece = ((word(k + 1) << 64 | word(k)) >> offset) as u64 & ((1 << 53) - 1);
            if piece == 0 {
                continue;
            }
            // piece * 2**(start - 1074) is exact when finite: a 53-bit integer whose lowest
            // bit is worth at least 2**-1074. Past 2**1023 nothing is finite.
            let scale = i32::try_from(start).ok()? - 1074;
            let partial = if scale <= 1023 {
                piece as f64 * pow2(scale)
            } else {
                f64::INFINITY
            };
            if !partial.is_finite() {
                return None;
            }
            partials.push(if negative { -partial } else { partial });
        }
        Some(ExactSum { partials })
    }

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
    NoMemory,
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
        if !full {
            // The window grows by one value: reserve it first, so that running out of memory
            // is an error that changes nothing (not an abort, and no sum without its value).
            self.values
                .try_reserve(1)
                .map_err(|_| WindowError::NoMemory)?;
        }
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
            // `+ 0.0` turns -0.0 into 0.0: whether a zero sum comes out as -0.0 depends on
            // the order of past additions, which a copy (rebuilt from the window) cannot
            // know. Equal (==) to fmean's answer either way.
            self.sum.total() / self.values.len() as f64 + 0.0
        }
    }

    fn clear(&mut self) {
        self.values.clear();
        self.sum = ExactSum::default();
    }

    /// A window of `size` holding the last `size` of `values` (all of them if fewer), as
    /// `deque(values, maxlen=size)` would; its sum is computed exactly, in an order-proof way
    /// (see `ExactSum::of`), so every window that `push` accepted can be rebuilt, even one
    /// whose values would overflow if they were pushed again one by one.
    fn restore<E>(
        size: usize,
        values: impl IntoIterator<Item = Result<f64, E>>,
    ) -> Result<Self, RestoreError<E>> {
        let mut kept = VecDeque::new();
        for value in values {
            let value = value.map_err(RestoreError::Item)?;
            if !value.is_finite() {
                return Err(RestoreError::Window(WindowError::NotFinite));
            }
            if kept.len() == size {
                kept.pop_front();
            } else {
                kept.try_reserve(1)
                    .map_err(|_| RestoreError::Window(WindowError::NoMemory))?;
            }
            kept.push_back(value);
        }
        let sum = ExactSum::of(kept.iter().copied())
            .ok_or(RestoreError::Window(WindowError::SumOverflow))?;
        Ok(Window {
            size,
            values: kept,
            sum,
        })
    }
}

/// Why `Window::restore` failed: an item that could not be read, or a window that could not be.
#[derive(Debug)]
enum RestoreError<E> {
    Item(E),
    Window(WindowError),
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
            Err(WindowError::NoMemory) => Err(PyMemoryError::new_err("out of memory")),
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
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyType>, (usize,), Bound<'py, PyList>)> {
        let this = slf.get();
        let mut values = Vec::new();
        {
            let window = lock(&this.window);
            values
                .try_reserve_exact(window.values.len())
                .map_err(no_memory)?;
            values.extend(window.values.iter().copied());
        }
        Ok((
            slf.get_type(),
            (this.window_size,),
            list_of(slf.py(), values)?,
        ))
    }

    /// Restore the values saved by __reduce__ (any iterable of floats, oldest first; only
    /// the last window_size count). Raises TypeError or ValueError, changing nothing, for
    /// anything else.
    fn __setstate__(&self, values: &Bound<'_, PyAny>) -> PyResult<()> {
        // Read through the iteration protocol (no pre-sizing from a __len__ that may lie),
        // keeping at most window_size values.
        let items = values
            .try_iter()?
            .map(|item| item.and_then(|item| item.extract::<f64>()));
        let window = Window::restore(self.window_size, items).map_err(|err| match err {
            RestoreError::Item(err) => err,
            RestoreError::Window(WindowError::NoMemory) => PyMemoryError::new_err("out of memory"),
            RestoreError::Window(_) => PyValueError::new_err(
                "invalid MovingAverage state: values must be finite, with a sum in float range",
            ),
        })?;
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

    /// Append `item`; when full, the oldest item is removed and returned. If there is no
    /// memory for one more item, nothing changes and `item` comes back as the error.
    fn push(&mut self, item: T) -> Result<Option<T>, T> {
        let evicted = if self.items.len() == self.capacity {
            self.items.pop_front()
        } else {
            if self.items.try_reserve(1).is_err() {
                return Err(item);
            }
            None
        };
        self.items.push_back(item);
        self.version = self.version.wrapping_add(1);
        Ok(evicted)
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
}

thread_local! {
    /// Items of RingBuffers freed while this thread is already freeing a RingBuffer's items,
    /// waiting for that outermost drop to free them: `Some` while it runs.
    static PENDING_DROPS: RefCell<Option<Vec<VecDeque<Py<PyAny>>>>> = const { RefCell::new(None) };
}

/// Drop the items of a RingBuffer without recursing into the items of their items.
///
/// Freeing a RingBuffer frees its items, which may be RingBuffers holding RingBuffers, and so
/// on: done recursively, a chain 20,000 deep overflows the stack and kills the interpreter.
/// CPython's containers avoid this with the "trashcan" (deque included), which abi3 does not
/// offer, so this is the same idea in Rust: the outermost drop on a thread frees the items,
/// and any RingBuffer freed meanwhile on that thread only hands its items to it, to be freed
/// in a loop. The stack stays flat however deep the nesting (tested to 10**6 levels).
fn drop_items(items: VecDeque<Py<PyAny>>) {
    enum Role {
        Handed,
        Outermost(VecDeque<Py<PyAny>>),
        Direct(VecDeque<Py<PyAny>>),
    }
    if items.is_empty() {
        return;
    }
    // The RefCell is never borrowed while an item is dropped (that could run a __del__ that
    // frees another RingBuffer and comes back here), so the borrows below cannot collide.
    let role = PENDING_DROPS.try_with(|pending| {
        let mut pending = pending.borrow_mut();
        match pending.as_mut() {
            Some(queue) => match queue.try_reserve(1) {
                Ok(()) => {
                    queue.push(items);
                    Role::Handed
                }
                // No memory to queue them: free them here, recursing one level deeper.
                Err(_) => Role::Direct(items),
            },
            None => {
                *pending = Some(Vec::new());
                Role::Outermost(items)
            }
        }
    });
    match role {
        Ok(Role::Handed) => {}
        Ok(Role::Direct(items)) => drop(items),
        // The thread is exiting and its thread-locals are gone: the items went with the
        // closure that was never called, freed directly.
        Err(_) => {}
        Ok(Role::Outermost(items)) => {
            let mut next = Some(items);
            while let Some(items) = next {
                drop(items); // may hand more items to the queue
                next = PENDING_DROPS
                    .try_with(|pending| pending.borrow_mut().as_mut().and_then(Vec::pop))
                    .ok()
                    .flatten();
            }
            let _ = PENDING_DROPS.try_with(|pending| pending.borrow_mut().take());
        }
    }
}

/// Whether dropping our reference to `item` frees it, which can run Python code.
fn frees_on_drop(item: &Py<PyAny>) -> bool {
    #[cfg(not(Py_GIL_DISABLED))]
    {
        // SAFETY: `item` is a live object we hold a reference to, and this build has a GIL,
        // which the caller holds: no other thread can change the count before our decref.
        unsafe { ffi::Py_REFCNT(item.as_ptr()) <= 1 }
    }
    #[cfg(Py_GIL_DISABLED)]
    {
        // Free-threaded: other threads change counts at any time, so assume the worst.
        let _ = item;
        true
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

impl Drop for RingBuffer {
    fn drop(&mut self) {
        let ring = self.ring.get_mut().unwrap_or_else(PoisonError::into_inner);
        drop_items(ring.take_all());
    }
}

impl RingBuffer {
    /// Push `get(0)`, `get(1)`, ... up to `len()` (reading them must run no Python code: an
    /// exact list or tuple, or a snapshot), under one lock for as long as that stays safe.
    ///
    /// Only freeing an evicted item can run Python code here (its `__del__`, a weakref
    /// callback). So an item that this buffer held the last reference to is freed at once,
    /// with the lock released, and the length is read again before going on: the `__del__`
    /// runs right after its own eviction and sees what it would see under `deque.extend`.
    fn push_quietly(
        &self,
        len: impl Fn() -> usize,
        get: impl Fn(usize) -> Option<Py<PyAny>>,
    ) -> PyResult<()> {
        let mut index = 0;
        'locked: loop {
            let mut ring = lock(&self.ring);
            let end = len(); // fixed while no Python code runs
            while index < end {
                // On a free-threaded build another thread may shrink the list meanwhile.
                let Some(item) = get(index) else {
                    return Ok(());
                };
                index += 1;
                match ring.push(item) {
                    Ok(None) => {}
                    Ok(Some(evicted)) if frees_on_drop(&evicted) => {
                        drop(ring);
                        drop(evicted);
                        continue 'locked;
                    }
                    Ok(Some(evicted)) => drop(evicted), // just a decref: no Python code runs
                    Err(item) => {
                        drop(ring);
                        drop(item);
                        return Err(PyMemoryError::new_err("out of memory"));
                    }
                }
            }
            return Ok(());
        }
    }

    /// New references to the items, oldest first, taken under the lock so that the caller
    /// can run Python code (repr, ==) on them after releasing it.
    fn snapshot(&self, py: Python<'_>) -> PyResult<Vec<Py<PyAny>>> {
        let ring = lock(&self.ring);
        let mut items = Vec::new();
        items
            .try_reserve_exact(ring.items.len())
            .map_err(no_memory)?;
        items.extend(ring.items.iter().map(|item| item.clone_ref(py)));
        Ok(items)
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
    fn push(&self, item: Py<PyAny>) -> PyResult<()> {
        let pushed = lock(&self.ring).push(item);
        // The lock is released at the end of the statement above, so dropping the evicted
        // item (whose __del__ may run any Python code, even code using this buffer) is safe.
        // A plain drop is enough: if the item is a RingBuffer, its own Drop goes through
        // drop_items, which keeps the stack flat however deep it nests.
        match pushed {
            Ok(evicted) => {
                drop(evicted);
                Ok(())
            }
            Err(_item) => Err(PyMemoryError::new_err("out of memory")),
        }
    }

    /// Append every item of an iterable, in order, like `deque.extend`: once the buffer is
    /// full, each new item drops the oldest. One call for many items saves the cost of a
    /// Python call per item (the guide's "overhead consideration").
    ///
    /// An exact list or tuple is read under one lock, released only to free an evicted item
    /// (whose `__del__` then runs right after its eviction, as with deque).
    #[pyo3(signature = (items, /))]
    fn extend(slf: &Bound<'_, Self>, items: &Bound<'_, PyAny>) -> PyResult<()> {
        let this = slf.get();
        if items.is(slf) {
            // rb.extend(rb): like deque, extend with what the buffer held when called.
            let (py, snapshot) = (slf.py(), this.snapshot(slf.py())?);
            this.push_quietly(
                || snapshot.len(),
                |index| snapshot.get(index).map(|item| item.clone_ref(py)),
            )
        } else if let Ok(list) = items.cast_exact::<PyList>() {
            this.push_quietly(
                || list.len(),
                |index| list.get_item(index).ok().map(Bound::unbind),
            )
        } else if let Ok(tuple) = items.cast_exact::<PyTuple>() {
            this.push_quietly(
                || tuple.len(),
                |index| tuple.get_item(index).ok().map(Bound::unbind),
            )
        } else {
            // Any other iterable: its __next__ is Python code, so no lock is held across it.
            for item in items.try_iter()? {
                this.push(item?.unbind())?;
            }
            Ok(())
        }
    }

    /// Remove and return the oldest item; IndexError when empty.
    fn pop(&self) -> PyResult<Py<PyAny>> {
        let item = lock(&self.ring).pop();
        item.ok_or_else(|| PyIndexError::new_err("pop from an empty RingBuffer"))
    }

    /// Remove every item.
    fn clear(&self) {
        let items = lock(&self.ring).take_all();
        drop_items(items); // after the lock is released, as in push()
    }

    /// Whether the buffer holds `capacity` items.
    fn is_full(&self) -> bool {
        let ring = lock(&self.ring);
        ring.items.len() == ring.capacity
    }

    /// The items as a list, oldest first.
    fn to_list<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        list_of(py, self.snapshot(py)?)
    }

    fn __len__(&self) -> usize {
        lock(&self.ring).items.len()
    }

    fn __getitem__(&self, py: Python<'_>, index: isize) -> PyResult<Py<PyAny>> {
        let item = lock(&self.ring).get(index).map(|item| item.clone_ref(py));
        item.ok_or_else(|| PyIndexError::new_err("RingBuffer index out of range"))
    }

    fn __contains__(&self, value: &Bound<'_, PyAny>) -> PyResult<bool> {
        for item in self.snapshot(value.py())? {
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
        // SAFETY: `slf` is a live object and the thread is attached; the guard's state is
        // per thread, so this holds with or without a GIL.
        if unsafe { ffi::Py_ReprEnter(slf.as_ptr()) } != 0 {
            return Ok("RingBuffer(...)".to_owned());
        }
        let this = slf.get();
        let items = this.to_list(slf.py()).and_then(|list| list.repr());
        // SAFETY: pairs with the successful Py_ReprEnter above, on the same thread.
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

    /// Replace the items with those saved by __reduce__: any iterable, oldest first; only the
    /// last `capacity` are kept, as `deque(items, maxlen=capacity)` does. If reading it
    /// fails, nothing changes.
    fn __setstate__(&self, items: &Bound<'_, PyAny>) -> PyResult<()> {
        let capacity = self.capacity();
        let mut kept = Ring::new(capacity);
        // Through the iteration protocol: nothing is pre-sized from a __len__ that may lie.
        // Evicted items are freed at once, as deque does: no lock is held here.
        let read = items.try_iter().and_then(|mut iter| {
            iter.try_for_each(|item| match kept.push(item?.unbind()) {
                Ok(evicted) => {
                    drop(evicted); // as in push()
                    Ok(())
                }
                Err(_item) => Err(PyMemoryError::new_err("out of memory")),
            })
        });
        if let Err(err) = read {
            drop_items(kept.take_all());
            return Err(err);
        }
        let old = {
            let mut ring = lock(&self.ring);
            std::mem::swap(&mut ring.items, &mut kept.items);
            ring.version = ring.version.wrapping_add(1);
            std::mem::take(&mut kept.items)
        };
        drop_items(old); // after the lock is released, as in push()
        Ok(())
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        // The collector must not block. The lock is only ever held briefly, by an attached
        // thread that runs no Python code while holding it, so it is free by the time the
        // collector runs (with a GIL, or after stopping the world without one); if it were
        // not, skipping the visit is safe (the collector then sees these items as referenced
        // from outside and keeps them).
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

/// How often long work without the GIL, on the main thread, stops to let Python handle Ctrl-C.
const SIGNAL_CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// The sieve keeps the odd primes up to this limit in memory, with where each one next
/// crosses off: at most 1,077,870 primes, 8.2 MiB. They are all the base primes any n up to
/// 2**48 needs. Beyond that, the larger base primes are found again for each segment.
const CACHED_BASE_PRIMES_LIMIT: u64 = 1 << 24;

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
/// Memory: 4 bytes per prime plus limit/16 bytes while sieving.
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
struct Scratch {
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
    fn try_for(base_primes: usize, uncached: bool) -> Option<Self> {
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
fn sieve_range<E>(
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
fn prime_count<E>(n: u64, keep_going: &mut dyn FnMut() -> Result<(), E>) -> Result<u64, E> {
    let mut count = u64::from(n >= 2);
    sieve_segments(n, keep_going, &mut |_, flags| count += odd_primes_in(flags))?;
    Ok(count)
}

/// Odd numbers per block of a threaded count: 64 segments, a few milliseconds of work, so
/// that a thread on a slower core (a busy VM) simply takes fewer blocks.
const BLOCK_ODDS: u64 = 64 * SEGMENT_ODDS as u64;

/// `count_primes` takes at most this many threads.
const MAX_THREADS: usize = 1024;

/// The number of primes up to n, counted by up to `threads` threads, this one included,
/// that take blocks of segments in turn. Only this thread calls `keep_going` (it alone may
/// talk to Python); when that fails, the others stop after their current segment.
///
/// Memory: the base primes once, plus a segment and the next-multiple table per thread.
fn prime_count_threaded<E>(
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
    let blocks = Blocks {
        n,
        count: blocks,
        next: AtomicU64::new(0),
        base_primes: odd_primes_up_to(isqrt(n).min(CACHED_BASE_PRIMES_LIMIT), keep_going)?,
    };
    // Each thread's memory is had before it starts: one that could not have it would abort
    // the process, so with too little memory fewer threads run, and with none to spare the
    // count runs on this thread alone, as with threads=1.
    let uncached = isqrt(n) > CACHED_BASE_PRIMES_LIMIT;
    let scratch_for_one = || Scratch::try_for(blocks.base_primes.len(), uncached);
    let Some(mut mine) = scratch_for_one() else {
        drop(blocks);
        return prime_count(n, keep_going);
    };
    let stop = AtomicBool::new(false);
    let up = AtomicUsize::new(0); // helpers that have started running
    std::thread::scope(|scope| {
        let mut started = Vec::new();
        for _ in 0..helpers {
            // A new thread also needs memory that is not ours to ask for (its stack, glibc's
            // thread-local blocks, which abort the process when they cannot be had): start
            // one only while a few MiB more are still to be had.
            if Vec::<u8>::new().try_reserve_exact(THREAD_HEADROOM).is_err() {
                break;
            }
            let Some(mut scratch) = scratch_for_one() else {
                break;
            };
            let (blocks, stop, up) = (&blocks, &stop, &up);
            let helper = std::thread::Builder::new()
                .stack_size(HELPER_STACK)
                .spawn_scoped(scope, move || {
                    up.fetch_add(1, Ordering::Release);
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
            // headroom check for the next one sees the memory they took.
            while up.load(Ordering::Acquire) < started.len() {
                std::thread::yield_now();
            }
        }
        let counted = blocks.claim_and_count(&mut mine, &mut || {
            keep_going().inspect_err(|_| stop.store(true, Ordering::Relaxed))
        });
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
    })
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

/// How many flags of a segment are set (each 0 or 1): its odd primes.
fn odd_primes_in(flags: &[u8]) -> u64 {
    flags
        .chunks(64)
        .map(|flags| u64::from(pack_flags(flags).count_ones()))
        .sum()
}

/// The thread ident of Python's main thread once looked up (0 until then; idents are never
/// 0): the lookup costs ~0.5 µs, more than `count_primes(10)` itself.
static MAIN_THREAD_IDENT: AtomicU64 = AtomicU64::new(0);

/// Run in a forked child: the thread that forked is the child's main thread, so look again.
#[cfg(unix)]
extern "C" fn forget_main_thread() {
    MAIN_THREAD_IDENT.store(0, Ordering::Relaxed);
}

/// Whether this is Python's main thread, the only one whose signal handlers run (Ctrl-C).
fn on_main_thread(py: Python<'_>) -> PyResult<bool> {
    // SAFETY: PyThread_get_thread_ident only reads the calling thread's identity.
    #[allow(clippy::useless_conversion)] // its c_ulong is 64 bits here, 32 on Windows
    let current = u64::from(unsafe { ffi::PyThread_get_thread_ident() });
    let known = MAIN_THREAD_IDENT.load(Ordering::Relaxed);
    if known != 0 {
        return Ok(known == current);
    }
    // Only if `threading` is loaded: importing it here would be a side effect (it even
    // changes how later allocations fall in memory). Without it, threads can only have been
    // started through `_thread`, rarely done directly; such a thread taken for the main one
    // merely re-attaches every 50 ms, as every thread did before.
    let modules = py
        .import(intern!(py, "sys"))?
        .getattr(intern!(py, "modules"))?;
    let Ok(threading) = modules.get_item(intern!(py, "threading")) else {
        return Ok(true);
    };
    let main: u64 = threading
        .call_method0(intern!(py, "main_thread"))?
        .getattr(intern!(py, "ident"))?
        .extract()?;
    #[cfg(unix)]
    {
        static REGISTER: std::sync::Once = std::sync::Once::new();
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe, as a
        // handler run in a forked child must be.
        REGISTER.call_once(|| unsafe {
            libc::pthread_atfork(None, None, Some(forget_main_thread));
        });
    }
    MAIN_THREAD_IDENT.store(main, Ordering::Relaxed);
    Ok(main == current)
}

/// A `keep_going` check for long work that runs detached from Python (without the GIL), to
/// be created while still attached: on Python's main thread it re-attaches now and then to
/// run the signal handlers, so that Ctrl-C raises KeyboardInterrupt promptly.
///
/// On any other thread it never re-attaches: only the main thread handles signals, so there
/// is nothing to check, and attaching would make the work wait whenever another thread holds
/// the GIL. On the main thread it checks after 50 ms of work, counted from when the previous
/// attach returned, or after four times as long as that attach had to wait for the GIL if
/// that is longer: so waiting for a GIL that another thread keeps busy costs at most a fifth
/// of the run, and Ctrl-C still answers within a fraction of a second when nobody does.
fn interruptible(py: Python<'_>) -> PyResult<impl FnMut() -> PyResult<()> + Send> {
    let main = on_main_thread(py)?;
    let mut last_check = Instant::now();
    let mut interval = SIGNAL_CHECK_INTERVAL;
    Ok(move || {
        if !main || last_check.elapsed() < interval {
            return Ok(());
        }
        let asked = Instant::now();
        let checked = Python::attach(|py| py.check_signals());
        last_check = Instant::now();
        interval = SIGNAL_CHECK_INTERVAL.max(last_check.duration_since(asked) * 4);
        checked
    })
}

/// Count the primes up to n (inclusive) with the same sieve, without building a list.
///
/// Memory is bounded whatever n is: about 8 MiB at most for the base primes below 2**24
/// (which cover every n up to 2**48; 0.6 MiB for n = 10**12), plus half as much again per
/// thread for where each base prime's next multiple is, never a list. The GIL is released for
/// the whole count, so threads counting at once run in parallel and other Python threads keep
/// running; on the main thread Ctrl-C stops it within a fraction of a second. Above 2**48 the
/// larger base primes are found again for every segment, so a count there is very slow (a
/// count that large would take years anyway) but still stays within that memory.
///
/// `threads` splits the count over that many OS threads inside this one call (default: one
/// per core this process may use; 1 counts on the calling thread alone). The result is the
/// same for every thread count.
#[pyfunction]
#[pyo3(signature = (n, /, threads = None))]
fn count_primes(py: Python<'_>, n: u64, threads: Option<i64>) -> PyResult<u64> {
    let threads = match threads {
        None => std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
        Some(threads) => usize::try_from(threads)
            .ok()
            .filter(|threads| (1..=MAX_THREADS).contains(threads))
            .ok_or_else(|| {
                PyValueError::new_err(format!(
                    "threads must be between 1 and {MAX_THREADS}, got {threads}"
                ))
            })?,
    };
    let mut keep_going = interruptible(py)?;
    py.detach(|| prime_count_threaded(n, threads, &mut keep_going))
}

// ----- Exercise 4 begin: sieve_of_eratosthenes -----
// The tuned sieve as a Python list. `python3 scripts/dev.py start 4` takes out everything
// down to the end marker (count_primes above keeps the sieve itself) for you to write the
// guide's simple version instead; `python3 scripts/dev.py solution 4` puts it back.

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
    // SAFETY: the thread is attached, and the list is new: no other thread can see it, with
    // or without a GIL, until we return it. PyList_New returns `len` NULL slots (or NULL on
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
    let mut keep_going = interruptible(py)?;
    let primes = py.detach(|| PrimeBits::sieve(n, bits, &mut keep_going))?;
    int_list(py, primes.count(n), primes.primes(n))
}
// ----- Exercise 4 end: sieve_of_eratosthenes -----

// ───────────────────────────── The module ─────────────────────────────

/// How this module was built, so that a timing can say whether it measured a debug build:
/// `profile` ("dev" for `maturin develop`, "release", "profiling"), `opt_level` (Cargo's
/// "0" to "3", "s", "z"), `debug_assertions` (overflow checks and `debug_assert!` on),
/// `abi3` (the oldest CPython this stable-ABI build serves, "3.9", or None for a build made
/// for one version), `free_threaded` (built for a CPython without the GIL) and `pyo3` (the
/// PyO3 version compiled in).
#[pyfunction]
fn build_info(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let info = PyDict::new(py);
    info.set_item("profile", env!("RUST_DEMO_PROFILE"))?;
    info.set_item("opt_level", env!("RUST_DEMO_OPT_LEVEL"))?;
    info.set_item("debug_assertions", cfg!(debug_assertions))?;
    let abi3 = env!("RUST_DEMO_ABI3");
    info.set_item("abi3", (!abi3.is_empty()).then_some(abi3))?;
    info.set_item("free_threaded", cfg!(Py_GIL_DISABLED))?;
    info.set_item("pyo3", env!("RUST_DEMO_PYO3_VERSION"))?;
    Ok(info)
}


/// Companion code of the workshop "Rust for Pythonistas: Building Native Extensions with PyO3".
///
/// Functions: fibonacci, count_unique_words, is_palindrome, sum_list, filter_positive,
/// word_frequencies, safe_divide, safe_parse_int, factorial, sieve_of_eratosthenes,
/// count_primes, build_info. Classes: MovingAverage, Counter, RingBuffer.
// gil_used = false (PyO3's default since 0.28, written out because it is a decision): on a
// free-threaded CPython (3.14t) importing this module leaves the GIL off. That is sound
// because the classes keep their state behind a Mutex or an atomic (frozen, Sync), no code
// reads a list through a borrowed pointer without a GIL (see `list_item_at`), and every
// `unsafe` block's SAFETY comment holds without a GIL. The abi3 wheel never runs there
// (free-threaded CPython cannot load abi3 modules); this is for a `cp314t` build.
#[pymodule(gil_used = false)]
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
    m.add_function(wrap_pyfunction!(build_info, m)?)?;
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
            assert_eq!(primes, expected.primes(n).collect::<Vec<_>>(), "n = {n}");
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

    fn cps(text: &str) -> Vec<u32> {
        text.chars().map(u32::from).collect()
    }

    #[test]
    fn unique_words_strip_punctuation_and_split_like_python() {
        assert_eq!(
            count_unique_lowered_words(&cps("hello, world! hello world -- ...")),
            Ok(2)
        );
        assert_eq!(
            count_unique_lowered_words(&cps("a\u{1c}b\u{3000}c a")),
            Ok(3)
        );
        assert_eq!(count_unique_lowered_words(&cps("")), Ok(0));
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

    /// The exact sum of floats, as an integer multiple of 2**-1074 (for checking only).
    fn exact(values: &[f64]) -> i128 {
        // Only for values between 2**-60 and 2**60 with few bits: fits in i128 after scaling.
        values.iter().map(|v| (v * 2f64.powi(60)) as i128).sum()
    }

    #[test]
    fn exact_sum_of_survives_any_order() {
        let m = f64::MAX;
        // Pushed one by one, 1e308 + 1e308 overflows; the fixed-point sum does not.
        let sum = ExactSum::of([1e308, 1e308, -1e308, 5.0]).unwrap();
        assert_eq!(sum.total(), 1e308 + 5.0);
        assert_eq!(ExactSum::of([m, m, -m]).unwrap().total(), m);
        assert_eq!(ExactSum::of([-m, -m, m, 0.5]).unwrap().total(), -m);
        assert!(ExactSum::of([m, m]).is_none(), "2 * MAX is out of range");
        assert!(ExactSum::of([]).unwrap().partials.is_empty());
        let tiny = f64::from_bits(1); // 2**-1074, the smallest subnormal
        assert_eq!(ExactSum::of([tiny, tiny, -tiny]).unwrap().total(), tiny);
        assert_eq!(ExactSum::of([1e300, 1.0, -1e300]).unwrap().total(), 1.0);
        for values in [&[0.1, 0.2, 0.3][..], &[1.5, -2.25, 1e-3, 7.0]] {
            let mut one_by_one = ExactSum::default();
            for &v in values {
                assert!(one_by_one.add_all(&[v]));
            }
            let of = ExactSum::of(values.iter().copied()).unwrap();
            assert_eq!(of.total(), one_by_one.total());
            assert_eq!(exact(&of.partials), exact(&one_by_one.partials));
        }
        // The pieces are valid partials: adding to them keeps working.
        let mut sum = ExactSum::of([m, -m / 2.0]).unwrap();
        assert!(sum.add_all(&[-m / 2.0, 3.0]));
        assert_eq!(sum.total(), 3.0);
        assert_eq!(pow2(-1074), tiny);
        assert_eq!(pow2(1023), 2f64.powi(1023));
        assert_eq!(pow2(-1022), f64::MIN_POSITIVE);
    }

    #[test]
    fn window_restores_what_push_accepted() {
        let mut window = Window::new(4);
        for value in [-1e308, 1e308, 1e308, -1e308, 5.0] {
            window.push(value).unwrap();
        }
        let values = window.values.iter().map(|&v| Ok::<_, ()>(v));
        let restored = Window::restore(4, values).unwrap();
        assert_eq!(restored.values, window.values);
        assert_eq!(restored.average(), window.average());
        // Longer input keeps the newest values, like deque(maxlen=...).
        let restored = Window::restore(2, [1.0, 2.0, 3.0].map(Ok::<_, ()>)).unwrap();
        assert_eq!(restored.values, [2.0, 3.0]);
        assert_eq!(restored.average(), 2.5);
        assert!(matches!(
            Window::restore(2, [f64::NAN].map(Ok::<_, ()>)),
            Err(RestoreError::Window(WindowError::NotFinite))
        ));
        assert!(matches!(
            Window::restore(2, [f64::MAX, f64::MAX].map(Ok::<_, ()>)),
            Err(RestoreError::Window(WindowError::SumOverflow))
        ));
        assert!(matches!(
            Window::restore(2, [Ok(1.0), Err("bad item")]),
            Err(RestoreError::Item("bad item"))
        ));
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
        assert_eq!(ring.push(1), Ok(None));
        assert_eq!(ring.push(2), Ok(None));
        assert_eq!(ring.push(3), Ok(None));
        assert_eq!(ring.push(4), Ok(Some(1)));
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
}
