//! rust_demo: the companion module of the workshop guide
//! "Rust for Pythonistas: Building Native Extensions with PyO3".
//!
//! This file is the Python surface, in the guide's order: each `#[pyfunction]` and
//! `#[pyclass]` converts its arguments, releases the GIL for long work, calls its engine
//! (plain Rust in `engines/`, tested by `cargo test`) and turns Rust errors into Python
//! exceptions. The `#[pymodule]` function, `fn rust_demo`, ends the file.

/// The plain-Rust engines, one file each in `engines/`; none of them uses PyO3.
mod engines {
    pub mod exact_sum;
    pub mod fibonacci;
    pub mod ring;
    pub mod sieve;
    pub mod text;
    pub mod threads;
}

use std::cell::RefCell;
use std::collections::{HashMap, TryReserveError};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use pyo3::exceptions::{
    PyIndexError, PyMemoryError, PyOverflowError, PyRuntimeError, PyTypeError, PyValueError,
};
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::{IntoPyDict, PyDict, PyList, PyString, PyTuple, PyType};
use pyo3::{ffi, intern, PyTraverseError};

use engines::exact_sum::{RestoreError, Window, WindowError};
use engines::fibonacci::{fibonacci_u64, FIBONACCI_MAX_N};
use engines::ring::{drop_flat, DropQueue, Drops, Ring};
use engines::text::{
    count_unique_lowered_words, is_ascii_letter, letters_read_the_same_both_ways, lower_if_ascii,
    WordCounts,
};
use engines::threads::{
    known_main_thread, prime_count_threaded, remember_main_thread, CheckClock, MAX_THREADS,
};

/// The MemoryError for a failed `try_reserve`, which every input-sized allocation uses, so
/// that running out of memory raises MemoryError instead of aborting the interpreter.
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

/// Compute the nth Fibonacci number iteratively: F(0) = 0, F(1) = 1.
///
/// Raises OverflowError for n > 93, whose result does not fit in 64 bits.
#[pyfunction]
#[pyo3(signature = (n, /))]
fn fibonacci(n: u64) -> PyResult<u64> {
    // F(n) is computed for n <= 93 only, so fibonacci_u64's loop never runs more than 93 times.
    if n > FIBONACCI_MAX_N {
        return Err(PyOverflowError::new_err(format!(
            "fibonacci({n}) does not fit in 64 bits: the largest supported n is {FIBONACCI_MAX_N}"
        )));
    }
    fibonacci_u64(n).ok_or_else(|| PyOverflowError::new_err("fibonacci overflowed"))
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

/// Check whether text is a palindrome, ignoring case and every character that is not a
/// letter or digit: `letters == letters[::-1]` for
/// `letters = [c for c in text.lower() if c.isalnum()]`, with the running Python's own
/// `lower()` and `isalnum()` (its Unicode version, not Rust's), and final sigma `ς` read as
/// `σ`. The empty string is a palindrome.
#[pyfunction]
#[pyo3(signature = (text, /))]
fn is_palindrome(text: &Bound<'_, PyString>) -> PyResult<bool> {
    let py = text.py();
    let mut code_points = code_points(text)?;
    // SAFETY: `text` is a live object and the thread is attached; this only reads its type.
    let exact_str = unsafe { ffi::PyUnicode_CheckExact(text.as_ptr()) } != 0;
    if exact_str && lower_if_ascii(&mut code_points) {
        // The fast path: ASCII, whose lower() and isalnum() are fixed.
        return letters_read_the_same_both_ways(&mut code_points, |c| {
            Ok::<_, PyErr>(is_ascii_letter(c))
        });
    }
    let lowered = text.call_method0(intern!(py, "lower"))?;
    code_points_into(lowered.cast()?, &mut code_points)?;
    // Ask Python once per distinct non-ASCII character.
    let mut asked: HashMap<u32, bool, foldhash::fast::RandomState> = HashMap::default();
    letters_read_the_same_both_ways(&mut code_points, |c| {
        if c < 0x80 {
            return Ok(is_ascii_letter(c));
        }
        if let Some(&known) = asked.get(&c) {
            return Ok(known);
        }
        // SAFETY: the thread is attached; c is below 0x110000 (it came from a str), and the
        // result is a new reference or NULL with an exception set, owned from here on.
        let character =
            unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyUnicode_FromOrdinal(c as i32))? };
        let answer = character
            .call_method0(intern!(py, "isalnum"))?
            .extract::<bool>()?;
        asked.try_reserve(1).map_err(no_memory)?;
        asked.insert(c, answer);
        Ok(answer)
    })
}

