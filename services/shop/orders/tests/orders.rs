//! Orders with the real users and products services (in-process) over one real Postgres
//! database and Redis: the order journey, stock accounting under 200 concurrent orders,
//! cache invalidation, bad input, dependency outages, and `Idempotency-Key` retries (after
//! a client gave up, after a 503 that followed the commit, concurrent duplicates).

use std::process::Command;
use std::time::{Duration, Instant};

use platform::Env;
use serde_json::{json, Value};
use testkit::{free_port, spawn_app, workspace_binary, TestApp, TestPostgres, TestRedis};

struct Shop {
    postgres: TestPostgres,
    redis: TestRedis,
    database_url: String,
    users: String,
    products: String,
    orders: String,
    /// users, products and every orders service started, running until the shop drops.
    apps: Vec<TestApp>,
    http: reqwest::Client,
}

impl Shop {
    /// Migrates and seeds all three services into one database, then starts them.
    async fn start() -> Self {
        let postgres = TestPostgres::start();
        let redis = TestRedis::start();
        let database_url = postgres.create_database("shop");
        let env = Env::from_pairs([
            ("DATABASE_URL", database_url.clone()),
            ("REDIS_URL", redis.url()),
        ]);
        let users_config = shop_users::Config::from_env(&env).unwrap();
        let products_config = shop_products::Config::from_env(&env).unwrap();
        shop_users::migrate(&users_config).await.unwrap();
        shop_products::migrate(&products_config).await.unwrap();
        shop_orders::migrate(&orders_config(
            &database_url,
            &redis.url(),
            "http://u",
            "http://p",
            &[],
        ))
        .await
        .unwrap();
        shop_users::seed(&users_config).await.unwrap();
        shop_products::seed(&products_config).await.unwrap();

        let users =
            spawn_app(|listener, shutdown| shop_users::run(users_config, listener, shutdown)).await;
        let products =
            spawn_app(|listener, shutdown| shop_products::run(products_config, listener, shutdown))
                .await;
        let mut shop = Self {
            orders: String::new(),
            database_url,
            users: users.base.clone(),
            products: products.base.clone(),
            postgres,
            redis,
            apps: vec![users, products],
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .pool_max_idle_per_host(256)
                .build()
                .unwrap(),
        };
        shop.orders = shop.spawn_orders(None, None, &[]).await;
        shop
    }

    /// Starts an orders service, optionally pointed at other users/products URLs.
    async fn spawn_orders(
        &mut self,
        users: Option<&str>,
        products: Option<&str>,
        extra: &[(&str, &str)],
    ) -> String {
        let config = orders_config(
            &self.database_url,
            &self.redis.url(),
            users.unwrap_or(&self.users),
            products.unwrap_or(&self.products),
            extra,
        );
        let orders =
            spawn_app(|listener, shutdown| shop_orders::run(config, listener, shutdown)).await;
        let base = orders.base.clone();
        self.apps.push(orders);
        base
    }

    async fn order(&self, orders: &str, body: &str) -> (u16, Value) {
        let (status, answer, _) = self.order_with(orders, None, body).await;
        (status, answer)
    }

    fn order_request(
        &self,
        orders: &str,
        key: Option<&str>,
        body: &str,
    ) -> reqwest::RequestBuilder {
        let request = self
            .http
            .post(format!("{orders}/orders"))
            .header("content-type", "application/json")
            .body(body.to_owned());
        match key {
            Some(key) => request.header("idempotency-key", key),
            None => request,
        }
    }

    /// Status, JSON answer, and whether it is marked as a replay.
    async fn order_with(&self, orders: &str, key: Option<&str>, body: &str) -> (u16, Value, bool) {
        let response = self
            .order_request(orders, key, body)
            .send()
            .await
            .expect("POST /orders answers");
        let status = response.status().as_u16();
        let replayed = response
            .headers()
            .get("idempotent-replayed")
            .is_some_and(|value| value == "true");
        (
            status,
            response.json().await.unwrap_or(Value::Null),
            replayed,
        )
    }

