//! Issue 11, item 1: least privilege. With the roles `provision`'s setup task creates for
//! the voting stack (worker owns schema `public`, result only reads it), result reads the
//! totals it shows and cannot write anything; the worker migrates and writes. Also the
//! upgrade path: tables the master user created before the roles existed are handed to
//! the worker, whose migrations must be able to alter them.

use std::collections::BTreeMap;

use platform::db::roles::{apply, parse};
use sqlx::postgres::PgConnectOptions;
use sqlx::PgPool;
use testkit::TestPostgres;
use voting_store::Ballot;

const ROLES: &str = r#"[
    {"role": "worker", "secret": "voting-dev-db-worker-password", "owns": ["public"]},
    {"role": "result", "secret": "voting-dev-db-result-password", "reads": ["public"]}
]"#;

async fn pool_as(postgres: &TestPostgres, user: &str, password: &str) -> PgPool {
    let options = PgConnectOptions::new_without_pgpass()
        .host("127.0.0.1")
        .port(postgres.port())
        .database("votes")
        .username(user)
        .password(password);
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap_or_else(|err| panic!("logging in as {user}: {err}"))
}

fn is_permission_denied(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .and_then(|db| db.code())
        .is_some_and(|code| code == "42501")
}

#[tokio::test]
async fn result_only_reads_and_the_worker_owns_the_voting_tables() {
    let postgres = TestPostgres::start_with_passwords();
    postgres.create_database("votes");
    // Like RDS's master user: no superuser, CREATEROLE, owner of the database.
    postgres
        .psql(
            "postgres",
            "CREATE ROLE slipway LOGIN CREATEROLE PASSWORD 'master-Password-1'; \
             ALTER DATABASE votes OWNER TO slipway",
        )
        .unwrap();
    // An existing deployment: the master user migrated before the roles existed.
    let master = pool_as(&postgres, "slipway", "master-Password-1").await;
    voting_store::migrate(&master).await.unwrap();

    let roles = parse(ROLES).unwrap();
    let passwords = BTreeMap::from([
        ("worker".to_owned(), "worker-Password-1".to_owned()),
        ("result".to_owned(), "result-Password-1".to_owned()),
    ]);
    apply(&master, &roles, &passwords).await.unwrap();
    // Idempotent: a second run (e.g. after a password change) changes nothing else.
    apply(&master, &roles, &passwords).await.unwrap();

    let worker = pool_as(&postgres, "worker", "worker-Password-1").await;
    voting_store::migrate(&worker).await.unwrap();
    // The worker owns the tables now: its migrations may alter them.
    sqlx::query("ALTER TABLE votes ADD COLUMN IF NOT EXISTS probe_column INT")
        .execute(&worker)
        .await
        .unwrap();
    voting_store::apply_batch(
        &worker,
        &[Ballot {
            voter_id: "v1".into(),
            vote: "a".into(),
        }],
        1,
    )
    .await
    .unwrap();

    let result = pool_as(&postgres, "result", "result-Password-1").await;
    let counts = voting_store::read_counts(&result).await.unwrap();
    assert_eq!((counts.a, counts.b), (1, 0));
    for write in [
        "INSERT INTO votes (id, vote) VALUES ('v2', 'b')",
        "UPDATE vote_counts SET count = 99",
        "DELETE FROM votes",
        "TRUNCATE vote_counts",
        "CREATE TABLE sneaky (x INT)",
        "ALTER TABLE votes ADD COLUMN y INT",
    ] {
        let err = sqlx::query(write).execute(&result).await.unwrap_err();
        assert!(is_permission_denied(&err), "{write}: {err}");
    }
    // A table the worker's later migrations add is readable by result (default
    // privileges), still not writable.
    sqlx::query("CREATE TABLE later_table (x INT)")
        .execute(&worker)
        .await
        .unwrap();
    sqlx::query("SELECT x FROM later_table")
        .execute(&result)
        .await
        .unwrap();
    let err = sqlx::query("INSERT INTO later_table VALUES (1)")
        .execute(&result)
        .await
        .unwrap_err();
    assert!(is_permission_denied(&err), "{err}");
    // Neither role may log in with a wrong password.
    let wrong = PgConnectOptions::new_without_pgpass()
        .host("127.0.0.1")
        .port(postgres.port())
        .database("votes")
        .username("result")
        .password("nope");
    let err = sqlx::PgPool::connect_with(wrong).await.unwrap_err();
    assert!(platform::db::credentials::is_auth_failure(&err), "{err}");
}