/// The code points of a Python string.
///
/// abi3-py39 has no borrowed UTF-8 view of a `str` (that came in 3.10's limited API), so we
/// copy its code points, which also works for lone surrogates.
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

/// What `list[index]` is, for the fast path of `for_each_i64`: an exact int that fits in an
/// i64, anything else (converting it may run Python code), or past the end of the list.
enum ListItem {
    Int(i64),
    Other,
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

/// What `list[index]` is, read without touching its reference count (an out-of-line call
/// under abi3): what lets a Rust loop keep up with the builtin `sum()`.
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

/// What `list[index]` is, free-threaded: another thread may free the item at any moment, so
/// a borrowed pointer could dangle; take a strong reference (PyO3's `get_item`) instead.
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
/// Gives what `for item in items: f(operator.index(item))` gives: an exact tuple is read in
/// place, an exact list by index (as Python's list iterator does, so a list resized meanwhile
/// is seen as a Python loop sees it), anything else through the iteration protocol.
fn for_each_i64(items: &Bound<'_, PyAny>, mut f: impl FnMut(i64) -> PyResult<()>) -> PyResult<()> {
    if let Ok(list) = items.cast_exact::<PyList>() {
        let (mut index, mut len) = (0, list.len());
        while index < len {
            match list_item_at(list, index) {
                ListItem::Int(value) => f(value)?,
                ListItem::Other => {
                    // Fails only without a GIL, if another thread shrank the list.
                    let Ok(item) = list.get_item(index) else {
                        break;
                    };
                    f(item.extract()?)?;
                    // Converting it may have run an `__index__` that resized the list.
                    len = list.len();
                }
                ListItem::End => break,
            }
            index += 1;
        }
    } else if let Ok(tuple) = items.cast_exact::<PyTuple>() {
        // A tuple never changes and `items` keeps it alive: read it in place, on every build.
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
        // |total| could reach 2**127 only after 2**64 items (centuries): no overflow.
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

/// A Python list of ints, pre-sized (`list_of` is a third slower here); MemoryError, never a
/// panic, if Python cannot allocate it.
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
    // Keys are compared by code points while all are exact str; from the first str-subclass
    // key on (its own == and hash), the counts go into a dict, which compares as Counter does.
    let mut by_python: Option<Bound<'py, PyDict>> = None;
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
        // SAFETY: `word` is a live object and the thread is attached; this only reads its type.
        let exact_str = unsafe { ffi::PyUnicode_CheckExact(word.as_ptr()) } != 0;
        if exact_str && lower_if_ascii(&mut buffer) {
            let mut make_key = || {
                ascii.clear();
                ascii.try_reserve(buffer.len()).map_err(no_memory)?;
                ascii.extend(buffer.iter().map(|&c| c as u8)); // all < 0x80
                ascii_str(py, &ascii)
            };
            return match &by_python {
                Some(dict) => count_in(dict, make_key()?),
                None => counts.add(&buffer, no_memory, make_key),
            };
        }
        let lowered = word
            .call_method0(intern!(py, "lower"))?
            .cast_into::<PyString>()?;
        // SAFETY: as above.
        let exact_key = unsafe { ffi::PyUnicode_CheckExact(lowered.as_ptr()) } != 0;
        if by_python.is_none() && !exact_key {
            let counted = std::mem::replace(&mut counts, WordCounts::new());
            by_python = Some(counted.into_entries().into_py_dict(py)?);
        }
        match &by_python {
            Some(dict) => count_in(dict, lowered),
            None => {
                code_points_into(&lowered, &mut buffer)?;
                counts.add(&buffer, no_memory, || Ok(lowered))
            }
        }
    };
    if let Ok(list) = words.cast_exact::<PyList>() {
        // By index, re-reading the length each time, as Python's list iterator does (a
        // lower() may append); without a GIL another thread may shrink it meanwhile.
        let mut index = 0;
        while index < list.len() {
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
    by_python.map_or_else(|| counts.into_entries().into_py_dict(py), Ok)
}

/// `dict[key] = dict.get(key, 0) + 1`, which is how Counter counts.
fn count_in<'py>(dict: &Bound<'py, PyDict>, key: Bound<'py, PyString>) -> PyResult<()> {
    let count = match dict.get_item(&key)? {
        Some(count) => count.extract::<u64>()? + 1,
        None => 1,
    };
    dict.set_item(key, count)
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
// The classes are `frozen` (no `&mut self`, so no "Already borrowed"), their state behind a
// Mutex or an atomic, safe free-threaded too. No lock is held while Python code runs (repr,
// ==, dropping a Python object) or while the thread detaches: so no deadlocks.

/// Lock a mutex; nothing panics while holding one, so even a poisoned one is consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
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

/// A Python int as an i64, or which way it is too large for one.
enum Int {
    Fits(i64),
    BelowI64,
    AboveI64,
}

/// Read an int argument (anything with `__index__`) of any size, so that a documented range
/// gives its ValueError past 64 bits too; TypeError for anything else.
fn read_int(value: &Bound<'_, PyAny>) -> PyResult<Int> {
    // SAFETY: the thread is attached and `value` is alive; PyNumber_Index returns a new
    // reference (an exact int) or NULL with an exception set, and from_owned_ptr_or_err
    // takes ownership of it.
    let int =
        unsafe { Bound::from_owned_ptr_or_err(value.py(), ffi::PyNumber_Index(value.as_ptr()))? };
    match int.extract::<i64>() {
        Ok(int) => Ok(Int::Fits(int)),
        Err(err) if err.is_instance_of::<PyOverflowError>(value.py()) => match int.lt(0)? {
            true => Ok(Int::BelowI64),
            false => Ok(Int::AboveI64),
        },
        Err(err) => Err(err),
    }
}

/// A positive size from Python: ValueError(`message`) for zero or a negative int of any size,
/// OverflowError for one too large for this machine (as `deque(maxlen=2**64)` gives).
fn positive_size(size: &Bound<'_, PyAny>, message: &'static str) -> PyResult<usize> {
    match read_int(size)? {
        Int::Fits(size) if size > 0 => usize::try_from(size)
            .map_err(|_| PyOverflowError::new_err(format!("size {size} is too large"))),
        Int::AboveI64 => Err(PyOverflowError::new_err(format!(
            "size {size} is too large"
        ))),
        _ => Err(PyValueError::new_err(message)),
    }
}

#[pymethods]
impl MovingAverage {
    /// Create a new MovingAverage with the specified window size (a positive int).
    #[new]
    fn new(window_size: &Bound<'_, PyAny>) -> PyResult<Self> {
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
        lock(&self.window).values().len()
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
            window.values().len(),
            window.average()
        )
    }

    /// Pickle and copy support: rebuild with the same window size and values.
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyType>, (usize,), Bound<'py, PyList>)> {
        let this = slf.get();
        let values = lock(&this.window).copy_values().map_err(no_memory)?;
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
        // Through the iteration protocol: no pre-sizing from a __len__ that may lie.
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

thread_local! {
    /// This thread's RingBuffer frees in progress, and those queued past the nesting limit.
    static PENDING_DROPS: DropQueue<Py<PyAny>> = const { RefCell::new(Drops::new()) };
}

/// Drop the items of a RingBuffer with this thread's queue (`drop_flat`), so that deeply
/// nested RingBuffers cannot overflow the stack: CPython's "trashcan", which abi3 lacks.
fn drop_items(items: Vec<Option<Py<PyAny>>>) {
    drop_flat(&PENDING_DROPS, items);
}

/// Whether dropping our reference to `item` frees it, which can run Python code.
/// Free-threaded, other threads change counts at any time: assume the worst.
fn frees_on_drop(item: &Py<PyAny>) -> bool {
    // SAFETY: `item` is a live object we hold a reference to. Reached only with a GIL (the
    // `cfg!` short-circuits), which the caller holds: no other thread changes the count.
    cfg!(Py_GIL_DISABLED) || unsafe { ffi::Py_REFCNT(item.as_ptr()) <= 1 }
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
    /// Push `get(0)`, `get(1)`, ... up to `len()` (which run no Python code) under one lock.
    /// An evicted item this buffer held the last reference to is freed at once with the lock
    /// released (its `__del__` sees what it would under `deque.extend`), then `len` is re-read.
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
        let items = lock(&self.ring).try_map(|item| item.clone_ref(py));
        items.map_err(no_memory)
    }
}

#[pymethods]
impl RingBuffer {
    /// Create an empty buffer holding at most `capacity` items (a positive int).
    #[new]
    fn new(capacity: &Bound<'_, PyAny>) -> PyResult<Self> {
        let capacity = positive_size(capacity, "Capacity must be positive")?;
        Ok(RingBuffer {
            ring: Mutex::new(Ring::new(capacity)),
        })
    }

    /// The maximum number of items.
    #[getter]
    fn capacity(&self) -> usize {
        lock(&self.ring).capacity()
    }

    /// Append an item; when the buffer is full the oldest item is dropped.
    fn push(&self, item: Py<PyAny>) -> PyResult<()> {
        let pushed = lock(&self.ring).push(item);
        // The lock is released: the evicted item's __del__ may run anything.
        pushed
            .map(drop)
            .map_err(|_item| PyMemoryError::new_err("out of memory"))
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
        lock(&self.ring).is_full()
    }

    /// The items as a list, oldest first.
    fn to_list<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        list_of(py, self.snapshot(py)?)
    }

    fn __len__(&self) -> usize {
        lock(&self.ring).len()
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
        RingBufferIterator::new(slf, false)
    }

    /// Iterate newest to oldest, as `reversed(deque)` does.
    fn __reversed__(slf: Py<Self>) -> RingBufferIterator {
        RingBufferIterator::new(slf, true)
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
        // Through the iteration protocol (a __len__ may lie); evicted items are freed at once.
        let read = items.try_iter().and_then(|mut iter| {
            iter.try_for_each(|item| {
                let pushed = kept.push(item?.unbind());
                pushed
                    .map(drop)
                    .map_err(|_item| PyMemoryError::new_err("out of memory"))
            })
        });
        if let Err(err) = read {
            drop_items(kept.take_all());
            return Err(err);
        }
        let old = lock(&self.ring).replace_with(kept);
        drop_items(old); // after the lock is released, as in push()
        Ok(())
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        // The collector must not block. The lock is held briefly and never across Python
        // code, so it is free when the collector runs; if not, skipping is safe (the items
        // then look referenced from outside and are kept).
        if let Ok(ring) = self.ring.try_lock() {
            for item in ring.iter() {
                visit.call(item)?;
            }
        }
        Ok(())
    }

    fn __clear__(&self) {
        self.clear();
    }
}

/// Iterator over a RingBuffer, oldest to newest (or newest to oldest, from `reversed`).
/// Raises RuntimeError if the buffer changes during iteration, as deque does.
#[pyclass(module = "rust_demo", frozen)]
struct RingBufferIterator {
    buffer: Py<RingBuffer>,
    /// How many items have been handed out.
    next: AtomicUsize,
    /// The buffer's version when iteration began: any change bumps it.
    version: u64,
    reversed: bool,
}

impl RingBufferIterator {
    fn new(buffer: Py<RingBuffer>, reversed: bool) -> Self {
        let version = lock(&buffer.get().ring).version();
        RingBufferIterator {
            buffer,
            next: AtomicUsize::new(0),
            version,
            reversed,
        }
    }
}

#[pymethods]
impl RingBufferIterator {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let ring = lock(&self.buffer.get().ring);
        if ring.version() != self.version {
            return Err(PyRuntimeError::new_err(
                "RingBuffer mutated during iteration",
            ));
        }
        let handed_out = self.next.fetch_add(1, Ordering::Relaxed);
        // The length cannot have changed since iteration began: any change bumps the version.
        let item = match self.reversed {
            true => ring.nth_back(handed_out),
            false => ring.nth(handed_out),
        };
        Ok(item.map(|item| item.clone_ref(py)))
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.buffer)
    }
}

