//! `[services.<name>.deploy]`: per-service rollout settings as the TOML front-end reads
//! them. The provisioner's `deploy` module turns them into ECS deployment configurations.

use serde::{Deserialize, Serialize};

/// How a release replaces the running tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// ECS native blue/green: all traffic moves at once after the new tasks are healthy.
    BlueGreen,
    /// Blue/green that first moves `canary_percent` of the traffic.
    Canary,
    /// Blue/green that moves `linear_step_percent` of the traffic per step.
    Linear,
    /// Replace tasks in place (circuit breaker with rollback).
    Rolling,
}

impl Strategy {
    /// Blue/green and its traffic-shifting variants: two target groups, ECS moves traffic.
    pub fn shifts_traffic(self) -> bool {
        !matches!(self, Strategy::Rolling)
    }

    /// The strategy's name in plans and progress: `blue/green`, `canary`, `linear`,
    /// `rolling`.
    pub fn label(self) -> &'static str {
        match self {
            Strategy::BlueGreen => "blue/green",
            Strategy::Canary => "canary",
            Strategy::Linear => "linear",
            Strategy::Rolling => "rolling",
        }
    }
}

/// `[services.<name>.deploy]`: every key optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployConfig {
    /// Default: `blue_green` for services behind the ALB, `rolling` otherwise.
    pub strategy: Option<Strategy>,
    /// Minutes the new revision serves all traffic before the old one is removed
    /// (blue/green, canary, linear; default 5).
    pub bake_minutes: Option<i32>,
    /// Canary: share of traffic moved first (0.1-100; default 10).
    pub canary_percent: Option<f64>,
    /// Canary: minutes before the rest moves (default 5).
    pub canary_bake_minutes: Option<i32>,
    /// Linear: share of traffic moved per step (3-100; default 10).
    pub linear_step_percent: Option<f64>,
    /// Linear: minutes between steps (default 1).
    pub linear_step_bake_minutes: Option<i32>,
    /// CloudWatch alarms that roll the deployment back when they fire.
    #[serde(default)]
    pub alarms: Vec<String>,
}

/// Minutes a blue/green style release bakes when `bake_minutes` is not set.
pub const DEFAULT_BAKE_MINUTES: i32 = 5;
/// Canary share of traffic when `canary_percent` is not set.
pub const DEFAULT_CANARY_PERCENT: f64 = 10.0;
/// Canary minutes when `canary_bake_minutes` is not set.
pub const DEFAULT_CANARY_BAKE_MINUTES: i32 = 5;
/// Linear step when `linear_step_percent` is not set.
pub const DEFAULT_LINEAR_STEP_PERCENT: f64 = 10.0;
/// Linear minutes per step when `linear_step_bake_minutes` is not set.
pub const DEFAULT_LINEAR_STEP_BAKE_MINUTES: i32 = 1;

impl DeployConfig {
    /// An environment's `[env.<env>.services.<name>.deploy]` on top of the base section:
    /// every key it sets wins (a non-empty `alarms` list replaces the base list). Naming
    /// another strategy drops the base's canary/linear keys, which belong to the old one.
    pub fn overlay(&mut self, other: &DeployConfig) {
        if other.strategy.is_some() && other.strategy != self.strategy {
            self.canary_percent = None;
            self.canary_bake_minutes = None;
            self.linear_step_percent = None;
            self.linear_step_bake_minutes = None;
        }
        fn set<T: Clone>(base: &mut Option<T>, value: &Option<T>) {
            if value.is_some() {
                base.clone_from(value);
            }
        }
        set(&mut self.strategy, &other.strategy);
        set(&mut self.bake_minutes, &other.bake_minutes);
        set(&mut self.canary_percent, &other.canary_percent);
        set(&mut self.canary_bake_minutes, &other.canary_bake_minutes);
        set(&mut self.linear_step_percent, &other.linear_step_percent);
        set(
            &mut self.linear_step_bake_minutes,
            &other.linear_step_bake_minutes,
        );
        if !other.alarms.is_empty() {
            self.alarms.clone_from(&other.alarms);
        }
    }

    /// The strategy a service gets: the configured one, else blue/green behind the ALB.
    pub fn strategy(&self, load_balanced: bool) -> Strategy {
        self.strategy.unwrap_or(if load_balanced {
            Strategy::BlueGreen
        } else {
            Strategy::Rolling
        })
    }

