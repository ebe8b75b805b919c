//! Prometheus — Debian's `/usr/bin/prometheus` — scraping a native stack on loopback
//! with the compose profile's own configuration (`monitoring/prometheus/prometheus.yml`).
//!
//! The configuration is not copied: [`loopback_config`] reads that file and turns each
//! service name of its `dns_sd_configs` into a static loopback target carrying the same
//! `__meta_dns_name` label DNS discovery would give it, so the relabelling and the alert
//! rules run exactly as written. Names without a running service (another profile's) are
//! left out, as DNS leaves them out under compose. Intervals are shortened to one second.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use serde_norway::{Mapping, Value as Yaml};
use testkit::compose::workspace_root;
use testkit::{free_port, ChildGuard};

/// Where Debian's `prometheus` package puts the server.
pub const PROMETHEUS: &str = "/usr/bin/prometheus";

/// The compose profile's Prometheus configuration, relative to the workspace root.
pub const CONFIG: &str = "monitoring/prometheus/prometheus.yml";

/// A Prometheus server on a free loopback port, killed when dropped.
pub struct Prometheus {
    port: u16,
    dir: tempfile::TempDir,
    _child: ChildGuard,
}

/// One sample of an instant query: its labels and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Sample {
    /// A label's value, `""` when absent.
    pub fn label(&self, name: &str) -> &str {
        self.labels.get(name).map_or("", String::as_str)
    }
}

/// The server binary, or a panic that says how to get it.
pub fn prometheus_binary() -> PathBuf {
    let binary = PathBuf::from(PROMETHEUS);
    assert!(
        binary.is_file(),
        "{PROMETHEUS} is missing: install Debian's prometheus package \
         (`apt-get install prometheus`; ci/test.sh installs it)"
    );
    binary
}

/// The compose configuration rewritten for loopback: `targets` maps a compose service
/// name to the loopback port its native binary listens on. Scrape and evaluation every
/// `interval`; rule files made absolute (they are relative to the original file).
pub fn loopback_config(
    config: &str,
    config_dir: &Path,
    targets: &BTreeMap<String, u16>,
    interval: &str,
) -> Result<String, String> {
    let mut document: Yaml =
        serde_norway::from_str(config).map_err(|err| format!("{CONFIG}: {err}"))?;
    let global = document
        .get_mut("global")
        .and_then(Yaml::as_mapping_mut)
        .ok_or_else(|| format!("{CONFIG}: no `global` section"))?;
    for key in ["scrape_interval", "evaluation_interval", "scrape_timeout"] {
        global.insert(key.into(), interval.into());
    }
    if let Some(rule_files) = document
        .get_mut("rule_files")
        .and_then(Yaml::as_sequence_mut)
    {
        for pattern in rule_files {
            let relative = pattern
                .as_str()
                .ok_or_else(|| format!("{CONFIG}: rule_files holds {pattern:?}"))?;
            *pattern = config_dir.join(relative).display().to_string().into();
        }
    }
    let jobs = document
        .get_mut("scrape_configs")
        .and_then(Yaml::as_sequence_mut)
        .ok_or_else(|| format!("{CONFIG}: no scrape_configs"))?;
    let mut unused: Vec<&String> = targets.keys().collect();
    for job in jobs {
        let job = job
            .as_mapping_mut()
            .ok_or_else(|| format!("{CONFIG}: a scrape config is not a mapping"))?;
        let discovery = job.remove("dns_sd_configs").unwrap_or(Yaml::Null);
        let mut static_configs = Vec::new();
        for sd in discovery.as_sequence().into_iter().flatten() {
            let names = sd["names"]
                .as_sequence()
                .ok_or_else(|| format!("{CONFIG}: dns_sd_configs entry without names"))?;
            for name in names.iter().filter_map(Yaml::as_str) {
                let Some(port) = targets.get(name) else {
                    continue;
                };
                unused.retain(|target| *target != name);
                let mut labels = Mapping::new();
                labels.insert("__meta_dns_name".into(), name.into());
                let mut target = Mapping::new();
                target.insert(
                    "targets".into(),
                    Yaml::Sequence(vec![format!("127.0.0.1:{port}").into()]),
                );
                target.insert("labels".into(), Yaml::Mapping(labels));
                static_configs.push(Yaml::Mapping(target));
            }
        }
        if !static_configs.is_empty() {
            job.insert("static_configs".into(), Yaml::Sequence(static_configs));
        }
    }
    if !unused.is_empty() {
        return Err(format!(
            "{CONFIG} does not discover {unused:?}: add the compose service names to its dns_sd_configs"
        ));
    }
    serde_norway::to_string(&document).map_err(|err| err.to_string())
}

