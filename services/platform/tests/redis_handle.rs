//! The Redis handle against a real server that goes away and comes back.

use std::time::{Duration, Instant};

use platform::cache::{connect, ping, RedisSettings};

#[tokio::test]
async fn reconnects_after_a_long_outage_and_fails_fast_meanwhile() {
    let mut redis = testkit::TestRedis::start();
    let client = redis::Client::open(redis.url()).unwrap();
    let settings = RedisSettings {
        connection_timeout: Duration::from_millis(500),
        response_timeout: Duration::from_millis(500),
    };
    let handle = connect(&client, settings).await.unwrap();
    redis.stop();
    for _ in 0..8 {
        let started = Instant::now();
        assert!(ping(&handle).await.is_err());
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "{:?}",
            started.elapsed()
        );
    }
    redis.start_again();
    let mut recovered = false;
    for _ in 0..20 {
        if ping(&handle).await.is_ok() {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "the handle reconnects once Redis is back");
    let value: i64 = handle.query(redis::cmd("INCR").arg("n")).await.unwrap();
    assert_eq!(value, 1);
}
