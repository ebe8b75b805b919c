//! worker: drains the `votes` queue into Postgres. See [`queue`] for how a batch is
//! claimed, written and acknowledged so that a crash at any instant loses nothing and
//! applies nothing twice.

mod batch;
mod config;
pub mod emf;
pub mod queue;
mod write;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use platform::metrics::names;
use platform::retry::Backoff;
use platform::{Readiness, Shutdown, StartupError};
use sqlx::PgPool;
use tokio::net::TcpListener;

pub use config::Config;
use queue::{Batch, DeadLetter, Queue};

pub const DEFAULT_PORT: u16 = 8082;
/// The service's name: the `Service` dimension of its CloudWatch metrics by default.
pub const SERVICE: &str = "worker";

/// What readiness reports about the drain loop's own dependencies.
#[derive(Default)]
struct Status {
    queue: OnceLock<Queue>,
    schema_ready: AtomicBool,
}

/// Serves probes and metrics on `listener` and drains the queue until shutdown.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: Shutdown,
) -> Result<(), StartupError> {
    let pool = config.database.lazy_pool(platform::db::PoolSettings {
        max_connections: 4,
        acquire_timeout: Duration::from_secs(3),
    });
    let status = Arc::new(Status::default());
    let readiness = readiness(&status, &pool);
    let app = platform::http::with_platform(Router::new(), readiness);
    tracing::info!(address = %listener.local_addr().map_err(StartupError::Serve)?, "worker probes listening");
    let server = tokio::spawn(platform::http::serve(listener, app, shutdown.clone()));
    drain(config, pool, status, shutdown.clone()).await;
    shutdown.trigger();
    server
        .await
        .map_err(|err| StartupError::Serve(std::io::Error::other(err)))?
        .map_err(StartupError::Serve)
}

fn readiness(status: &Arc<Status>, pool: &PgPool) -> Readiness {
    let redis_status = Arc::clone(status);
    let schema_status = Arc::clone(status);
    Readiness::new()
        .with_check("redis", move || {
            let queue = redis_status.queue.get().cloned();
            async move {
                let queue = queue.ok_or_else(|| "not connected yet".to_owned())?;
                platform::cache::ping(queue.redis())
                    .await
                    .map_err(|err| err.to_string())
            }
        })
        .with_postgres("postgres", pool.clone())
        .with_check("schema", move || {
            let ready = schema_status.schema_ready.load(Ordering::Relaxed);
            async move {
                if ready {
                    Ok(())
                } else {
                    Err("migrations not applied yet".to_owned())
                }
            }
        })
}

/// Runs `operation` with backoff until it succeeds; `None` if shutdown came first.
async fn until_done<T, E, F, Fut>(what: &str, shutdown: &Shutdown, operation: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let backoff = Backoff::forever();
    tokio::select! {
        outcome = backoff.retry(what, operation) => outcome.ok(),
        () = shutdown.requested() => None,
    }
}

