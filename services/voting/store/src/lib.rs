//! The voting stack's data in Postgres: the `votes` table (one row per voter, latest
//! vote wins), the `vote_counts` totals kept in step with it, and the notification the
//! worker sends after each committed batch.

use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres, Transaction};

/// Channel the worker NOTIFYs after each batch that changed counts; the payload is the
/// new totals as JSON, e.g. `{"a":3,"b":1}`.
pub const COUNTS_CHANNEL: &str = "vote_counts";

/// Serialises batch writers (several worker replicas) so counts stay exact; the lock is
/// held only for one batch transaction (the worker's `lock_timeout` bounds the wait for it).
pub const WRITER_LOCK: i64 = 0x5u64 as i64 * 1_000_003 + 0x1ab;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Totals per option, as the original result service reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub a: i64,
    pub b: i64,
}

impl Counts {
    pub fn total(&self) -> i64 {
        self.a + self.b
    }

    /// Parses a notification payload.
    pub fn from_payload(payload: &str) -> Option<Self> {
        serde_json::from_str(payload).ok()
    }
}

/// One voter's latest choice within a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ballot {
    pub voter_id: String,
    pub vote: String,
}

pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

/// True when a query failed because the schema is missing (undefined table, 42P01).
pub fn is_missing_schema(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .and_then(|db| db.code())
        .is_some_and(|code| code == "42P01")
}

pub async fn read_counts(pool: &PgPool) -> Result<Counts, sqlx::Error> {
    let rows: Vec<(String, i64)> = sqlx::query_as("SELECT vote, count FROM vote_counts")
        .fetch_all(pool)
        .await?;
    Ok(counts_from_rows(rows))
}

fn counts_from_rows(rows: Vec<(String, i64)>) -> Counts {
    let mut counts = Counts::default();
    for (vote, count) in rows {
        match vote.as_str() {
            "a" => counts.a = count,
            "b" => counts.b = count,
            _ => {}
        }
    }
    counts
}

/// What applying a batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// Rows inserted or changed (ballots older than the stored ones are skipped).
    pub changed: i64,
    pub counts: Counts,
}

/// Applies deduplicated ballots written with sequence number `seq` in one transaction:
/// upserts the rows whose stored seq is older, adjusts the totals by exactly the changes
/// made, and notifies listeners when anything changed. Applying the same batch twice
/// changes nothing the second time.
pub async fn apply_batch(
    pool: &PgPool,
    ballots: &[Ballot],
    seq: i64,
) -> Result<Applied, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let applied = apply_in(&mut tx, ballots, seq).await?;
    tx.commit().await?;
    Ok(applied)
}

async fn apply_in(
    tx: &mut Transaction<'_, Postgres>,
    ballots: &[Ballot],
    seq: i64,
) -> Result<Applied, sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(WRITER_LOCK)
        .execute(&mut **tx)
        .await?;
    let ids: Vec<&str> = ballots.iter().map(|b| b.voter_id.as_str()).collect();
    let votes: Vec<&str> = ballots.iter().map(|b| b.vote.as_str()).collect();
    // All CTEs see the snapshot from before the statement: `prior` is each voter's old
    // row, `upserted` the rows this batch actually wrote; the difference is the delta.
    let (changed,): (i64,) = sqlx::query_as(
        r#"
        WITH incoming AS (
            SELECT * FROM UNNEST($1::text[], $2::text[]) AS t(id, vote)
        ),
        prior AS (
            SELECT v.id, v.vote FROM votes v JOIN incoming i ON i.id = v.id
        ),
        upserted AS (
            INSERT INTO votes AS v (id, vote, seq)
            SELECT id, vote, $3 FROM incoming
            ON CONFLICT (id) DO UPDATE
                SET vote = EXCLUDED.vote, seq = EXCLUDED.seq, updated_at = now()
                WHERE v.seq < EXCLUDED.seq
            RETURNING v.id, v.vote
        ),
        deltas AS (
            SELECT u.vote, 1::bigint AS delta FROM upserted u
            UNION ALL
            SELECT p.vote, -1::bigint FROM prior p JOIN upserted u ON u.id = p.id
        ),
        totals AS (
            INSERT INTO vote_counts AS c (vote, count)
            SELECT vote, SUM(delta) FROM deltas GROUP BY vote
            ON CONFLICT (vote) DO UPDATE SET count = c.count + EXCLUDED.count
            RETURNING c.vote
        )
        SELECT COUNT(*) FROM upserted
        "#,
    )
    .bind(&ids)
    .bind(&votes)
    .bind(seq)
    .fetch_one(&mut **tx)
    .await?;
    let rows: Vec<(String, i64)> = sqlx::query_as("SELECT vote, count FROM vote_counts")
        .fetch_all(&mut **tx)
        .await?;
    let counts = counts_from_rows(rows);
    if changed > 0 {
        let payload = serde_json::to_string(&counts).expect("counts serialise");
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(COUNTS_CHANNEL)
            .bind(payload)
            .execute(&mut **tx)
            .await?;
    }
    Ok(Applied { changed, counts })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips() {
        let counts = Counts { a: 3, b: 1 };
        let payload = serde_json::to_string(&counts).unwrap();
        assert_eq!(payload, r#"{"a":3,"b":1}"#);
        assert_eq!(Counts::from_payload(&payload), Some(counts));
        assert_eq!(Counts::from_payload("nope"), None);
    }
}
