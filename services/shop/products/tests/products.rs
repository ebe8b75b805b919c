//! Products against a real Postgres and Redis: cache-aside hits and misses, TTL,
//! invalidation, Redis outages (served from Postgres), bad ids, migrate/seed.

use std::process::Command;
use std::time::Duration;

use platform::Env;
use serde_json::{json, Value};
use testkit::{workspace_binary, TestApp, TestPostgres, TestRedis};

fn config(database_url: &str, redis_url: &str, extra: &[(&str, &str)]) -> shop_products::Config {
    let mut pairs = vec![("DATABASE_URL", database_url), ("REDIS_URL", redis_url)];
    pairs.extend_from_slice(extra);
    shop_products::Config::from_env(&Env::from_pairs(pairs)).unwrap()
}

struct Setup {
    postgres: TestPostgres,
    redis: TestRedis,
    url: String,
}

async fn setup() -> Setup {
    let postgres = TestPostgres::start();
    let redis = TestRedis::start();
    let url = postgres.create_database("shop");
    let config = config(&url, &redis.url(), &[]);
    shop_products::migrate(&config).await.unwrap();
    assert_eq!(shop_products::seed(&config).await.unwrap(), 4);
    Setup {
        postgres,
        redis,
        url,
    }
}

async fn spawn_app(config: shop_products::Config) -> TestApp {
    testkit::spawn_app(|listener, shutdown| shop_products::run(config, listener, shutdown)).await
}

/// Status, `X-Cache` header and JSON body.
async fn get(url: &str) -> (u16, String, Value) {
    let response = testkit::http_get(url, Duration::from_secs(10)).await;
    let status = response.status().as_u16();
    let cache = testkit::header(&response, "x-cache").unwrap_or_default();
    (status, cache, response.json().await.unwrap_or(Value::Null))
}

fn widget(stock: i64) -> Value {
    json!({"id": 1, "name": "Slipway demo widget", "price_cents": 1999, "stock": stock})
}

#[tokio::test]
async fn first_read_misses_then_hits_and_bad_ids_are_rejected() {
    let setup = setup().await;
    let app = spawn_app(config(&setup.url, &setup.redis.url(), &[])).await;

    assert_eq!(
        get(&format!("{app}/products/1")).await,
        (200, "miss".into(), widget(1_000_000))
    );
    assert_eq!(
        get(&format!("{app}/products/1")).await,
        (200, "hit".into(), widget(1_000_000))
    );
    let ttl: i64 = setup.redis.cli(&["TTL", "shop:product:1"]).parse().unwrap();
    assert!((1..=60).contains(&ttl), "ttl {ttl}");

    let (status, _, body) = get(&format!("{app}/products/777")).await;
    assert_eq!(
        (status, body),
        (404, json!({"error": "product 777 does not exist"}))
    );
    for bad in ["widget", "0", "-2", "3.0"] {
        let (status, _, body) = get(&format!("{app}/products/{bad}")).await;
        assert_eq!(status, 400, "id {bad:?}: {body}");
    }
    let (status, _, body) = get(&format!("{app}/products/ready")).await;
    assert_eq!(
        (status, body["status"].clone()),
        (200, json!("ready")),
        "{body}"
    );
    let metrics = reqwest::get(format!("{app}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("products_cache_total"), "{metrics}");
}

#[tokio::test]
async fn invalidation_and_ttl_bring_the_new_stock() {
    let setup = setup().await;
    let config = config(&setup.url, &setup.redis.url(), &[("CACHE_TTL_SECS", "1")]);
    let cache = config.cache();
    let app = spawn_app(config).await;

    get(&format!("{app}/products/1")).await;
    setup
        .postgres
        .psql(
            "shop",
            "UPDATE products.products SET stock = 7 WHERE id = 1",
        )
        .unwrap();
    // Still the cached copy until invalidated...
    assert_eq!(get(&format!("{app}/products/1")).await.2, widget(1_000_000));
    shop_products::invalidate(&cache, 1).await.unwrap();
    assert_eq!(
        get(&format!("{app}/products/1")).await,
        (200, "miss".into(), widget(7))
    );

    // ...or until the TTL runs out.
    setup
        .postgres
        .psql(
            "shop",
            "UPDATE products.products SET stock = 6 WHERE id = 1",
        )
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        get(&format!("{app}/products/1")).await,
        (200, "miss".into(), widget(6))
    );
}

#[tokio::test]
async fn redis_outage_is_served_from_postgres_and_the_cache_returns_after() {
    let mut setup = setup().await;
    let app = spawn_app(config(&setup.url, &setup.redis.url(), &[])).await;
    get(&format!("{app}/products/2")).await;
    assert_eq!(get(&format!("{app}/products/2")).await.1, "hit");

    setup.redis.stop();
    for _ in 0..3 {
        let (status, cache, body) = get(&format!("{app}/products/2")).await;
        assert_eq!((status, cache.as_str()), (200, "miss"), "{body}");
        assert_eq!(body["name"], "Harbour crane model");
    }
    let (status, _, body) = get(&format!("{app}/products/ready")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "degraded", "{body}");
    assert_eq!(body["dependencies"]["redis"]["status"], "down", "{body}");

    setup.redis.start_again();
    let mut cached_again = false;
    for _ in 0..50 {
        if get(&format!("{app}/products/2")).await.1 == "hit" {
            cached_again = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        cached_again,
        "the cache was not used again after Redis came back"
    );
}

#[tokio::test]
async fn starts_and_serves_while_redis_is_down_from_the_start() {
    let mut setup = setup().await;
    setup.redis.stop();
    let app = spawn_app(config(&setup.url, &setup.redis.url(), &[])).await;
    let (status, cache, body) = get(&format!("{app}/products/3")).await;
    assert_eq!((status, cache.as_str()), (200, "miss"), "{body}");
    assert_eq!(body["stock"], 500);
}

#[tokio::test]
async fn postgres_outage_gives_503_for_uncached_products() {
    let mut setup = setup().await;
    let app = spawn_app(config(&setup.url, &setup.redis.url(), &[])).await;
    setup.postgres.stop();
    let (status, _, body) = get(&format!("{app}/products/4")).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(get(&format!("{app}/products/ready")).await.0, 503);
}

#[tokio::test]
async fn seed_is_idempotent_and_keeps_current_stock() {
    let setup = setup().await;
    setup
        .postgres
        .psql(
            "shop",
            "UPDATE products.products SET stock = 3 WHERE id = 2",
        )
        .unwrap();
    let snapshot = || {
        setup
            .postgres
            .psql(
                "shop",
                "SELECT string_agg(id || ':' || name || ':' || price_cents || ':' || stock || ':' || updated_at, ',' ORDER BY id) FROM products.products",
            )
            .unwrap()
    };
    let before = snapshot();
    let config = config(&setup.url, &setup.redis.url(), &[]);
    assert_eq!(shop_products::seed(&config).await.unwrap(), 0);
    assert_eq!(snapshot(), before);

    let binary = workspace_binary("shop-products");
    for subcommand in ["migrate", "seed"] {
        let output = Command::new(&binary)
            .arg(subcommand)
            .env("DATABASE_URL", &setup.url)
            .env("REDIS_URL", setup.redis.url())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "shop-products {subcommand}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert_eq!(snapshot(), before);
}