    /// Waits until `query` answers `expected` (at most 10 s).
    async fn wait_for_sql(&self, query: &str, expected: &str) {
        let started = Instant::now();
        while self.sql(query) != expected {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{query} never gave {expected}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn get(&self, url: &str) -> (u16, String, Value) {
        let response = self.http.get(url).send().await.expect("GET answers");
        let status = response.status().as_u16();
        let cache = testkit::header(&response, "x-cache").unwrap_or_default();
        (status, cache, response.json().await.unwrap_or(Value::Null))
    }

    fn sql(&self, query: &str) -> String {
        self.postgres.psql("shop", query).unwrap()
    }
}

fn orders_config(
    database_url: &str,
    redis_url: &str,
    users: &str,
    products: &str,
    extra: &[(&str, &str)],
) -> shop_orders::Config {
    let mut pairs = vec![
        ("DATABASE_URL", database_url),
        ("REDIS_URL", redis_url),
        ("USERS_URL", users),
        ("PRODUCTS_URL", products),
    ];
    pairs.extend_from_slice(extra);
    shop_orders::Config::from_env(&Env::from_pairs(pairs)).unwrap()
}

#[tokio::test]
async fn an_order_is_stored_takes_stock_and_invalidates_the_product_cache() {
    let shop = Shop::start().await;
    let product_url = format!("{}/products/2", shop.products);
    assert_eq!(shop.get(&product_url).await.1, "miss");
    let (_, cache, product) = shop.get(&product_url).await;
    assert_eq!(
        (cache.as_str(), product["stock"].as_i64()),
        ("hit", Some(250))
    );

    let (status, order) = shop
        .order(
            &shop.orders,
            r#"{"user_id": 1, "product_id": 2, "quantity": 3}"#,
        )
        .await;
    assert_eq!(status, 201, "{order}");
    let id = order["id"].as_i64().unwrap();
    assert_eq!(
        order,
        json!({"id": id, "user_id": 1, "product_id": 2, "quantity": 3, "total_cents": 3 * 4999})
    );

    let (_, cache, product) = shop.get(&product_url).await;
    assert_eq!(
        (cache.as_str(), product["stock"].as_i64()),
        ("miss", Some(247))
    );
    let (status, _, stored) = shop.get(&format!("{}/orders/{id}", shop.orders)).await;
    assert_eq!((status, stored), (200, order));

    // A read that raced the order and cached the old row after the first delete is
    // removed by the second one.
    let stale = r#"{"id":2,"name":"Harbour crane model","price_cents":4999,"stock":250}"#;
    let (status, _) = shop
        .order(
            &shop.orders,
            r#"{"user_id": 1, "product_id": 2, "quantity": 1}"#,
        )
        .await;
    assert_eq!(status, 201);
    shop.redis.cli(&["SET", "shop:product:2", stale]);
    assert_eq!(shop.get(&product_url).await.2["stock"], 250);
    tokio::time::sleep(shop_orders::CACHE_REINVALIDATE_DELAY + Duration::from_millis(200)).await;
    let (_, cache, product) = shop.get(&product_url).await;
    assert_eq!(
        (cache.as_str(), product["stock"].as_i64()),
        ("miss", Some(246))
    );
    assert_eq!(
        shop.get(&format!("{}/orders/ready", shop.orders)).await.0,
        200
    );
}

#[tokio::test]
async fn bad_orders_are_rejected_with_clear_messages_and_change_nothing() {
    let shop = Shop::start().await;
    let cases: [(&str, u16, &str); 10] = [
        ("{oops", 400, "invalid json"),
        (
            r#"{"user_id": 1, "product_id": 2}"#,
            422,
            "missing field `quantity`",
        ),
        (
            r#"{"user_id": 1, "product_id": 2, "quantity": "two"}"#,
            422,
            "invalid type",
        ),
        (
            r#"{"user_id": 1, "product_id": 2, "quantity": 0}"#,
            422,
            "quantity must be at least 1",
        ),
        (
            r#"{"user_id": 1, "product_id": 2, "quantity": -5}"#,
            422,
            "quantity must be at least 1",
        ),
        (
            r#"{"user_id": 0, "product_id": 2, "quantity": 1}"#,
            422,
            "positive integers",
        ),
        (
            r#"{"user_id": 999, "product_id": 2, "quantity": 1}"#,
            422,
            "user 999 does not exist",
        ),
        (
            r#"{"user_id": 1, "product_id": 999, "quantity": 1}"#,
            422,
            "product 999 does not exist",
        ),
        (
            r#"{"user_id": 1, "product_id": 2, "quantity": 251}"#,
            422,
            "not enough stock: product 2 has 250 left, 251 requested",
        ),
        ("", 400, "invalid json"),
    ];
    for (body, status, message) in cases {
        let (got, answer) = shop.order(&shop.orders, body).await;
        assert_eq!(got, status, "{body}: {answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains(message), "{body}: {error}");
    }
    // A total beyond BIGINT is refused, and the statement's stock decrement rolled back.
    shop.sql(
        "INSERT INTO products.products (id, name, price_cents, stock) \
         VALUES (11, 'Gold bar', 5000000000000000000, 10)",
    );
    let (status, answer) = shop
        .order(
            &shop.orders,
            r#"{"user_id": 1, "product_id": 11, "quantity": 2}"#,
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    let error = answer["error"].as_str().unwrap_or_default();
    assert!(error.contains("total is too large"), "{answer}");
    assert_eq!(
        shop.sql("SELECT stock FROM products.products WHERE id = 11"),
        "10"
    );

    assert_eq!(shop.sql("SELECT count(*) FROM orders.orders"), "0");
    assert_eq!(
        shop.sql("SELECT stock FROM products.products WHERE id = 2"),
        "250"
    );

    let (status, _, body) = shop.get(&format!("{}/orders/abc", shop.orders)).await;
    assert_eq!(status, 400, "{body}");
    let (status, _, body) = shop.get(&format!("{}/orders/42", shop.orders)).await;
    assert_eq!(
        (status, body),
        (404, json!({"error": "order 42 does not exist"}))
    );
}

#[tokio::test]
async fn two_hundred_concurrent_orders_for_fifty_in_stock_sell_exactly_fifty() {
    let mut shop = Shop::start().await;
    // This test is about stock, not latency: 200 requests at once each call users and
    // products first, and on a loaded 2-core machine those calls can queue past the 2 s
    // default and answer 503. A generous dependency timeout keeps the outcome about stock.
    let orders = shop
        .spawn_orders(None, None, &[("DEPENDENCY_TIMEOUT_MS", "30000")])
        .await;
    shop.sql("INSERT INTO products.products (id, name, price_cents, stock) VALUES (10, 'Limited edition', 500, 50)");
    let body = r#"{"user_id": 3, "product_id": 10, "quantity": 1}"#;
    let outcomes = futures::future::join_all((0..200).map(|_| shop.order(&orders, body))).await;

    let created = outcomes.iter().filter(|(status, _)| *status == 201).count();
    let sold_out = outcomes
        .iter()
        .filter(|(status, answer)| {
            *status == 422
                && answer["error"]
                    .as_str()
                    .is_some_and(|e| e.starts_with("not enough stock: product 10 has 0 left"))
        })
        .count();
    assert_eq!(created, 50, "{outcomes:?}");
    assert_eq!(sold_out, 150, "{outcomes:?}");
    assert_eq!(
        shop.sql("SELECT stock FROM products.products WHERE id = 10"),
        "0"
    );
    assert_eq!(
        shop.sql("SELECT count(*) || '/' || sum(quantity) || '/' || sum(total_cents) FROM orders.orders WHERE product_id = 10"),
        "50/50/25000"
    );
    let (_, _, product) = shop.get(&format!("{}/products/10", shop.products)).await;
    assert_eq!(product["stock"], 0);
}

#[tokio::test]
async fn unreachable_or_silent_dependencies_give_503_within_the_timeout() {
    let mut shop = Shop::start().await;
    let nothing_there = format!("http://127.0.0.1:{}", free_port());
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let body = r#"{"user_id": 1, "product_id": 1, "quantity": 1}"#;

    let orders = shop.spawn_orders(Some(&nothing_there), None, &[]).await;
    let (status, answer) = shop.order(&orders, body).await;
    assert_eq!(status, 503, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("users service is unreachable"),
        "{answer}"
    );
    let (status, _, ready) = shop.get(&format!("{orders}/orders/ready")).await;
    assert_eq!(
        (status, ready["status"].as_str()),
        (200, Some("degraded")),
        "{ready}"
    );

    let orders = shop
        .spawn_orders(None, Some(&silent_url), &[("DEPENDENCY_TIMEOUT_MS", "300")])
        .await;
    let started = Instant::now();
    let (status, answer) = shop.order(&orders, body).await;
    assert_eq!(status, 503, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("products service did not answer in time"),
        "{answer}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(shop.sql("SELECT count(*) FROM orders.orders"), "0");
    assert_eq!(
        shop.sql("SELECT stock FROM products.products WHERE id = 1"),
        "1000000"
    );
}

#[tokio::test]
async fn orders_go_through_while_redis_is_down() {
    let mut shop = Shop::start().await;
    shop.redis.stop();
    let (status, answer) = shop
        .order(
            &shop.orders,
            r#"{"user_id": 2, "product_id": 3, "quantity": 2}"#,
        )
        .await;
    assert_eq!(status, 201, "{answer}");
    let (_, cache, product) = shop.get(&format!("{}/products/3", shop.products)).await;
    assert_eq!(
        (cache.as_str(), product["stock"].as_i64()),
        ("miss", Some(498))
    );
}

#[tokio::test]
async fn postgres_outage_gives_503() {
    let mut shop = Shop::start().await;
    shop.postgres.stop();
    let (status, answer) = shop
        .order(
            &shop.orders,
            r#"{"user_id": 1, "product_id": 1, "quantity": 1}"#,
        )
        .await;
    assert_eq!(status, 503, "{answer}");
    assert_eq!(
        shop.get(&format!("{}/orders/ready", shop.orders)).await.0,
        503
    );
}

#[test]
fn three_services_share_one_database_with_separate_migration_histories() {
    let postgres = TestPostgres::start();
    let url = postgres.create_database("shop");
    for binary in ["shop-users", "shop-products", "shop-orders"] {
        for subcommand in ["migrate", "seed", "migrate", "seed"] {
            let output = Command::new(workspace_binary(binary))
                .arg(subcommand)
                .env("DATABASE_URL", &url)
                .env("REDIS_URL", "redis://127.0.0.1:1/0")
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "{binary} {subcommand}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
    for (schema, versions) in [
        ("users", "20261121000001"),
        ("products", "20261121000001"),
        ("orders", "20261121000001,20261126000001"),
    ] {
        let history = postgres
            .psql(
                "shop",
                &format!(
                    "SELECT string_agg(version::text, ',' ORDER BY version) FROM {schema}._sqlx_migrations"
                ),
            )
            .unwrap();
        assert_eq!(history, versions, "schema {schema}");
    }
    assert_eq!(
        postgres
            .psql(
                "shop",
                "SELECT to_regclass('public._sqlx_migrations') IS NULL"
            )
            .unwrap(),
        "t"
    );
    assert_eq!(
        postgres
            .psql("shop", "SELECT count(*) FROM users.users")
            .unwrap(),
        "5"
    );
    assert_eq!(
        postgres
            .psql("shop", "SELECT count(*) FROM products.products")
            .unwrap(),
        "4"
    );
    assert_eq!(
        postgres
            .psql("shop", "SELECT count(*) FROM orders.orders")
            .unwrap(),
        "0"
    );
}

const ORDER_OF_THREE: &str = r#"{"user_id": 1, "product_id": 2, "quantity": 3}"#;

/// Exactly one order, for three of product 2, whose stock (250) went down once.
fn assert_one_order_and_stock_taken_once(shop: &Shop, answer: &Value) {
    assert_eq!(shop.sql("SELECT count(*) FROM orders.orders"), "1");
    let id = shop.sql("SELECT id FROM orders.orders");
    assert_eq!(
        *answer,
        json!({"id": id.parse::<i64>().unwrap(), "user_id": 1, "product_id": 2, "quantity": 3, "total_cents": 3 * 4999})
    );
    assert_eq!(
        shop.sql("SELECT stock FROM products.products WHERE id = 2"),
        "247"
    );
}

#[tokio::test]
async fn a_retry_after_the_client_gave_up_returns_the_first_order_and_takes_stock_once() {
    let shop = Shop::start().await;
    // The first attempt commits, but the client stops waiting for the answer (its
    // timeout fired, its connection dropped): it cannot know the order went through.
    let first = tokio::spawn(
        shop.order_request(&shop.orders, Some("client-timeout-1"), ORDER_OF_THREE)
            .send(),
    );
    shop.wait_for_sql("SELECT count(*) FROM orders.orders", "1")
        .await;
    first.abort();

    let (status, answer, replayed) = shop
        .order_with(&shop.orders, Some("client-timeout-1"), ORDER_OF_THREE)
        .await;
    assert_eq!(status, 201, "the retry gets the first answer: {answer}");
    assert!(replayed, "marked Idempotent-Replayed");
    assert_one_order_and_stock_taken_once(&shop, &answer);
    // Again, as a quoted structured-field string: still the same order.
    let (status, again, _) = shop
        .order_with(&shop.orders, Some("\"client-timeout-1\""), ORDER_OF_THREE)
        .await;
    assert_eq!((status, &again), (201, &answer));
    assert_one_order_and_stock_taken_once(&shop, &answer);
}

/// A load balancer in front of orders that loses the first answer: it forwards the
/// request (the order commits) and then answers 503, as an ALB does when the target's
/// connection breaks after it did the work. Later requests pass through.
async fn spawn_proxy_losing_the_first_answer(upstream: String) -> String {
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let lost_one = Arc::new(AtomicBool::new(false));
    let http = reqwest::Client::new();
    let forward = move |headers: HeaderMap, body: axum::body::Bytes| {
        let (lost_one, http, upstream) = (lost_one.clone(), http.clone(), upstream.clone());
        async move {
            let mut request = http
                .post(format!("{upstream}/orders"))
                .header("content-type", "application/json")
                .body(body);
            if let Some(key) = headers.get("idempotency-key") {
                request = request.header("idempotency-key", key.clone());
            }
            let response = request.send().await.unwrap();
            let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
            let replayed = response.headers().get("idempotent-replayed").cloned();
            let text = response.text().await.unwrap();
            if !lost_one.swap(true, Ordering::SeqCst) {
                return (StatusCode::SERVICE_UNAVAILABLE, "upstream answer lost").into_response();
            }
            let mut answer = (status, [("content-type", "application/json")], text).into_response();
            if let Some(replayed) = replayed {
                answer.headers_mut().insert("idempotent-replayed", replayed);
            }
            answer
        }
    };
    let app = axum::Router::new().route("/orders", axum::routing::post(forward));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

#[tokio::test]
async fn a_retry_after_a_503_that_followed_the_commit_returns_the_first_order() {
    let shop = Shop::start().await;
    let proxy = spawn_proxy_losing_the_first_answer(shop.orders.clone()).await;
    let (status, _, _) = shop
        .order_with(&proxy, Some("after-503"), ORDER_OF_THREE)
        .await;
    assert_eq!(status, 503);
    assert_eq!(
        shop.sql("SELECT count(*) FROM orders.orders"),
        "1",
        "the order was committed before the 503"
    );
    let (status, answer, replayed) = shop
        .order_with(&proxy, Some("after-503"), ORDER_OF_THREE)
        .await;
    assert_eq!(status, 201, "{answer}");
    assert!(replayed);
    assert_one_order_and_stock_taken_once(&shop, &answer);
    // Without a key the same body is a new order, as before.
    let (status, _) = shop.order(&shop.orders, ORDER_OF_THREE).await;
    assert_eq!(status, 201);
    assert_eq!(shop.sql("SELECT count(*) FROM orders.orders"), "2");
}

#[tokio::test]
async fn concurrent_requests_with_one_key_make_one_order() {
    let shop = Shop::start().await;
    let outcomes = futures::future::join_all(
        (0..20).map(|_| shop.order_with(&shop.orders, Some("double-click"), ORDER_OF_THREE)),
    )
    .await;
    assert!(
        outcomes.iter().all(|(status, _, _)| *status == 201),
        "{outcomes:?}"
    );
    let answer = &outcomes[0].1;
    assert!(
        outcomes.iter().all(|(_, other, _)| other == answer),
        "{outcomes:?}"
    );
    let fresh = outcomes.iter().filter(|(_, _, replayed)| !replayed).count();
    assert_eq!(fresh, 1, "exactly one request created the order");
    assert_one_order_and_stock_taken_once(&shop, answer);
}

#[tokio::test]
async fn a_key_reused_for_another_order_is_refused_until_it_expires() {
    let shop = Shop::start().await;
    let (status, first, _) = shop
        .order_with(&shop.orders, Some("k-1"), ORDER_OF_THREE)
        .await;
    assert_eq!(status, 201);
    let other = r#"{"user_id": 1, "product_id": 2, "quantity": 4}"#;
    let (status, answer, _) = shop.order_with(&shop.orders, Some("k-1"), other).await;
    assert_eq!(status, 422, "{answer}");
    let error = answer["error"].as_str().unwrap();
    assert!(
        error.contains("already used for a different order"),
        "{error}"
    );
    for bad in ["", &"x".repeat(256)] {
        let (status, answer, _) = shop.order_with(&shop.orders, Some(bad), other).await;
        assert_eq!(status, 400, "{answer}");
    }
    assert_one_order_and_stock_taken_once(&shop, &first);

    // Past its retention the key no longer protects: it is reused for a new order, and
    // the background purge deletes what has expired.
    shop.sql("UPDATE orders.idempotency_keys SET created_at = now() - interval '25 hours'");
    let (status, second, replayed) = shop.order_with(&shop.orders, Some("k-1"), other).await;
    assert_eq!((status, replayed), (201, false), "{second}");
    assert_ne!(second["id"], first["id"]);
    shop.sql("UPDATE orders.idempotency_keys SET created_at = now() - interval '25 hours'");
    let config = orders_config(
        &shop.database_url,
        &shop.redis.url(),
        "http://u",
        "http://p",
        &[],
    );
    let purged = shop_orders::idempotency::purge_expired(
        &config.database.pool(),
        config.idempotency_retention,
    )
    .await
    .unwrap();
    assert_eq!(purged, 1);
    assert_eq!(
        shop.sql("SELECT count(*) FROM orders.idempotency_keys"),
        "0"
    );
}
