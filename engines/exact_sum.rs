//! An exact running sum of floats and the window of values it sums: the engine of
//! `MovingAverage`.

use std::collections::{TryReserveError, VecDeque};

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
pub enum WindowError {
    NotFinite,
    SumOverflow,
    NoMemory,
}

/// The last `size` values and their exact sum: the state of a MovingAverage.
#[derive(Clone, Debug)]
pub struct Window {
    size: usize,
    values: VecDeque<f64>,
    sum: ExactSum,
}

impl Window {
    pub fn new(size: usize) -> Self {
        // No `with_capacity(size)`: a huge window must not allocate up front.
        Self {
            size,
            values: VecDeque::new(),
            sum: ExactSum::default(),
        }
    }

    /// Add a value, dropping the oldest once the window is full. O(1) whatever the size.
    /// On error nothing changes.
    pub fn push(&mut self, value: f64) -> Result<(), WindowError> {
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
    pub fn average(&self) -> f64 {
        if self.values.is_empty() {
            0.0
        } else {
            // `+ 0.0` turns -0.0 into 0.0: whether a zero sum comes out as -0.0 depends on
            // the order of past additions, which a copy (rebuilt from the window) cannot
            // know. Equal (==) to fmean's answer either way.
            self.sum.total() / self.values.len() as f64 + 0.0
        }
    }

    /// A copy of the values, oldest first: an Err if it cannot be allocated.
    pub fn copy_values(&self) -> Result<Vec<f64>, TryReserveError> {
        let mut values = Vec::new();
        values.try_reserve_exact(self.values.len())?;
        values.extend(self.values.iter().copied());
        Ok(values)
    }

    /// The values, oldest first.
    pub fn values(&self) -> &VecDeque<f64> {
        &self.values
    }

    /// Forget every value.
    pub fn clear(&mut self) {
        self.values.clear();
        self.sum = ExactSum::default();
    }

    /// A window of `size` holding the last `size` of `values` (all of them if fewer), as
    /// `deque(values, maxlen=size)` would; its sum is computed exactly, in an order-proof way
    /// (see `ExactSum::of`), so every window that `push` accepted can be rebuilt, even one
    /// whose values would overflow if they were pushed again one by one.
    pub fn restore<E>(
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
pub enum RestoreError<E> {
    Item(E),
    Window(WindowError),
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(window.copy_values(), Ok(vec![20.0, 30.0, 40.0]));
    }
}
