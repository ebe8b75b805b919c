//! The deliberate CPU workload: 1 + 2 + … + n by iterating, never by the closed form.

/// Sums `1..=n` one addition at a time. `black_box` hides each partial sum from the
/// optimiser, which would otherwise replace the loop with `n(n+1)/2` and turn the
/// stack's autoscaling workload into a no-op. `n` must be at most [`crate::input::MAX_N`].
pub fn sum_by_iteration(n: u64) -> u64 {
    let mut total: u64 = 0;
    let mut i: u64 = 1;
    while i <= n {
        total = std::hint::black_box(total + i);
        i += 1;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_closed_form() {
        for n in [1u64, 2, 10, 100, 12_345, 1_000_000] {
            assert_eq!(sum_by_iteration(n), n * (n + 1) / 2, "n={n}");
        }
        assert_eq!(sum_by_iteration(0), 0);
    }
}