async fn drain(config: Config, pool: PgPool, status: Arc<Status>, shutdown: Shutdown) {
    let settings = platform::cache::RedisSettings::default();
    let Some(connection) = until_done("connecting to Redis", &shutdown, || {
        platform::cache::connect(&config.redis, settings)
    })
    .await
    else {
        return;
    };
    let queue = Queue::new(connection, config.worker_id.clone(), config.lease);
    let _ = status.queue.set(queue.clone());
    // Reported from here on, Postgres or not: a database outage is when the queue grows.
    // Always sampled (Prometheus shows the gauges); CloudWatch gets them only where
    // METRICS_NAMESPACE turns the platform's EMF reporter on.
    tokio::spawn(emf::report(queue.clone(), shutdown.clone()));
    if until_done("applying migrations", &shutdown, || {
        voting_store::migrate(&pool)
    })
    .await
    .is_none()
    {
        return;
    }
    status.schema_ready.store(true, Ordering::Relaxed);
    tokio::spawn(report_queue_depth(queue.clone(), shutdown.clone()));
    tracing::info!(batch_size = config.batch_size, worker_id = %config.worker_id, "draining votes");

    let reclaim_every = config.lease / 2;
    let mut next_reclaim = Instant::now();
    let mut failures = 0u32;
    while !shutdown.is_requested() {
        if Instant::now() >= next_reclaim {
            match queue.reclaim_abandoned().await {
                Ok(batches) => {
                    for batch in batches {
                        tracing::warn!(
                            seq = batch.seq,
                            entries = batch.entries.len(),
                            "recovering an abandoned batch"
                        );
                        metrics::counter!("votes_recovered_batches_total").increment(1);
                        if !process(&queue, &pool, batch, &shutdown, config.rejected_attempts).await
                        {
                            return;
                        }
                    }
                    next_reclaim = Instant::now() + reclaim_every;
                }
                Err(err) => tracing::warn!(%err, "cannot look for abandoned batches"),
            }
        }
        match queue.claim(config.batch_size).await {
            Ok(Some(batch)) => {
                failures = 0;
                if !process(&queue, &pool, batch, &shutdown, config.rejected_attempts).await {
                    return;
                }
            }
            Ok(None) => {
                failures = 0;
                tokio::select! {
                    () = tokio::time::sleep(config.idle_poll) => {}
                    () = shutdown.requested() => {}
                }
            }
            Err(err) => {
                failures += 1;
                let delay = Backoff::forever().delay(failures);
                tracing::warn!(%err, retry_in_ms = delay.as_millis() as u64, "cannot take votes from Redis");
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = shutdown.requested() => {}
                }
            }
        }
    }
    tracing::info!("worker stopped after its last batch");
}

/// Writes one claimed batch and acknowledges it. Returns false when shutdown interrupted
/// it; the batch then stays claimed in Redis and is recovered later.
async fn process(
    queue: &Queue,
    pool: &PgPool,
    batch: Batch,
    shutdown: &Shutdown,
    rejected_attempts: u32,
) -> bool {
    let parsed = batch::parse(&batch.entries);
    metrics::histogram!("vote_batch_size").record(batch.entries.len() as f64);
    let mut dead: Vec<DeadLetter> = Vec::new();
    for (entry, reason) in &parsed.dead_letters {
        tracing::warn!(entry = %shown(entry), %reason, "malformed vote moved to votes:dead");
        dead.push(DeadLetter {
            entry: entry.clone(),
            reason: reason.clone(),
        });
    }
    let mut rejected_count = 0usize;
    if !parsed.ballots.is_empty() {
        let started = Instant::now();
        let writer = write::Writer {
            queue,
            pool,
            shutdown,
            rejected_attempts,
        };
        let Some(rejected) = writer.write(&parsed.ballots, batch.seq).await else {
            return false;
        };
        metrics::histogram!(names::VOTES_DB_WRITE_DURATION).record(started.elapsed().as_secs_f64());
        rejected_count = rejected.len();
        for write::Rejected { index, reason } in rejected {
            let entry = parsed.sources[index].clone();
            tracing::warn!(
                entry = %shown(&entry),
                %reason,
                seq = batch.seq,
                "vote rejected by Postgres moved to votes:dead"
            );
            dead.push(DeadLetter { entry, reason });
        }
    }
    if until_done("acknowledging a batch in Redis", shutdown, || {
        queue.acknowledge(batch.seq, &dead)
    })
    .await
    .is_none()
    {
        return false;
    }
    metrics::counter!(names::VOTES_PROCESSED)
        .increment(parsed.valid_entries.saturating_sub(rejected_count) as u64);
    metrics::counter!("votes_dead_letters_total").increment(dead.len() as u64);
    metrics::counter!("votes_rejected_by_postgres_total").increment(rejected_count as u64);
    true
}

/// An entry as logged: at most 200 characters, whatever was queued.
fn shown(entry: &str) -> String {
    entry.chars().take(200).collect()
}

async fn report_queue_depth(queue: Queue, shutdown: Shutdown) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Ok(depth) = queue.depth().await {
                    metrics::gauge!("votes_queue_depth").set(depth as f64);
                }
            }
            () = shutdown.requested() => return,
        }
    }
}
