//! A service started in-process for a test: its `run(config, listener, shutdown)` on a
//! free loopback port, with an HTTP client for it and the handles the test keeps alive
//! beside it (throwaway servers, pools). Dropping the app requests its shutdown.
//!
//! ```no_run
//! # async fn run(_: (), _: tokio::net::TcpListener, _: platform::Shutdown) -> Result<(), platform::StartupError> { Ok(()) }
//! # async fn example() {
//! let redis = testkit::TestRedis::start();
//! // A service's config, e.g. `Config::from_env(&Env::from_pairs([("REDIS_URL", redis.url())]))`.
//! let config = ();
//! let app = testkit::AppBuilder::new()
//!     .deps(redis)
//!     .spawn(|listener, shutdown| run(config, listener, shutdown))
//!     .await;
//! app.wait_ready().await;
//! let health = app.client.get(app.url("/health")).send().await.unwrap();
//! assert_eq!(health.status(), 200);
//! app.deps.cli(&["PING"]);
//! # }
//! ```

use std::future::Future;
use std::time::{Duration, Instant};

use platform::{Shutdown, StartupError};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// How long an app is given to become ready in [`TestApp::wait_ready`].
pub const READY_WITHIN: Duration = Duration::from_secs(10);

/// A running app: `base` is `http://127.0.0.1:<port>` (also what `{app}` formats as).
pub struct TestApp<D = (), O = Result<(), StartupError>> {
    pub base: String,
    /// A client for the app (by default: 10 s timeout per request).
    pub client: reqwest::Client,
    /// Triggering it starts the app's graceful shutdown (dropping the app does too).
    pub shutdown: Shutdown,
    /// The app's task: what its `run` returned, once it stopped.
    pub server: JoinHandle<O>,
    /// What the test keeps alive for as long as the app (its throwaway servers, pools).
    pub deps: D,
    _stop: StopOnDrop,
}

struct StopOnDrop(Shutdown);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.trigger();
    }
}

impl<D, O> std::fmt::Display for TestApp<D, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.base)
    }
}

impl<D, O> std::fmt::Debug for TestApp<D, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestApp")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// The client [`AppBuilder`] gives an app unless told otherwise.
pub fn default_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a plain reqwest client builds")
}

/// How to start a [`TestApp`]: the shutdown's drain period, the client, the handles kept.
#[derive(Debug)]
pub struct AppBuilder<D = ()> {
    drain: Duration,
    client: Option<reqwest::Client>,
    deps: D,
}

impl AppBuilder<()> {
    /// A 1 s drain, [`default_client`], no handles.
    pub fn new() -> Self {
        Self {
            drain: Duration::from_secs(1),
            client: None,
            deps: (),
        }
    }
}

impl Default for AppBuilder<()> {
    fn default() -> Self {
        Self::new()
    }
}

impl<D> AppBuilder<D> {
    /// How long in-flight requests may finish after shutdown was requested.
    pub fn drain(mut self, drain: Duration) -> Self {
        self.drain = drain;
        self
    }

    /// The client the app's tests use.
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Handles the app's test keeps alive with it, reachable as [`TestApp::deps`].
    pub fn deps<N>(self, deps: N) -> AppBuilder<N> {
        AppBuilder {
            drain: self.drain,
            client: self.client,
            deps,
        }
    }

    /// Binds a free port on 127.0.0.1 and spawns `run(listener, shutdown)` on it. The
    /// listener accepts from here on, so a request waits until the app serves; use
    /// [`TestApp::wait_ready`] where the app must have connected to its dependencies.
    pub async fn spawn<F, Fut>(self, run: F) -> TestApp<D, Fut::Output>
    where
        F: FnOnce(TcpListener, Shutdown) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a free loopback port");
        let base = format!(
            "http://{}",
            listener.local_addr().expect("the bound address")
        );
        let shutdown = Shutdown::manual(self.drain);
        let server = tokio::spawn(run(listener, shutdown.clone()));
        self.build(base, shutdown, server)
    }

    /// An app this test started another way (its binary, under a [`crate::ChildGuard`]) at
    /// `base`: the same client and handles, but no task of this process serves it, so
    /// `server` has already finished and `shutdown` reaches nothing.
    pub fn attach(self, base: String) -> TestApp<D, ()> {
        let shutdown = Shutdown::manual(self.drain);
        self.build(base, shutdown, tokio::spawn(async {}))
    }

    fn build<O>(self, base: String, shutdown: Shutdown, server: JoinHandle<O>) -> TestApp<D, O> {
        TestApp {
            base,
            client: self.client.unwrap_or_else(default_client),
            shutdown: shutdown.clone(),
            server,
            deps: self.deps,
            _stop: StopOnDrop(shutdown),
        }
    }
}

/// [`AppBuilder::new`]`.spawn(run)`: the app with the defaults and no handles.
pub async fn spawn_app<F, Fut>(run: F) -> TestApp<(), Fut::Output>
where
    F: FnOnce(TcpListener, Shutdown) -> Fut,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    AppBuilder::new().spawn(run).await
}

/// `GET url` with a client of its own bounded by `timeout`; panics naming the URL when no
/// answer comes.
pub async fn http_get(url: &str, timeout: Duration) -> reqwest::Response {
    reqwest::Client::new()
        .get(url)
        .timeout(timeout)
        .send()
        .await
        .unwrap_or_else(|err| panic!("GET {url}: {err}"))
}

/// Header `name` of `response` as text, if it has one.
pub fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|value| value.to_str().expect("a text header").to_owned())
}

impl<D, O> TestApp<D, O> {
    /// `base` followed by `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET path` with the app's client; panics naming the URL when no answer comes.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        let url = self.url(path);
        self.client
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|err| panic!("GET {url}: {err}"))
    }

    /// The body of `GET path` (e.g. `/metrics`) as text, whatever the status.
    pub async fn text(&self, path: &str) -> String {
        self.get(path)
            .await
            .text()
            .await
            .unwrap_or_else(|err| panic!("GET {path}: reading the body: {err}"))
    }

    /// Waits until `/ready` answers 200; panics after [`READY_WITHIN`] with the last
    /// answer.
    pub async fn wait_ready(&self) {
        self.wait_for("/ready").await;
    }

    /// Waits until `/health` answers 200 (the app serves); panics after [`READY_WITHIN`].
    pub async fn wait_serving(&self) {
        self.wait_for("/health").await;
    }

    async fn wait_for(&self, path: &str) {
        let url = self.url(path);
        let started = Instant::now();
        loop {
            let last = match self.client.get(&url).send().await {
                Ok(response) if response.status() == reqwest::StatusCode::OK => return,
                Ok(response) => format!("{}", response.status()),
                Err(err) => err.to_string(),
            };
            assert!(
                started.elapsed() < READY_WITHIN,
                "{url} did not answer 200 within {READY_WITHIN:?}; last: {last}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
