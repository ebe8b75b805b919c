//! Handing an SSM session to the AWS `session-manager-plugin`, argument for argument as the
//! AWS CLI does (`aws ecs execute-command`, `aws ssm start-session`).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{json, Value};

/// The plugin's executable name on PATH.
pub const PLUGIN: &str = "session-manager-plugin";

/// What an operator without the plugin reads (before any AWS call is made).
pub fn missing_plugin_message() -> String {
    format!(
        "`{PLUGIN}` is not on PATH; ECS Exec and tunnels hand their session to it.\n\
         Install the Session Manager plugin for the AWS CLI \
         (https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-working-with-install-plugin.html):\n  \
         Debian/Ubuntu: curl -o plugin.deb https://s3.amazonaws.com/session-manager-downloads/plugin/latest/ubuntu_64bit/session-manager-plugin.deb && sudo dpkg -i plugin.deb\n  \
         macOS: brew install --cask session-manager-plugin\n\
         then check with `{PLUGIN} --version` and run this command again."
    )
}

/// The plugin's path in the directories of `path` (a PATH-style list).
pub fn find_plugin_in(path: &OsStr) -> Result<PathBuf> {
    std::env::split_paths(path)
        .map(|dir| dir.join(PLUGIN))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(|| anyhow::anyhow!(missing_plugin_message()))
}

/// The plugin's path on this process's PATH.
pub fn find_plugin() -> Result<PathBuf> {
    find_plugin_in(&std::env::var_os("PATH").unwrap_or_default())
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// A started SSM session: what ExecuteCommand or StartSession returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub session_id: String,
    pub stream_url: String,
    pub token_value: String,
}

/// Which API started the session: the plugin expects that API's own JSON spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// ECS ExecuteCommand: `{"sessionId", "streamUrl", "tokenValue"}`.
    EcsExecuteCommand,
    /// SSM StartSession: `{"SessionId", "StreamUrl", "TokenValue"}`.
    SsmStartSession,
}

impl Session {
    pub fn to_json(&self, origin: Origin) -> Value {
        match origin {
            Origin::EcsExecuteCommand => json!({
                "sessionId": self.session_id,
                "streamUrl": self.stream_url,
                "tokenValue": self.token_value,
            }),
            Origin::SsmStartSession => json!({
                "SessionId": self.session_id,
                "StreamUrl": self.stream_url,
                "TokenValue": self.token_value,
            }),
        }
    }
}

/// The SSM target of a container: `ecs:<cluster name>_<task id>_<container runtime id>`.
pub fn ecs_target(cluster: &str, task_id: &str, runtime_id: &str) -> String {
    format!("ecs:{cluster}_{task_id}_{runtime_id}")
}

/// The SSM endpoint the plugin talks to (the emulator's or VPC endpoint's when one is set).
pub fn ssm_endpoint(region: &str, endpoint_url: Option<&str>) -> String {
    match endpoint_url {
        Some(url) => url.to_owned(),
        None if region.starts_with("cn-") => format!("https://ssm.{region}.amazonaws.com.cn"),
        None => format!("https://ssm.{region}.amazonaws.com"),
    }
}

/// The plugin's argv after its name: session JSON, region, "StartSession", profile (or
/// empty), request parameters JSON (at least `Target`), SSM endpoint URL.
pub fn plugin_args(
    session: &Session,
    origin: Origin,
    region: &str,
    profile: Option<&str>,
    parameters: &Value,
    ssm_endpoint: &str,
) -> Vec<String> {
    vec![
        session.to_json(origin).to_string(),
        region.to_owned(),
        "StartSession".to_owned(),
        profile.unwrap_or_default().to_owned(),
        parameters.to_string(),
        ssm_endpoint.to_owned(),
    ]
}

