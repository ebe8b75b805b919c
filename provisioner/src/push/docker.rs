//! The Docker CLI as `provision push` drives it: whether docker and buildx are there,
//! `docker login --password-stdin`, and `docker buildx build --push`. Docker's own output
//! goes to stderr, so `--output json` keeps stdout for the report.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

/// The platform every image is built for: Fargate runs task definitions without a
/// `runtimePlatform` on LINUX/X86_64 (ECS developer guide, "Amazon ECS task definition
/// parameters for Fargate", operatingSystemFamily/cpuArchitecture defaults), so an image
/// built on an arm64 laptop for its own platform would not start there.
pub const PLATFORM: &str = "linux/amd64";

/// One image to build and push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildRequest {
    /// The build context directory.
    pub context: PathBuf,
    /// The Dockerfile (a path of its own, not relative to the context).
    pub dockerfile: PathBuf,
    /// The stage to build; `None`: the last one.
    pub target: Option<String>,
    /// `--build-arg NAME=VALUE`, in order.
    pub args: Vec<(String, String)>,
    /// `registry/repository:tag`.
    pub image: String,
}

impl BuildRequest {
    /// The arguments of `docker` that build and push this image.
    ///
    /// ```
    /// use provisioner::push::docker::BuildRequest;
    ///
    /// let request = BuildRequest {
    ///     context: ".".into(),
    ///     dockerfile: "./Dockerfile".into(),
    ///     target: Some("vote".into()),
    ///     args: vec![("VERSION".into(), "abc".into())],
    ///     image: "1.dkr.ecr.us-east-1.amazonaws.com/voting-dev-repo-vote:abc".into(),
    /// };
    /// assert_eq!(request.arguments()[..3], ["buildx", "build", "--platform"]);
    /// assert_eq!(request.arguments().last().unwrap(), ".");
    /// ```
    pub fn arguments(&self) -> Vec<String> {
        let mut args: Vec<String> = ["buildx", "build", "--platform", PLATFORM, "--file"]
            .map(String::from)
            .to_vec();
        args.push(self.dockerfile.display().to_string());
        if let Some(target) = &self.target {
            args.extend(["--target".into(), target.clone()]);
        }
        for (name, value) in &self.args {
            args.extend(["--build-arg".into(), format!("{name}={value}")]);
        }
        args.extend([
            "--tag".into(),
            self.image.clone(),
            "--push".into(),
            self.context.display().to_string(),
        ]);
        args
    }
}

fn docker() -> Command {
    let mut command = Command::new("docker");
    // Docker's progress is for people: stderr, never our stdout.
    command.stdout(std::io::stderr()).stderr(Stdio::inherit());
    command
}

/// Fails with what to install when `docker` or its buildx plugin is missing.
pub fn check_available() -> Result<()> {
    let version = Command::new("docker")
        .args(["buildx", "version"])
        .stdin(Stdio::null())
        .output();
    match version {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => bail!(
            "`docker` is not on PATH: `provision push` builds images with Docker; install Docker \
             Engine 25 or newer (or Docker Desktop) with the buildx plugin, then run it again"
        ),
        Err(err) => Err(err).context("cannot run `docker buildx version`"),
        Ok(out) if !out.status.success() => bail!(
            "`docker buildx version` failed ({}): `provision push` needs the buildx plugin \
             (Debian/Ubuntu: apt-get install docker-buildx-plugin; see \
             https://docs.docker.com/build/install-buildx/) and a running Docker engine",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Ok(_) => Ok(()),
    }
}

/// `docker login --username AWS --password-stdin REGISTRY`: the password never appears on
/// a command line (other users could read it in the process list).
pub fn login(registry: &str, username: &str, password: &str) -> Result<()> {
    let mut child = docker()
        .args([
            "login",
            "--username",
            username,
            "--password-stdin",
            registry,
        ])
        .stdin(Stdio::piped())
        .spawn()
        .context("cannot run `docker login`")?;
    child
        .stdin
        .take()
        .context("docker login has no stdin")?
        .write_all(password.as_bytes())
        .context("cannot pass the registry password to `docker login`")?;
    let status = child.wait().context("`docker login` did not finish")?;
    if !status.success() {
        bail!(
            "`docker login {registry}` failed ({status}): check that the Docker engine runs and \
             that these AWS credentials may call ecr:GetAuthorizationToken"
        );
    }
    Ok(())
}

/// Builds and pushes one image; fails naming it when docker does.
pub fn build_and_push(request: &BuildRequest) -> Result<()> {
    let status = docker()
        .args(request.arguments())
        .stdin(Stdio::null())
        .status()
        .context("cannot run `docker buildx build`")?;
    if !status.success() {
        bail!(
            "`docker buildx build` of {} failed ({status}); its output is above",
            request.image
        );
    }
    Ok(())
}

/// The git commit of `dir` (`git rev-parse HEAD`), or `unknown` outside a repository.
pub fn revision(dir: &Path) -> String {
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "HEAD"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|rev| !rev.is_empty())
        .unwrap_or_else(|| "unknown".into())
}