impl Prometheus {
    /// Starts Prometheus with the compose configuration rewritten for `targets`
    /// (service name → loopback port) and waits until it is ready.
    pub fn start(targets: &BTreeMap<String, u16>) -> Self {
        let binary = prometheus_binary();
        let source = workspace_root().join(CONFIG);
        let text = std::fs::read_to_string(&source)
            .unwrap_or_else(|err| panic!("cannot read {}: {err}", source.display()));
        let config = loopback_config(&text, source.parent().unwrap(), targets, "1s")
            .unwrap_or_else(|err| panic!("{err}"));
        let dir = tempfile::tempdir().expect("temporary directory");
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).expect("writing the loopback configuration");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log file");
        let child = ChildGuard::spawn(
            "prometheus",
            Command::new(binary)
                .arg(format!("--config.file={}", config_path.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .stdout(Stdio::null())
                .stderr(log),
        );
        let prometheus = Self {
            port,
            dir,
            _child: child,
        };
        let started = Instant::now();
        while http(port, "GET", "/-/ready", None).map(|(status, _)| status) != Ok(200) {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "Prometheus was not ready within 20 s; its log:\n{}",
                prometheus.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        prometheus
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What Prometheus logged so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// GETs an API path (`/api/v1/...`) and returns its `data`, panicking on an error.
    pub fn api(&self, path_and_query: &str) -> Json {
        let (status, body) = http(self.port, "GET", path_and_query, None)
            .unwrap_or_else(|err| panic!("Prometheus {path_and_query}: {err}"));
        let answer: Json = serde_json::from_str(&body).unwrap_or_else(|err| {
            panic!("Prometheus {path_and_query} answered {status}, not JSON ({err}): {body}")
        });
        assert_eq!(
            answer["status"], "success",
            "Prometheus {path_and_query} answered {status}: {body}"
        );
        answer["data"].clone()
    }

    /// An instant query through `/api/v1/query`.
    pub fn query(&self, promql: &str) -> Vec<Sample> {
        let data = self.api(&format!("/api/v1/query?query={}", encode(promql)));
        assert_eq!(data["resultType"], "vector", "{promql}: {data}");
        data["result"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|sample| Sample {
                labels: sample["metric"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(name, value)| (name.clone(), value.as_str().unwrap_or("").to_owned()))
                    .collect(),
                value: sample["value"][1]
                    .as_str()
                    .and_then(|value| value.parse().ok())
                    .unwrap_or(f64::NAN),
            })
            .collect()
    }

    /// Queries `promql` until `accept` takes its result or `limit` passes; returns the
    /// last result either way, so that the caller's assertion shows what was there.
    pub fn query_until(
        &self,
        promql: &str,
        limit: Duration,
        accept: impl Fn(&[Sample]) -> bool,
    ) -> Vec<Sample> {
        let started = Instant::now();
        loop {
            let samples = self.query(promql);
            if accept(&samples) || started.elapsed() > limit {
                return samples;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

/// Percent-encodes a query parameter value.
pub fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// One HTTP/1.0 request to `127.0.0.1:port` (the server closes the connection after its
/// answer): status and body. `body` is sent as JSON.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<(u16, String), String> {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let timeout = Duration::from_secs(5);
    let mut stream = TcpStream::connect_timeout(&address, timeout)
        .map_err(|err| format!("cannot connect to {address}: {err}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|err| err.to_string())?;
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .map_err(|err| format!("cannot send to {address}: {err}"))?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|err| format!("reading from {address}: {err}"))?;
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|status| status.parse().ok())
        .ok_or_else(|| format!("{address} answered no HTTP status: {answer:?}"))?;
    let body = answer
        .split_once("\r\n\r\n")
        .map_or("", |(_, body)| body)
        .to_owned();
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace_config() -> String {
        std::fs::read_to_string(workspace_root().join(CONFIG)).unwrap()
    }

    #[test]
    fn discovered_names_become_loopback_targets_with_the_dns_meta_label() {
        let targets = BTreeMap::from([("vote".to_owned(), 40001), ("worker".to_owned(), 40002)]);
        let text =
            loopback_config(&workspace_config(), Path::new("/repo/mon"), &targets, "1s").unwrap();
        let config: Yaml = serde_norway::from_str(&text).unwrap();
        assert_eq!(config["global"]["scrape_interval"].as_str(), Some("1s"));
        assert_eq!(config["global"]["evaluation_interval"].as_str(), Some("1s"));
        assert_eq!(
            config["rule_files"][0].as_str(),
            Some("/repo/mon/rules/*.yml")
        );
        let job = &config["scrape_configs"][0];
        assert!(job.get("dns_sd_configs").is_none(), "{text}");
        let statics: Vec<(String, String)> = job["static_configs"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|entry| {
                (
                    entry["targets"][0].as_str().unwrap().to_owned(),
                    entry["labels"]["__meta_dns_name"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                )
            })
            .collect();
        assert_eq!(
            statics,
            [
                ("127.0.0.1:40001".to_owned(), "vote".to_owned()),
                ("127.0.0.1:40002".to_owned(), "worker".to_owned())
            ]
        );
        // The relabelling that turns the name into `service` is kept as written.
        assert_eq!(
            job["relabel_configs"][0]["source_labels"][0].as_str(),
            Some("__meta_dns_name")
        );
    }

    #[test]
    fn a_service_the_config_does_not_discover_is_an_error() {
        let targets = BTreeMap::from([("no-such-service".to_owned(), 40001)]);
        let err =
            loopback_config(&workspace_config(), Path::new("/x"), &targets, "1s").unwrap_err();
        assert!(err.contains("no-such-service"), "{err}");
    }
}
