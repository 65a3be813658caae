//! The Fibonacci numbers that fit in 64 bits: the engine of `fibonacci`.

/// The largest n whose Fibonacci number fits in a u64: F(93) = 12200160415121876738.
pub const FIBONACCI_MAX_N: u64 = 93;

/// F(n), or `None` when it does not fit in a u64 (n > 93).
pub fn fibonacci_u64(n: u64) -> Option<u64> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fibonacci_values_and_limit() {
        assert_eq!(fibonacci_u64(0), Some(0));
        assert_eq!(fibonacci_u64(1), Some(1));
        assert_eq!(fibonacci_u64(40), Some(102_334_155));
        assert_eq!(fibonacci_u64(93), Some(12_200_160_415_121_876_738));
        assert_eq!(fibonacci_u64(94), None);
    }
}
