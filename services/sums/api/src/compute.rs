//! The deliberate CPU workload: 1 + 2 + … + n by iterating, never by the closed form.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use thread_priority::ThreadPriority;

/// Additions between two looks at the deadline and the cancel flag: about a millisecond of
/// work, so a stopped sum frees its CPU at once while the checks cost nothing measurable.
const CHUNK: u64 = 1 << 20;

/// Why a sum produced no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SumError {
    #[error("the deadline passed before the sum finished; the work was stopped")]
    DeadlineExceeded,
    #[error("{0}")]
    Thread(String),
}

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

/// [`sum_by_iteration`] that gives up (`None`) once `deadline` passes or `cancel` is set,
/// looking at both every [`CHUNK`] additions.
pub fn sum_by_iteration_until(n: u64, deadline: Instant, cancel: &AtomicBool) -> Option<u64> {
    let mut total: u64 = 0;
    let mut i: u64 = 1;
    while i <= n {
        let chunk_end = n.min(i.saturating_add(CHUNK - 1));
        while i <= chunk_end {
            total = std::hint::black_box(total + i);
            i += 1;
        }
        if cancel.load(Ordering::Relaxed) || Instant::now() >= deadline {
            return None;
        }
    }
    Some(total)
}

/// Sets the flag when dropped: a request that ends for any reason (deadline, client gone,
/// shutdown) stops its sum thread instead of leaving it to burn the CPU.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Runs the sum on its own OS thread at the lowest scheduling priority (nice 19), off the
/// async runtime: the sums still take every idle cycle (that is the autoscaling signal),
/// but probes and other requests win the CPU whenever they need it. The thread stops at
/// `deadline`, or as soon as the returned future is dropped.
pub async fn sum_on_low_priority_thread(n: u64, deadline: Instant) -> Result<u64, SumError> {
    let cancel = Arc::new(AtomicBool::new(false));
    let _stop_when_done = CancelOnDrop(cancel.clone());
    let (sender, receiver) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(format!("sum-{n}"))
        .spawn(move || {
            lower_current_thread_priority();
            let _ = sender.send(sum_by_iteration_until(n, deadline, &cancel));
        })
        .map_err(|err| SumError::Thread(format!("cannot start a thread: {err}")))?;
    // Also bounded here: a nice-19 thread on a saturated CPU may not even get to look at
    // its deadline in time, but the answer must not wait for it.
    match tokio::time::timeout_at(deadline.into(), receiver).await {
        Ok(Ok(Some(total))) => Ok(total),
        Ok(Ok(None)) | Err(_) => Err(SumError::DeadlineExceeded),
        Ok(Err(_)) => Err(SumError::Thread(
            "the sum thread ended without an answer".to_owned(),
        )),
    }
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
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        assert_eq!(
            sum_on_low_priority_thread(1_000, deadline).await,
            Ok(500_500)
        );
    }

    #[test]
    fn a_sum_stops_at_its_deadline_or_when_cancelled() {
        let never = AtomicBool::new(false);
        let later = Instant::now() + std::time::Duration::from_secs(60);
        assert_eq!(
            sum_by_iteration_until(3 * CHUNK + 7, later, &never),
            Some(sum_by_iteration(3 * CHUNK + 7))
        );
        let started = Instant::now();
        assert_eq!(
            sum_by_iteration_until(crate::input::MAX_N, started, &never),
            None
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        let cancelled = AtomicBool::new(true);
        assert_eq!(
            sum_by_iteration_until(crate::input::MAX_N, later, &cancelled),
            None
        );
    }
}
