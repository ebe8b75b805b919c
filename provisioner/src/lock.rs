//! One operator at a time: `up`, `down`, `deploy` and `rollback` hold a lock in AWS for
//! the whole run.
//!
//! The lock is the SSM parameter `/slipway/<stack>/<env>/lock`, created with PutParameter
//! `Overwrite=false`, which AWS performs as an atomic create-if-absent (a second create
//! fails with `ParameterAlreadyExists`). Its value names the holder (user, host, pid, the
//! GitHub run if any), the command and its start time. It is deleted at the end of the run,
//! on error, and on Ctrl-C (`main` calls [`release_after_interrupt`]); only a run killed
//! outright (SIGKILL, a lost machine) leaves it behind. There is no expiry: a long `up` (RDS
//! takes 10+ minutes) must not lose its lock to a timer, so a stale lock is taken over only
//! by an operator who names its holder (`--take-over-lock '<holder>'`).
//!
//! The parameter is not tagged: `down`'s leftover scan looks for the stack's tags while
//! `down` itself holds the lock. Lock calls use an SSM client of their own, outside the
//! stack's call statistics ("a second `up` makes no mutating call" is about the stack).

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_ssm::error::ProvideErrorMetadata;
use aws_sdk_ssm::types::ParameterType;
use serde::{Deserialize, Serialize};

/// The lock's SSM parameter name.
pub use crate::names::lock_parameter_name as parameter_name;

/// Who holds the lock, as stored in the parameter (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// `user@host pid N` (plus the GitHub Actions run when there is one): what
    /// `--take-over-lock` must name.
    pub owner: String,
    /// The command holding it (`up`, `down`, `deploy`, `rollback`).
    pub command: String,
    /// Unix seconds when it was taken.
    pub started_unix: u64,
}

impl Holder {
    /// The holder for this process running `command`.
    pub fn this_process(command: &str) -> Self {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("USERNAME"))
            .unwrap_or_else(|_| "unknown-user".into());
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "unknown-host".into());
        let mut owner = format!("{user}@{host} pid {}", std::process::id());
        if let (Ok(repository), Ok(run)) = (
            std::env::var("GITHUB_REPOSITORY"),
            std::env::var("GITHUB_RUN_ID"),
        ) {
            owner.push_str(&format!(" (GitHub Actions {repository} run {run})"));
        }
        Holder {
            owner,
            command: command.to_owned(),
            started_unix: unix_now(),
        }
    }

    /// `user@host pid 4242, running `up` since 2026-11-26 01:02:03 UTC (5m 10s ago)`.
    pub fn describe(&self) -> String {
        let age = unix_now().saturating_sub(self.started_unix);
        format!(
            "{}, running `{}` since {} ({} ago)",
            self.owner,
            self.command,
            utc(self.started_unix),
            duration(age)
        )
    }
}

/// Why the lock could not be taken or released.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{stack}-{env} is locked by {}: another `provision` run is changing this stack. Wait for it to finish. If it is gone for good (killed, crashed, its machine lost), take the lock over with --take-over-lock '{}'", holder.describe(), holder.owner)]
    Held {
        stack: String,
        env: String,
        holder: Holder,
    },
    #[error("--take-over-lock names `{named}`, but {stack}-{env} is locked by {}; check who holds it and name that holder exactly", holder.describe())]
    WrongHolder {
        stack: String,
        env: String,
        named: String,
        holder: Holder,
    },
    #[error("lock {parameter}: {operation} failed: {message} — the credentials need ssm:PutParameter, ssm:GetParameter and ssm:DeleteParameter on it")]
    Aws {
        parameter: String,
        operation: &'static str,
        message: String,
    },
}

/// A held lock; [`Lock::release`] gives it back (only if it is still ours).
#[derive(Debug)]
pub struct Lock {
    ssm: aws_sdk_ssm::Client,
    parameter: String,
    value: String,
    pub holder: Holder,
}

/// The lock this process holds, for [`release_after_interrupt`].
static ACTIVE: Mutex<Option<(aws_sdk_ssm::Client, String, String)>> = Mutex::new(None);

fn aws_error<E: ProvideErrorMetadata + std::fmt::Display>(
    parameter: &str,
    operation: &'static str,
    err: &E,
) -> LockError {
    LockError::Aws {
        parameter: parameter.to_owned(),
        operation,
        message: match (err.code(), err.message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_owned(),
            _ => err.to_string(),
        },
    }
}