// ───────────────────────────── 5. Performance: the sieve ─────────────────────────────

/// Whether this is Python's main thread, the only one whose signal handlers run (Ctrl-C).
fn on_main_thread(py: Python<'_>) -> PyResult<bool> {
    // SAFETY: PyThread_get_thread_ident only reads the calling thread's identity.
    #[allow(clippy::useless_conversion)] // its c_ulong is 64 bits here, 32 on Windows
    let current = u64::from(unsafe { ffi::PyThread_get_thread_ident() });
    if let Some(known) = known_main_thread() {
        return Ok(known == current);
    }
    // Only if `threading` is loaded (None counts as not): importing it would be a side effect.
    // A `_thread` thread then taken for the main one merely re-attaches every 50 ms.
    let modules = py
        .import(intern!(py, "sys"))?
        .getattr(intern!(py, "modules"))?;
    let Some(threading) = modules
        .get_item(intern!(py, "threading"))
        .ok()
        .filter(|threading| !threading.is_none())
    else {
        return Ok(true);
    };
    let main: u64 = threading
        .call_method0(intern!(py, "main_thread"))?
        .getattr(intern!(py, "ident"))?
        .extract()?;
    remember_main_thread(main);
    Ok(main == current)
}

/// A `keep_going` check for long work that runs detached from Python (without the GIL), to
/// be created while still attached: on Python's main thread it re-attaches when `CheckClock`
/// says so, to run the signal handlers (Ctrl-C); other threads handle no signals.
fn interruptible(py: Python<'_>) -> PyResult<impl FnMut() -> PyResult<()> + Send> {
    let main = on_main_thread(py)?;
    let mut clock = CheckClock::start();
    Ok(move || {
        if !main || !clock.due() {
            return Ok(());
        }
        clock.check(|| Python::attach(|py| py.check_signals()))
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
fn count_primes(py: Python<'_>, n: u64, threads: Option<&Bound<'_, PyAny>>) -> PyResult<u64> {
    let threads = match threads {
        None => std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
        Some(threads) => match read_int(threads)? {
            Int::Fits(count @ 1..) if count as u64 <= MAX_THREADS as u64 => count as usize,
            _ => Err(PyValueError::new_err(format!(
                "threads must be between 1 and {MAX_THREADS}, got {threads}"
            )))?,
        },
    };
    let mut keep_going = interruptible(py)?;
    py.detach(|| prime_count_threaded(n, threads, &mut keep_going))
}

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
// gil_used = false (PyO3's default, written out as a decision): a free-threaded build
// (cp314t; abi3 cannot load there) leaves the GIL off. Sound because the classes are frozen
// with Mutex/atomic state, no list is read through a borrowed pointer without a GIL (see
// `list_item_at`), and every SAFETY comment holds without a GIL.
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
