//! ci/acceptance-shop.sh against the three native binaries, set up and started with the
//! environment docker-compose.yml declares (rewritten to loopback), reached through ONE
//! base URL by a path-routing proxy standing in for the load balancer, and directly.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use testkit::compose::{workspace_root, Loopback};
use testkit::{free_port, workspace_binary, ChildGuard, TestPostgres, TestRedis};

const SERVICES: [&str; 3] = ["users", "products", "orders"];

/// Upstream base URL per first path segment, like the ALB's path rules.
struct Routes {
    upstreams: Vec<(String, String)>,
    http: reqwest::Client,
}

async fn route(State(routes): State<Arc<Routes>>, request: Request) -> Response {
    let path_and_query = request
        .uri()
        .path_and_query()
        .map_or("/", |value| value.as_str())
        .to_owned();
    let first_segment = path_and_query
        .trim_start_matches('/')
        .split(['/', '?'])
        .next();
    let Some((_, upstream)) = routes
        .upstreams
        .iter()
        .find(|(prefix, _)| Some(prefix.as_str()) == first_segment)
    else {
        return (StatusCode::NOT_FOUND, "no route").into_response();
    };
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let mut headers = parts.headers;
    headers.remove(axum::http::header::HOST);
    let forwarded = routes
        .http
        .request(parts.method, format!("{upstream}{path_and_query}"))
        .headers(headers)
        .body(body)
        .send()
        .await;
    match forwarded {
        Ok(answer) => {
            let mut response = Response::builder().status(answer.status());
            for (name, value) in answer.headers() {
                response = response.header(name, value);
            }
            let bytes = answer.bytes().await.unwrap_or_default();
            response.body(Body::from(bytes)).unwrap()
        }
        Err(err) => (StatusCode::BAD_GATEWAY, err.to_string()).into_response(),
    }
}

fn run_script(args: &[String], env: &[(&str, String)]) -> (bool, String) {
    let output = Command::new("bash")
        .arg(workspace_root().join("ci/acceptance-shop.sh"))
        .args(args)
        .env("ACCEPTANCE_WAIT_SECS", "20")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("running bash ci/acceptance-shop.sh");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    println!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    (output.status.success(), stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acceptance_script_passes_through_one_path_routed_url_and_direct() {
    let postgres = TestPostgres::start();
    let redis = TestRedis::start();
    let database_url = postgres.create_database("shop");
    let ports: Vec<u16> = SERVICES.iter().map(|_| free_port()).collect();
    let loopback = Loopback::new()
        .url("shop-db", database_url)
        .port("redis", redis.port())
        .port("shop-users", ports[0])
        .port("shop-products", ports[1]);

    // What the compose file's one-shot setup jobs do: migrations, then demo data.
    for service in SERVICES {
        let binary = format!("shop-{service}");
        let setup_env = loopback.environment_of(&format!("{binary}-setup"));
        for subcommand in ["migrate", "seed"] {
            let status = Command::new(workspace_binary(&binary))
                .arg(subcommand)
                .envs(&setup_env)
                .stdout(Stdio::null())
                .status()
                .unwrap();
            assert!(status.success(), "{binary} {subcommand} failed");
        }
    }
    let _servers: Vec<ChildGuard> = SERVICES
        .iter()
        .zip(&ports)
        .map(|(service, port)| {
            let name = format!("shop-{service}");
            let mut command = Command::new(workspace_binary(&name));
            command
                .envs(loopback.environment_of(&name))
                .env("PORT", port.to_string())
                .stdout(Stdio::null());
            ChildGuard::spawn(&name, &mut command)
        })
        .collect();

    let routes = Arc::new(Routes {
        upstreams: SERVICES
            .iter()
            .zip(&ports)
            .map(|(service, port)| ((*service).to_owned(), format!("http://127.0.0.1:{port}")))
            .collect(),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
    });
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    tokio::spawn(async move {
        let app = axum::Router::new().fallback(route).with_state(routes);
        axum::serve(proxy, app).await
    });

    let (passed, stdout) = tokio::task::spawn_blocking(move || run_script(&[proxy_url], &[]))
        .await
        .unwrap();
    assert!(
        passed && stdout.contains(", 0 failed"),
        "through one URL:\n{stdout}"
    );

    let direct: Vec<(&str, String)> = ["SHOP_USERS_URL", "SHOP_PRODUCTS_URL", "SHOP_ORDERS_URL"]
        .into_iter()
        .zip(&ports)
        .map(|(name, port)| (name, format!("http://127.0.0.1:{port}")))
        .collect();
    let (passed, stdout) = tokio::task::spawn_blocking(move || run_script(&[], &direct))
        .await
        .unwrap();
    assert!(passed && stdout.contains(", 0 failed"), "direct:\n{stdout}");
    assert_eq!(
        postgres
            .psql("shop", "SELECT count(*) FROM orders.orders")
            .unwrap(),
        "2"
    );
}

#[test]
fn acceptance_script_fails_when_the_shop_is_not_there() {
    let nothing = format!("http://127.0.0.1:{}", free_port());
    let output = Command::new("bash")
        .arg(workspace_root().join("ci/acceptance-shop.sh"))
        .arg(&nothing)
        .env("ACCEPTANCE_WAIT_SECS", "1")
        .env("ACCEPTANCE_TIMEOUT_SECS", "2")
        .output()
        .expect("running bash ci/acceptance-shop.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{stdout}");
    assert!(
        stdout.contains("FAIL - users /users/ready answers 200"),
        "{stdout}"
    );
}
