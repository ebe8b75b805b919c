//! The catalogue both property tests check the files against: which application
//! containers exist, what they run, where they listen and what they are configured with.
//! It restates docs (issue 4, shared/design.md) on purpose: the files must agree with it.

#![allow(dead_code)] // each test binary uses a different part

/// An application container built from the root Dockerfile.
#[derive(Debug)]
pub struct App {
    /// Compose service name (also the image name `slipway/<name>`).
    pub service: &'static str,
    /// Dockerfile target.
    pub target: &'static str,
    /// Binaries the image ships (workspace package names).
    pub binaries: &'static [&'static str],
    /// Container port (`PORT`) of a long-running service; `None` for one-off jobs.
    pub port: Option<u16>,
    /// Host port it is published on, if any.
    pub host_port: Option<u16>,
    /// Compose profile; `None`: part of the default (voting) stack.
    pub profile: Option<&'static str>,
    /// Exactly the variables its compose `environment` declares.
    pub env: &'static [&'static str],
}

impl App {
    pub fn long_running(&self) -> bool {
        self.port.is_some()
    }
}

pub const APPS: &[App] = &[
    App {
        service: "vote",
        target: "vote",
        binaries: &["vote"],
        port: Some(8080),
        host_port: Some(8080),
        profile: None,
        env: &["PORT", "REDIS_URL", "OPTION_A", "OPTION_B", "LOG_FORMAT"],
    },
    App {
        service: "result",
        target: "result",
        binaries: &["result"],
        port: Some(8081),
        host_port: Some(8081),
        profile: None,
        env: &["PORT", "DATABASE_URL", "OPTION_A", "OPTION_B", "LOG_FORMAT"],
    },
    App {
        service: "worker",
        target: "worker",
        binaries: &["worker"],
        port: Some(8082),
        host_port: None,
        profile: None,
        env: &["PORT", "REDIS_URL", "DATABASE_URL", "LOG_FORMAT"],
    },
    App {
        service: "seed",
        target: "seed",
        binaries: &["seed"],
        port: None,
        host_port: None,
        profile: Some("seed"),
        env: &["VOTE_URL", "RESULT_URL", "LOG_FORMAT"],
    },
    App {
        service: "sums-client",
        target: "sums-client",
        binaries: &["sums-client"],
        port: Some(4567),
        host_port: Some(7777),
        profile: Some("sums"),
        env: &["PORT", "SERVER_URL", "LOG_FORMAT"],
    },
    App {
        service: "sums-api",
        target: "sums-api",
        binaries: &["sums-api"],
        port: Some(4567),
        host_port: Some(8888),
        profile: Some("sums"),
        env: &["PORT", "REDIS_URL", "CRASH_ON_N", "LOG_FORMAT"],
    },
    App {
        service: "shop-users",
        target: "shop-users",
        binaries: &["shop-users"],
        port: Some(3001),
        host_port: Some(3001),
        profile: Some("shop"),
        env: &["PORT", "DATABASE_URL", "LOG_FORMAT"],
    },
    App {
        service: "shop-products",
        target: "shop-products",
        binaries: &["shop-products"],
        port: Some(3002),
        host_port: Some(3002),
        profile: Some("shop"),
        env: &["PORT", "DATABASE_URL", "REDIS_URL", "LOG_FORMAT"],
    },
    App {
        service: "shop-orders",
        target: "shop-orders",
        binaries: &["shop-orders"],
        port: Some(3003),
        host_port: Some(3003),
        profile: Some("shop"),
        env: &[
            "PORT",
            "DATABASE_URL",
            "REDIS_URL",
            "USERS_URL",
            "PRODUCTS_URL",
            "LOG_FORMAT",
        ],
    },
];

/// A one-shot job that runs an application's image with another command and the same
/// configuration; the application waits until it completed successfully.
#[derive(Debug)]
pub struct Job {
    pub service: &'static str,
    /// The application whose image (and environment, less PORT) it uses.
    pub app: &'static str,
    /// Subcommands of the app's binary, run in order.
    pub subcommands: &'static [&'static str],
}

pub const JOBS: &[Job] = &[
    Job {
        service: "shop-users-setup",
        app: "shop-users",
        subcommands: &["migrate", "seed"],
    },
    Job {
        service: "shop-products-setup",
        app: "shop-products",
        subcommands: &["migrate", "seed"],
    },
    Job {
        service: "shop-orders-setup",
        app: "shop-orders",
        subcommands: &["migrate", "seed"],
    },
];

/// A data-tier container from an official image.
#[derive(Debug)]
pub struct DataStore {
    pub service: &'static str,
    pub image: &'static str,
    pub port: u16,
    /// Published on 127.0.0.1 at this host port, or not published.
    pub loopback_port: Option<u16>,
    pub profile: Option<&'static str>,
    /// Where its named volume is mounted.
    pub data_path: &'static str,
}

pub const DATA_STORES: &[DataStore] = &[
    DataStore {
        service: "redis",
        image: "redis:7-alpine",
        port: 6379,
        loopback_port: Some(6379),
        profile: None,
        data_path: "/data",
    },
    DataStore {
        service: "db",
        image: "postgres:15-alpine",
        port: 5432,
        loopback_port: Some(5432),
        profile: None,
        data_path: "/var/lib/postgresql/data",
    },
    DataStore {
        service: "sums-redis",
        image: "redis:7-alpine",
        port: 6379,
        loopback_port: None,
        profile: Some("sums"),
        data_path: "/data",
    },
    DataStore {
        service: "shop-db",
        image: "postgres:15-alpine",
        port: 5432,
        loopback_port: None,
        profile: Some("shop"),
        data_path: "/var/lib/postgresql/data",
    },
];

pub fn app(service: &str) -> &'static App {
    APPS.iter()
        .find(|app| app.service == service)
        .unwrap_or_else(|| panic!("{service} is not in the catalogue"))
}

pub fn data_store(service: &str) -> Option<&'static DataStore> {
    DATA_STORES.iter().find(|store| store.service == service)
}

/// The packages' binaries live at this path in every image.
pub fn binary_path(binary: &str) -> String {
    format!("/usr/local/bin/{binary}")
}

/// A stand-in program `name` in `dir` (a fresh temp dir): records its arguments, one per
/// line, in `dir/argv`, prints `stdout` and exits `code`. Returns its path.
pub fn recording_stand_in(
    dir: &std::path::Path,
    name: &str,
    stdout: &str,
    code: i32,
) -> std::path::PathBuf {
    let program = dir.join(name);
    std::fs::write(
        &program,
        format!(
            "#!/usr/bin/env bash\nprintf '%s\\n' \"$@\" > '{}'\nprintf '%s' '{stdout}'\nexit {code}\n",
            dir.join("argv").display()
        ),
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&program)
        .status()
        .unwrap();
    program
}

/// What a [`recording_stand_in`] in `dir` was called with ("" if it never ran).
pub fn recorded_argv(dir: &std::path::Path) -> String {
    std::fs::read_to_string(dir.join("argv")).unwrap_or_default()
}
