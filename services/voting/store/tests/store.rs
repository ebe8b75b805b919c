//! The batch upsert against a real Postgres: counts stay exact, older batches never
//! overwrite newer ones, re-applying is a no-op, the original query still works.

use voting_store::{apply_batch, migrate, read_counts, Ballot, Counts};

fn ballot(voter: &str, vote: &str) -> Ballot {
    Ballot {
        voter_id: voter.to_owned(),
        vote: vote.to_owned(),
    }
}

#[tokio::test]
async fn batches_upsert_and_keep_counts_exact() {
    let server = testkit::TestPostgres::start();
    let pool = sqlx::PgPool::connect(&server.url()).await.unwrap();
    migrate(&pool).await.unwrap();
    migrate(&pool).await.expect("migrations are idempotent");
    assert_eq!(read_counts(&pool).await.unwrap(), Counts::default());

    let first = apply_batch(
        &pool,
        &[ballot("v1", "a"), ballot("v2", "a"), ballot("v3", "b")],
        10,
    )
    .await
    .unwrap();
    assert_eq!(first.changed, 3);
    assert_eq!(first.counts, Counts { a: 2, b: 1 });

    // v1 changes their mind in a newer batch; v4 is new.
    let second = apply_batch(&pool, &[ballot("v1", "b"), ballot("v4", "b")], 20)
        .await
        .unwrap();
    assert_eq!(second.counts, Counts { a: 1, b: 3 });

    // Re-applying the newer batch changes nothing; an older batch cannot undo it.
    let replay = apply_batch(&pool, &[ballot("v1", "b"), ballot("v4", "b")], 20)
        .await
        .unwrap();
    assert_eq!(replay.changed, 0);
    let stale = apply_batch(&pool, &[ballot("v1", "a")], 15).await.unwrap();
    assert_eq!(stale.changed, 0);
    assert_eq!(stale.counts, Counts { a: 1, b: 3 });

    // The original result service's query agrees with the maintained totals.
    let original: Vec<(String, i64)> =
        sqlx::query_as("SELECT vote, COUNT(id) AS count FROM votes GROUP BY vote ORDER BY vote")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(original, vec![("a".to_owned(), 1), ("b".to_owned(), 3)]);
    assert_eq!(read_counts(&pool).await.unwrap(), Counts { a: 1, b: 3 });
}

#[tokio::test]
async fn migrating_an_original_votes_table_keeps_its_rows() {
    let server = testkit::TestPostgres::start();
    server
        .psql(
            "postgres",
            "CREATE TABLE votes (id VARCHAR(255) NOT NULL UNIQUE, vote VARCHAR(255) NOT NULL); \
             INSERT INTO votes VALUES ('x', 'a'), ('y', 'b'), ('z', 'b');",
        )
        .unwrap();
    let pool = sqlx::PgPool::connect(&server.url()).await.unwrap();
    migrate(&pool).await.unwrap();
    assert_eq!(read_counts(&pool).await.unwrap(), Counts { a: 1, b: 2 });
    let applied = apply_batch(&pool, &[ballot("x", "b")], 1).await.unwrap();
    assert_eq!(applied.counts, Counts { a: 0, b: 3 });
}