/// Runs the plugin attached to this terminal until the session ends; its exit code.
///
/// Ctrl-C belongs to the session while it runs (the plugin forwards it to the remote shell,
/// or closes a tunnel), so this process ignores SIGINT, as the AWS CLI does; that also keeps
/// it alive to clean up afterwards (`provision debug` stops its task). SIGTERM or SIGHUP
/// (terminal gone) end the plugin: 143 / 129.
pub async fn launch(plugin: &Path, args: &[String]) -> Result<u8> {
    let mut child = tokio::process::Command::new(plugin)
        .args(args)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("could not start {}", plugin.display()))?;
    let status = wait_ignoring_interrupts(&mut child).await?;
    Ok(status
        .code()
        .map(|code| u8::try_from(code).unwrap_or(1))
        .unwrap_or(1))
}

#[cfg(unix)]
async fn wait_ignoring_interrupts(
    child: &mut tokio::process::Child,
) -> Result<std::process::ExitStatus> {
    use std::os::unix::process::ExitStatusExt;
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            status = child.wait() => return Ok(status?),
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {
                let _ = child.kill().await;
                return Ok(std::process::ExitStatus::from_raw(143 << 8));
            }
            _ = hangup.recv() => {
                let _ = child.kill().await;
                return Ok(std::process::ExitStatus::from_raw(129 << 8));
            }
        }
    }
}

#[cfg(not(unix))]
async fn wait_ignoring_interrupts(
    child: &mut tokio::process::Child,
) -> Result<std::process::ExitStatus> {
    Ok(child.wait().await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_matches_the_aws_cli_layout() {
        let session = Session {
            session_id: "ecs-execute-command-0abc".into(),
            stream_url: "wss://ssmmessages.eu-west-1.amazonaws.com/v1/data-channel/x".into(),
            token_value: "token".into(),
        };
        let target = ecs_target("shop-dev-cluster", "0123abcd", "0123abcd-4567");
        let args = plugin_args(
            &session,
            Origin::EcsExecuteCommand,
            "eu-west-1",
            None,
            &json!({ "Target": target }),
            &ssm_endpoint("eu-west-1", None),
        );
        assert_eq!(
            args,
            vec![
                r#"{"sessionId":"ecs-execute-command-0abc","streamUrl":"wss://ssmmessages.eu-west-1.amazonaws.com/v1/data-channel/x","tokenValue":"token"}"#,
                "eu-west-1",
                "StartSession",
                "",
                r#"{"Target":"ecs:shop-dev-cluster_0123abcd_0123abcd-4567"}"#,
                "https://ssm.eu-west-1.amazonaws.com",
            ]
        );
        let ssm = plugin_args(
            &session,
            Origin::SsmStartSession,
            "cn-north-1",
            Some("ops"),
            &json!({}),
            &ssm_endpoint("cn-north-1", None),
        );
        assert!(ssm[0].starts_with(r#"{"SessionId":"#), "{}", ssm[0]);
        assert_eq!(ssm[3], "ops");
        assert_eq!(ssm[5], "https://ssm.cn-north-1.amazonaws.com.cn");
        assert_eq!(
            ssm_endpoint("us-east-1", Some("http://127.0.0.1:5000")),
            "http://127.0.0.1:5000"
        );
    }

    #[test]
    fn missing_plugin_says_how_to_install_it() {
        let empty = tempfile::tempdir().unwrap();
        let err = find_plugin_in(empty.path().as_os_str())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("session-manager-plugin` is not on PATH"),
            "{err}"
        );
        assert!(err.contains("Install the Session Manager plugin"), "{err}");
        assert!(
            err.contains("session-manager-working-with-install-plugin"),
            "{err}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn plugin_is_found_only_when_executable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let plugin = dir.path().join(PLUGIN);
        std::fs::write(&plugin, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(find_plugin_in(dir.path().as_os_str()).is_err());
        std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = std::env::join_paths([Path::new("/nonexistent"), dir.path()]).unwrap();
        assert_eq!(find_plugin_in(&path).unwrap(), plugin);
    }
}
