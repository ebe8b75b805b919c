//! Graceful shutdown: SIGTERM (what ECS and `docker stop` send) or SIGINT starts it;
//! servers stop accepting, background loops finish their unit of work, and in-flight
//! requests get a bounded drain period.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

pub const DEFAULT_DRAIN: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct Shutdown {
    token: CancellationToken,
    drain: Duration,
}

impl Shutdown {
    /// A shutdown that only [`Shutdown::trigger`] starts (tests, embedded use).
    pub fn manual(drain: Duration) -> Self {
        Self {
            token: CancellationToken::new(),
            drain,
        }
    }

    /// A shutdown started by SIGTERM or SIGINT. Must be called inside a tokio runtime.
    pub fn on_signals(drain: Duration) -> Self {
        let shutdown = Self::manual(drain);
        let token = shutdown.token.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutdown signal received; draining");
            token.cancel();
        });
        shutdown
    }

    pub fn trigger(&self) {
        self.token.cancel();
    }

    pub fn is_requested(&self) -> bool {
        self.token.is_cancelled()
    }

    pub async fn requested(&self) {
        self.token.cancelled().await;
    }

    pub fn drain(&self) -> Duration {
        self.drain
    }

    /// Resolves when shutdown was requested and the drain period has passed.
    pub async fn drain_deadline(&self) {
        self.requested().await;
        tokio::time::sleep(self.drain).await;
    }

    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }
}

async fn wait_for_signal() {
    let interrupt = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(%err, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
