//! Orders with the real users and products services (in-process) over one real Postgres
//! database and Redis: the order journey, stock accounting under 200 concurrent orders,
//! cache invalidation, bad input and dependency outages.

use std::process::Command;
use std::time::{Duration, Instant};

use platform::{Env, Shutdown};
use serde_json::{json, Value};
use testkit::{free_port, workspace_binary, TestPostgres, TestRedis};

struct Stopper(Vec<Shutdown>);

impl Drop for Stopper {
    fn drop(&mut self) {
        for shutdown in &self.0 {
            shutdown.trigger();
        }
    }
}

async fn listener() -> (tokio::net::TcpListener, String, Shutdown) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    (listener, base, Shutdown::manual(Duration::from_secs(1)))
}

struct Shop {
    postgres: TestPostgres,
    redis: TestRedis,
    database_url: String,
    users: String,
    products: String,
    orders: String,
    stopper: Stopper,
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

        let mut stopper = Stopper(Vec::new());
        let (users_listener, users, shutdown) = listener().await;
        tokio::spawn(shop_users::run(
            users_config,
            users_listener,
            shutdown.clone(),
        ));
        stopper.0.push(shutdown);
        let (products_listener, products, shutdown) = listener().await;
        tokio::spawn(shop_products::run(
            products_config,
            products_listener,
            shutdown.clone(),
        ));
        stopper.0.push(shutdown);
        let mut shop = Self {
            orders: String::new(),
            database_url,
            users,
            products,
            postgres,
            redis,
            stopper,
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
        let (orders_listener, orders, shutdown) = listener().await;
        tokio::spawn(shop_orders::run(config, orders_listener, shutdown.clone()));
        self.stopper.0.push(shutdown);
        orders
    }

    async fn order(&self, orders: &str, body: &str) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{orders}/orders"))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .expect("POST /orders answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, url: &str) -> (u16, String, Value) {
        let response = self.http.get(url).send().await.expect("GET answers");
        let status = response.status().as_u16();
        let cache = response
            .headers()
            .get("x-cache")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
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
    let shop = Shop::start().await;
    shop.sql("INSERT INTO products.products (id, name, price_cents, stock) VALUES (10, 'Limited edition', 500, 50)");
    let body = r#"{"user_id": 3, "product_id": 10, "quantity": 1}"#;
    let outcomes =
        futures::future::join_all((0..200).map(|_| shop.order(&shop.orders, body))).await;

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
    for schema in ["users", "products", "orders"] {
        let history = postgres
            .psql(
                "shop",
                &format!("SELECT string_agg(version::text, ',') FROM {schema}._sqlx_migrations"),
            )
            .unwrap();
        assert_eq!(history, "20261121000001", "schema {schema}");
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
