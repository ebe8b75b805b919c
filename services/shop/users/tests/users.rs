//! Users against a real, throwaway Postgres: lookups, bad ids, migrate/seed (in-process and
//! through the binary's subcommands), and a database outage.

use std::process::Command;
use std::time::Duration;

use platform::Env;
use serde_json::{json, Value};
use testkit::{workspace_binary, TestApp, TestPostgres};

fn config(database_url: &str) -> shop_users::Config {
    shop_users::Config::from_env(&Env::from_pairs([("DATABASE_URL", database_url)])).unwrap()
}

async fn spawn_app(database_url: &str) -> TestApp {
    let config = config(database_url);
    testkit::spawn_app(|listener, shutdown| shop_users::run(config, listener, shutdown)).await
}

async fn get(url: &str) -> (u16, Value) {
    let response = testkit::http_get(url, Duration::from_secs(10)).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn seeded_user_is_served_and_bad_ids_are_rejected() {
    let postgres = TestPostgres::start();
    let url = postgres.create_database("shop");
    shop_users::migrate(&config(&url)).await.unwrap();
    assert_eq!(shop_users::seed(&config(&url)).await.unwrap(), 5);
    let app = spawn_app(&url).await;

    assert_eq!(
        get(&format!("{app}/users/1")).await,
        (
            200,
            json!({"id": 1, "name": "Ada Lovelace", "email": "ada@example.com"})
        )
    );
    assert_eq!(
        get(&format!("{app}/users/999")).await,
        (404, json!({"error": "user 999 does not exist"}))
    );
    for bad in ["abc", "0", "-1", "1.5", "99999999999999999999"] {
        let (status, body) = get(&format!("{app}/users/{bad}")).await;
        assert_eq!(status, 400, "id {bad:?}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains("positive integer"),
            "{body}"
        );
    }
    assert_eq!(get(&format!("{app}/users/ready")).await.0, 200);
    assert_eq!(get(&format!("{app}/users/health")).await.0, 200);
    assert_eq!(get(&format!("{app}/ready")).await.0, 200);
}

#[tokio::test]
async fn migrations_live_in_their_own_schema_and_seed_is_idempotent() {
    let postgres = TestPostgres::start();
    let url = postgres.create_database("shop");
    shop_users::migrate(&config(&url)).await.unwrap();
    shop_users::migrate(&config(&url)).await.unwrap();
    assert_eq!(
        postgres
            .psql("shop", "SELECT count(*) FROM users._sqlx_migrations")
            .unwrap(),
        "1"
    );
    assert_eq!(
        postgres
            .psql(
                "shop",
                "SELECT to_regclass('public._sqlx_migrations') IS NULL"
            )
            .unwrap(),
        "t"
    );

    let snapshot = || {
        postgres
            .psql(
                "shop",
                "SELECT string_agg(id || ':' || name || ':' || email, ',' ORDER BY id) FROM users.users",
            )
            .unwrap()
            + &postgres
                .psql("shop", "SELECT last_value || '/' || is_called FROM users.users_id_seq")
                .unwrap()
    };
    assert_eq!(shop_users::seed(&config(&url)).await.unwrap(), 5);
    let first = snapshot();
    assert_eq!(shop_users::seed(&config(&url)).await.unwrap(), 0);
    assert_eq!(snapshot(), first);

    // New users get ids after the seeded ones.
    let id = postgres
        .psql(
            "shop",
            "INSERT INTO users.users (name, email) VALUES ('New', 'new@example.com') RETURNING id",
        )
        .unwrap();
    assert_eq!(id.lines().next().unwrap(), "6");
}

#[test]
fn binary_subcommands_migrate_and_seed() {
    let postgres = TestPostgres::start();
    let url = postgres.create_database("shop");
    let binary = workspace_binary("shop-users");
    for subcommand in ["migrate", "seed", "seed"] {
        let output = Command::new(&binary)
            .arg(subcommand)
            .env("DATABASE_URL", &url)
            .env("LOG_FORMAT", "json")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "shop-users {subcommand}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert_eq!(
        postgres
            .psql("shop", "SELECT count(*) FROM users.users")
            .unwrap(),
        "5"
    );
    let help = Command::new(&binary).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("migrate") && help.contains("seed"), "{help}");
}

#[tokio::test]
async fn database_outage_gives_503_and_unready_then_recovers() {
    let mut postgres = TestPostgres::start();
    let url = postgres.create_database("shop");
    shop_users::migrate(&config(&url)).await.unwrap();
    shop_users::seed(&config(&url)).await.unwrap();
    let app = spawn_app(&url).await;
    assert_eq!(get(&format!("{app}/users/2")).await.0, 200);

    postgres.stop();
    let started = std::time::Instant::now();
    let (status, body) = get(&format!("{app}/users/2")).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("unavailable"),
        "{body}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(get(&format!("{app}/users/ready")).await.0, 503);

    postgres.start_again();
    let mut recovered = false;
    for _ in 0..100 {
        if get(&format!("{app}/users/2")).await.0 == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "users did not recover after Postgres came back");
}
