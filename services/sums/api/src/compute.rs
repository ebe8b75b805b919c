//! The deliberate CPU workload: 1 + 2 + … + n by iterating, never by the closed form.

use thread_priority::ThreadPriority;

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

/// Runs the sum on its own OS thread at the lowest scheduling priority (nice 19), off the
/// async runtime: the sums still take every idle cycle (that is the autoscaling signal),
/// but probes and other requests win the CPU whenever they need it.
pub async fn sum_on_low_priority_thread(n: u64) -> Result<u64, String> {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(format!("sum-{n}"))
        .spawn(move || {
            lower_current_thread_priority();
            let _ = sender.send(sum_by_iteration(n));
        })
        .map_err(|err| format!("cannot start a thread: {err}"))?;
    receiver
        .await
        .map_err(|_| "the sum thread ended without an answer".to_owned())
}

fn lower_current_thread_priority() {
    if let Err(err) = thread_priority::set_current_thread_priority(ThreadPriority::Min) {
        tracing::warn!(
            ?err,
            "cannot lower the sum thread's priority; probes may slow down under load"
        );
    }
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

    /// The niceness field of /proc/thread-self/stat (the 19th).
    fn current_thread_nice() -> i64 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        after_name.split(' ').nth(16).unwrap().parse().unwrap()
    }

    #[test]
    fn sum_threads_run_at_the_lowest_priority() {
        let nice = std::thread::spawn(|| {
            lower_current_thread_priority();
            current_thread_nice()
        })
        .join()
        .unwrap();
        assert_eq!(nice, 19);
    }

    #[tokio::test]
    async fn low_priority_sum_answers() {
        assert_eq!(sum_on_low_priority_thread(1_000).await, Ok(500_500));
    }
}
