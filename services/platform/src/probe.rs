//! `<service> --probe [live|ready]`: the container health check, so images need no curl.
//!
//! - `--probe` (or `--probe live`) is **liveness**: it asks `/health`, which answers as
//!   long as the process serves HTTP and never looks at a dependency. This is what an
//!   orchestrator that *replaces* unhealthy containers must run (the ECS task
//!   definition's health check): a database failover must not get every dependent task
//!   killed, and a task that is up but cut off from Postgres keeps serving what it can
//!   (result's last counts) and recovers on its own (the worker's retries).
//! - `--probe ready` is **readiness**: it asks `/ready`, which fails while a required
//!   dependency is down and names it. Use it where a check only gates traffic or start
//!   order (Compose `depends_on: condition: service_healthy`); the load balancer asks
//!   `/ready` itself.
//!
//! Exits 0 when the endpoint answers 200, 1 otherwise (printing the answer, which names
//! the failing dependency), 2 on an unknown mode. Hand-rolled over std's TcpStream on
//! purpose: one HTTP/1.0 GET does not justify an HTTP client (and its TLS stack) in a
//! health check, and it needs no async runtime.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// Enough for the status line and a `/ready` body naming every dependency.
const MAX_ANSWER: u64 = 16 * 1024;

/// What a probe asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    /// `/health`: the process serves (never depends on Postgres or Redis).
    Live,
    /// `/ready`: every required dependency answers.
    Ready,
}

impl ProbeKind {
    /// The endpoint this kind of probe asks.
    pub fn path(self) -> &'static str {
        match self {
            ProbeKind::Live => "/health",
            ProbeKind::Ready => "/ready",
        }
    }

    /// The probe `args` (the process arguments without the program name) ask for:
    /// `None` without `--probe`, `Some(Err(word))` for an unknown mode after it.
    pub fn from_args<I, S>(args: I) -> Option<Result<Self, String>>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut args = args.into_iter();
        args.by_ref().find(|arg| arg.as_ref() == "--probe")?;
        Some(match args.next() {
            None => Ok(ProbeKind::Live),
            Some(mode) => match mode.as_ref() {
                "live" => Ok(ProbeKind::Live),
                "ready" => Ok(ProbeKind::Ready),
                other => Err(other.to_owned()),
            },
        })
    }
}

/// If the process was started with `--probe [live|ready]`, runs the probe and exits.
pub fn exit_if_requested(default_port: u16) {
    let kind = match ProbeKind::from_args(std::env::args().skip(1)) {
        None => return,
        Some(Ok(kind)) => kind,
        Some(Err(mode)) => {
            eprintln!("unknown probe {mode:?}: use `--probe` or `--probe live` for liveness (/health), `--probe ready` for readiness (/ready)");
            std::process::exit(2);
        }
    };
    let port = std::env::var("PORT")
        .ok()
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(default_port);
    match check(port, kind.path()) {
        Ok(()) => std::process::exit(0),
        Err(reason) => {
            eprintln!("probe failed: {reason}");
            std::process::exit(1);
        }
    }
}

/// GETs `path` on `127.0.0.1:port`; `Ok` when the status is 200, otherwise the status and
/// the body (a `/ready` body names the dependency that is down).
pub fn check(port: u16, path: &str) -> Result<(), String> {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&address, PROBE_TIMEOUT)
        .map_err(|err| format!("cannot connect to {address}: {err}"))?;
    stream
        .set_read_timeout(Some(PROBE_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(PROBE_TIMEOUT)))
        .map_err(|err| err.to_string())?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .map_err(|err| format!("cannot send request: {err}"))?;
    // HTTP/1.0: the server closes the connection after the answer.
    let mut answer = Vec::new();
    let read = stream.take(MAX_ANSWER).read_to_end(&mut answer);
    if answer.is_empty() {
        return Err(match read {
            Err(err) => format!("no answer: {err}"),
            Ok(_) => "no answer: connection closed".to_owned(),
        });
    }
    let answer = String::from_utf8_lossy(&answer);
    let status = answer.split_whitespace().nth(1).unwrap_or("");
    if status == "200" {
        Ok(())
    } else {
        let body = answer
            .split_once("\r\n\r\n")
            .map_or("", |(_, body)| body.trim());
        Err(format!("{path} answered {status:?}: {body}"))
    }
}

#[cfg(test)]
mod tests {
    use super::ProbeKind;

    #[test]
    fn bare_probe_is_liveness_and_ready_must_be_asked_for() {
        let parse = |args: &[&str]| ProbeKind::from_args(args.iter().copied());
        assert_eq!(parse(&[]), None);
        assert_eq!(parse(&["migrate"]), None);
        assert_eq!(parse(&["--probe"]), Some(Ok(ProbeKind::Live)));
        assert_eq!(parse(&["--probe", "live"]), Some(Ok(ProbeKind::Live)));
        assert_eq!(parse(&["--probe", "ready"]), Some(Ok(ProbeKind::Ready)));
        assert_eq!(parse(&["--probe", "deep"]), Some(Err("deep".to_owned())));
        assert_eq!(ProbeKind::Live.path(), "/health");
        assert_eq!(ProbeKind::Ready.path(), "/ready");
    }
}