/// Takes the lock of `stack`/`env` for `command`. With `take_over`, a lock held by exactly
/// that owner is deleted and taken; any other holder is still refused.
pub async fn acquire(
    ssm: &aws_sdk_ssm::Client,
    stack: &str,
    env: &str,
    command: &str,
    take_over: Option<&str>,
) -> Result<Lock, LockError> {
    let parameter = parameter_name(stack, env);
    let holder = Holder::this_process(command);
    let value = serde_json::to_string(&holder).expect("a holder serializes");
    // A few rounds: the holder may release (or a takeover delete) between our calls.
    for _ in 0..3 {
        let created = ssm
            .put_parameter()
            .name(&parameter)
            .value(&value)
            .r#type(ParameterType::String)
            .overwrite(false)
            .description("Slipway: the provision run changing this stack (deleted at its end)")
            .send()
            .await;
        let err = match created {
            Ok(_) => {
                *ACTIVE.lock().expect("lock registry") =
                    Some((ssm.clone(), parameter.clone(), value.clone()));
                return Ok(Lock {
                    ssm: ssm.clone(),
                    parameter,
                    value,
                    holder,
                });
            }
            Err(err) => err,
        };
        if err.code() != Some("ParameterAlreadyExists") {
            return Err(aws_error(&parameter, "PutParameter", &err));
        }
        let Some((current, _)) = read(ssm, &parameter).await? else {
            continue; // released in between: try again
        };
        match take_over {
            Some(named) if named == current.owner => {
                match ssm.delete_parameter().name(&parameter).send().await {
                    Ok(_) => {}
                    Err(err) if err.code() == Some("ParameterNotFound") => {}
                    Err(err) => return Err(aws_error(&parameter, "DeleteParameter", &err)),
                }
                eprintln!(
                    "warning: took over the lock of {stack}-{env} from {}",
                    current.describe()
                );
            }
            Some(named) => {
                return Err(LockError::WrongHolder {
                    stack: stack.to_owned(),
                    env: env.to_owned(),
                    named: named.to_owned(),
                    holder: current,
                })
            }
            None => {
                return Err(LockError::Held {
                    stack: stack.to_owned(),
                    env: env.to_owned(),
                    holder: current,
                })
            }
        }
    }
    // Only a lock that keeps changing hands gets here.
    let holder = read(ssm, &parameter)
        .await?
        .map(|(h, _)| h)
        .unwrap_or(holder);
    Err(LockError::Held {
        stack: stack.to_owned(),
        env: env.to_owned(),
        holder,
    })
}

/// The holder and raw value of the lock, `None` if nobody holds it. A value that is not a
/// holder record (written by hand) is reported with the raw text as its owner.
pub async fn read(
    ssm: &aws_sdk_ssm::Client,
    parameter: &str,
) -> Result<Option<(Holder, String)>, LockError> {
    match ssm.get_parameter().name(parameter).send().await {
        Ok(out) => {
            let raw = out
                .parameter()
                .and_then(|p| p.value())
                .unwrap_or_default()
                .to_owned();
            let holder = serde_json::from_str(&raw).unwrap_or_else(|_| Holder {
                owner: raw.clone(),
                command: "unknown".into(),
                started_unix: 0,
            });
            Ok(Some((holder, raw)))
        }
        Err(err) if err.code() == Some("ParameterNotFound") => Ok(None),
        Err(err) => Err(aws_error(parameter, "GetParameter", &err)),
    }
}

/// Deletes the parameter if it still holds `value` (a run whose lock was taken over must
/// not free the new holder's).
async fn release_value(
    ssm: &aws_sdk_ssm::Client,
    parameter: &str,
    value: &str,
) -> Result<(), LockError> {
    match read(ssm, parameter).await? {
        Some((_, raw)) if raw == value => {}
        _ => return Ok(()),
    }
    match ssm.delete_parameter().name(parameter).send().await {
        Ok(_) => Ok(()),
        Err(err) if err.code() == Some("ParameterNotFound") => Ok(()),
        Err(err) => Err(aws_error(parameter, "DeleteParameter", &err)),
    }
}

impl Lock {
    /// Gives the lock back.
    pub async fn release(self) -> Result<(), LockError> {
        let result = release_value(&self.ssm, &self.parameter, &self.value).await;
        *ACTIVE.lock().expect("lock registry") = None;
        result
    }
}

/// Releases the lock this process holds, if any (the Ctrl-C path: the command's own
/// release never runs). Gives up after 10 seconds.
pub async fn release_after_interrupt() {
    let active = ACTIVE.lock().expect("lock registry").take();
    if let Some((ssm, parameter, value)) = active {
        let released = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            release_value(&ssm, &parameter, &value),
        )
        .await;
        match released {
            Ok(Ok(())) => eprintln!("released the lock {parameter}"),
            Ok(Err(err)) => eprintln!("warning: could not release the lock: {err}"),
            Err(_) => eprintln!(
                "warning: could not release the lock {parameter} within 10 s; the next run needs --take-over-lock"
            ),
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// `1h 02m`, `5m 10s`, `42s`.
fn duration(secs: u64) -> String {
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m {:02}s", secs / 60, secs % 60),
        _ => format!("{}h {:02}m", secs / 3600, secs % 3600 / 60),
    }
}

/// `YYYY-MM-DD HH:MM:SS UTC` (civil-from-days, proleptic Gregorian).
fn utc(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let rem = unix % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_utc_and_ages() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_795_660_923), "2026-11-26 02:42:03 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(duration(42), "42s");
        assert_eq!(duration(310), "5m 10s");
        assert_eq!(duration(3720), "1h 02m");
    }

    #[test]
    fn the_refusal_names_the_holder_and_how_to_take_over() {
        let err = LockError::Held {
            stack: "voting".into(),
            env: "prod".into(),
            holder: Holder {
                owner: "ana@ci-7 pid 4242".into(),
                command: "up".into(),
                started_unix: unix_now() - 75,
            },
        };
        let text = err.to_string();
        assert!(
            text.starts_with("voting-prod is locked by ana@ci-7 pid 4242, running `up` since"),
            "{text}"
        );
        assert!(text.contains("(1m 15s ago)"), "{text}");
        assert!(
            text.ends_with("--take-over-lock 'ana@ci-7 pid 4242'"),
            "{text}"
        );
    }
}
