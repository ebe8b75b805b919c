//! The current totals, kept up to date from Postgres with one query per change at most:
//! the worker NOTIFYs the new totals after each batch (the payload *is* the data, so a
//! notification costs no query), a slow poll is the safety net, and every connected
//! client is pushed the same `scores` event — never one query per client.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use platform::retry::Backoff;
use platform::Shutdown;
use socketioxide::SocketIo;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use voting_store::{Counts, COUNTS_CHANNEL};

/// What the page and the feed show.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub counts: Counts,
    /// True while Postgres cannot be reached: the counts are the last known ones.
    pub stale: bool,
    /// False until the totals were read once.
    pub loaded: bool,
}

#[derive(Clone)]
pub struct Scores {
    snapshot: Arc<RwLock<Snapshot>>,
    io: SocketIo,
}

/// The `scores` event payload: a JSON *string*, exactly as the original app sent it.
pub fn scores_payload(counts: Counts) -> String {
    serde_json::to_string(&counts).expect("counts serialise")
}

impl Scores {
    pub fn new(io: SocketIo) -> Self {
        Self {
            snapshot: Arc::new(RwLock::new(Snapshot::default())),
            io,
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        *self.snapshot.read().expect("scores lock")
    }

    /// Records new totals and pushes them to every client when they changed.
    async fn publish(&self, counts: Counts) {
        let changed = {
            let mut snapshot = self.snapshot.write().expect("scores lock");
            let changed = snapshot.counts != counts || !snapshot.loaded || snapshot.stale;
            *snapshot = Snapshot {
                counts,
                stale: false,
                loaded: true,
            };
            changed
        };
        if changed {
            metrics::counter!("result_broadcasts_total").increment(1);
            if let Err(err) = self.io.emit("scores", &scores_payload(counts)).await {
                tracing::warn!(%err, "cannot push scores to every client");
            }
            let _ = self
                .io
                .emit("status", &serde_json::json!({"stale": false}))
                .await;
        }
    }

    async fn mark_stale(&self) {
        let was_stale = {
            let mut snapshot = self.snapshot.write().expect("scores lock");
            std::mem::replace(&mut snapshot.stale, true)
        };
        if !was_stale {
            tracing::warn!("lost Postgres; showing the last known totals as stale");
            let _ = self
                .io
                .emit("status", &serde_json::json!({"stale": true}))
                .await;
        }
    }

    async fn refresh(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        metrics::counter!("result_db_queries_total").increment(1);
        match voting_store::read_counts(pool).await {
            Ok(counts) => {
                self.publish(counts).await;
                Ok(())
            }
            Err(err) => {
                // A refused login makes the password refresher re-read its secret.
                platform::db::log_connection_failure(&err);
                self.mark_stale().await;
                Err(err)
            }
        }
    }

    /// Follows the totals until shutdown, reconnecting with backoff whenever Postgres
    /// goes away.
    pub async fn follow(self, pool: PgPool, fallback_poll: Duration, shutdown: Shutdown) {
        let backoff = Backoff::forever();
        let mut failures = 0u32;
        while !shutdown.is_requested() {
            match self.listen(&pool, fallback_poll, &shutdown).await {
                Ok(()) => return,
                Err(err) => {
                    failures += 1;
                    platform::db::log_connection_failure(&err);
                    self.mark_stale().await;
                    let delay = backoff.delay(failures);
                    tracing::warn!(%err, retry_in_ms = delay.as_millis() as u64, "following vote totals failed");
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = shutdown.requested() => return,
                    }
                }
            }
        }
    }

    /// One LISTEN session: subscribe, read the totals once (notifications sent before
    /// the subscription are not replayed), then apply notifications as they come.
    /// Returns `Ok` only on shutdown.
    async fn listen(
        &self,
        pool: &PgPool,
        fallback_poll: Duration,
        shutdown: &Shutdown,
    ) -> Result<(), sqlx::Error> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(COUNTS_CHANNEL).await?;
        self.refresh(pool).await?;
        let mut poll = tokio::time::interval(fallback_poll);
        poll.tick().await;
        loop {
            tokio::select! {
                notification = listener.try_recv() => match notification? {
                    Some(notification) => match Counts::from_payload(notification.payload()) {
                        Some(counts) => self.publish(counts).await,
                        None => self.refresh(pool).await?,
                    },
                    None => return Err(sqlx::Error::Protocol("the LISTEN connection was lost".into())),
                },
                _ = poll.tick() => self.refresh(pool).await?,
                () = shutdown.requested() => return Ok(()),
            }
        }
    }
}
