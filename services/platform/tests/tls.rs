//! TLS to the data tier, as on AWS: RDS for PostgreSQL 15+ enforces TLS
//! (`sslmode=require`), ElastiCache with in-transit encryption takes only `rediss://`
//! with an AUTH token. Against real servers with TLS switched on.

use platform::cache::{connect, ping, RedisSettings};
use platform::db::{lazy_pool, PoolSettings};
use platform::Env;

#[tokio::test]
async fn postgres_sslmode_require_connects_over_tls() {
    let server = testkit::TestPostgres::start_with_tls();
    let env = Env::from_pairs([("DATABASE_URL", format!("{}?sslmode=require", server.url()))]);
    let options = env.database_url("DATABASE_URL", "").unwrap();
    let pool = lazy_pool(options, PoolSettings::default());
    let (encrypted,): (bool,) =
        sqlx::query_as("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(&pool)
            .await
            .expect("sslmode=require connects to a TLS server");
    assert!(encrypted, "the session must be encrypted");

    // And require really requires: a server without TLS is refused.
    let plain = testkit::TestPostgres::start();
    let env = Env::from_pairs([("DATABASE_URL", format!("{}?sslmode=require", plain.url()))]);
    let pool = lazy_pool(
        env.database_url("DATABASE_URL", "").unwrap(),
        PoolSettings::default(),
    );
    assert!(platform::db::ping(&pool).await.is_err());
}

#[tokio::test]
async fn rediss_with_auth_token_connects_over_tls() {
    let server = testkit::TestRedis::start_with_tls();
    let env = Env::from_pairs([("REDIS_URL", server.url())]);
    let client = env.redis_url("REDIS_URL", "").unwrap();
    let handle = connect(&client, RedisSettings::default())
        .await
        .expect("rediss:// with the AUTH token connects");
    ping(&handle).await.unwrap();
    let value: i64 = handle.query(redis::cmd("INCR").arg("tls")).await.unwrap();
    assert_eq!(value, 1);

    // Plain redis:// to the TLS port fails fast instead of hanging.
    let plain = format!("redis://127.0.0.1:{}/0", server.port());
    let client = redis::Client::open(plain).unwrap();
    let started = std::time::Instant::now();
    assert!(connect(&client, RedisSettings::default()).await.is_err());
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}