    /// Checks the keys against the strategy and the limits ECS accepts.
    pub fn validate(&self, service: &str, load_balanced: bool) -> Result<(), String> {
        let key = |k: &str| format!("services.{service}.deploy.{k}");
        let strategy = self.strategy(load_balanced);
        if strategy != Strategy::Rolling && !load_balanced {
            return Err(format!(
                "{} = \"{}\" needs a load balancer (a `public` service); use \"rolling\"",
                key("strategy"),
                strategy.label().replace('/', "_")
            ));
        }
        let minutes = |name: &str, value: Option<i32>| match value {
            Some(v) if !(0..=1440).contains(&v) => {
                Err(format!("{} must be 0-1440 minutes (got {v})", key(name)))
            }
            _ => Ok(()),
        };
        minutes("bake_minutes", self.bake_minutes)?;
        minutes("canary_bake_minutes", self.canary_bake_minutes)?;
        minutes("linear_step_bake_minutes", self.linear_step_bake_minutes)?;
        if strategy == Strategy::Rolling && self.bake_minutes.is_some() {
            return Err(format!(
                "{} applies to blue_green, canary and linear only",
                key("bake_minutes")
            ));
        }
        let canary_keys = self.canary_percent.is_some() || self.canary_bake_minutes.is_some();
        if canary_keys && strategy != Strategy::Canary {
            return Err(format!(
                "{} and canary_bake_minutes need strategy = \"canary\"",
                key("canary_percent")
            ));
        }
        let linear_keys =
            self.linear_step_percent.is_some() || self.linear_step_bake_minutes.is_some();
        if linear_keys && strategy != Strategy::Linear {
            return Err(format!(
                "{} and linear_step_bake_minutes need strategy = \"linear\"",
                key("linear_step_percent")
            ));
        }
        if let Some(p) = self.canary_percent {
            if !(0.1..=100.0).contains(&p) {
                return Err(format!(
                    "{} must be 0.1-100 (got {p})",
                    key("canary_percent")
                ));
            }
        }
        if let Some(p) = self.linear_step_percent {
            if !(3.0..=100.0).contains(&p) {
                return Err(format!(
                    "{} must be 3-100 (got {p})",
                    key("linear_step_percent")
                ));
            }
        }
        if self.alarms.iter().any(|a| a.trim().is_empty()) {
            return Err(format!("{} holds an empty alarm name", key("alarms")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<DeployConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn defaults_follow_the_load_balancer() {
        let config = DeployConfig::default();
        assert_eq!(config.strategy(true), Strategy::BlueGreen);
        assert_eq!(config.strategy(false), Strategy::Rolling);
        assert!(config.validate("vote", true).is_ok());
        assert!(config.validate("worker", false).is_ok());
    }

    #[test]
    fn unknown_keys_and_invalid_values_are_rejected() {
        let err = parse("strategy = \"canary\"\ncanary_pct = 5").unwrap_err();
        assert!(
            err.to_string().contains("unknown field `canary_pct`"),
            "{err}"
        );
        assert!(parse("strategy = \"sideways\"").is_err());
        let cases = [
            ("strategy = \"blue_green\"", false, "needs a load balancer"),
            (
                "strategy = \"canary\"\ncanary_percent = 0.0",
                true,
                "0.1-100",
            ),
            (
                "strategy = \"linear\"\nlinear_step_percent = 1.0",
                true,
                "3-100",
            ),
            ("canary_percent = 20.0", true, "need strategy = \"canary\""),
            (
                "strategy = \"canary\"\nlinear_step_percent = 20.0",
                true,
                "need strategy = \"linear\"",
            ),
            ("bake_minutes = 2000", true, "0-1440"),
            (
                "bake_minutes = 5",
                false,
                "blue_green, canary and linear only",
            ),
            ("alarms = [\"\"]", true, "empty alarm name"),
        ];
        for (text, load_balanced, expected) in cases {
            let message = parse(text)
                .unwrap()
                .validate("vote", load_balanced)
                .unwrap_err();
            assert!(message.contains(expected), "{text}: {message}");
            assert!(message.starts_with("services.vote.deploy."), "{message}");
        }
    }
}
