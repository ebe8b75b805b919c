//! `<service> --probe`: the container health check. It asks the running service's own
//! `/ready` on loopback and exits 0 when it answers 200, 1 otherwise, so images need no
//! curl. Hand-rolled over std's TcpStream on purpose: one HTTP/1.0 GET does not justify
//! an HTTP client (and its TLS stack) in a health check, and it needs no async runtime.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// If the process was started with `--probe`, runs the probe and exits.
pub fn exit_if_requested(default_port: u16) {
    if !std::env::args().skip(1).any(|arg| arg == "--probe") {
        return;
    }
    let port = std::env::var("PORT")
        .ok()
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(default_port);
    match check(port, "/ready") {
        Ok(()) => std::process::exit(0),
        Err(reason) => {
            eprintln!("probe failed: {reason}");
            std::process::exit(1);
        }
    }
}

/// GETs `path` on `127.0.0.1:port`; `Ok` when the status is 200.
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
    let mut head = [0u8; 64];
    let read = stream
        .read(&mut head)
        .map_err(|err| format!("no answer: {err}"))?;
    let status_line = String::from_utf8_lossy(&head[..read]);
    let status = status_line.split_whitespace().nth(1).unwrap_or("");
    if status == "200" {
        Ok(())
    } else {
        Err(format!("{path} answered {status:?}"))
    }
}
