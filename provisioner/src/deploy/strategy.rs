//! Per-service rollout settings (`[services.<name>.deploy]`) and the ECS
//! deploymentConfiguration / load balancer blocks they become.

use aws_sdk_ecs::types::{
    AdvancedConfiguration, CanaryConfiguration, DeploymentAlarms, DeploymentCircuitBreaker,
    DeploymentConfiguration, DeploymentStrategy, LinearConfiguration, LoadBalancer,
};
use serde::{Deserialize, Serialize};

/// How a release replaces the running tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    /// What a live service runs, from its `deploymentConfiguration.strategy` (ECS reports
    /// none for services created before strategies existed: those roll).
    pub fn live(reported: Option<&DeploymentStrategy>) -> Strategy {
        match reported {
            Some(DeploymentStrategy::BlueGreen) => Strategy::BlueGreen,
            Some(DeploymentStrategy::Canary) => Strategy::Canary,
            Some(DeploymentStrategy::Linear) => Strategy::Linear,
            _ => Strategy::Rolling,
        }
    }

    /// Blue/green and its traffic-shifting variants: two target groups, ECS moves traffic.
    pub fn shifts_traffic(self) -> bool {
        !matches!(self, Strategy::Rolling)
    }

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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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

const DEFAULT_BAKE_MINUTES: i32 = 5;
const DEFAULT_CANARY_PERCENT: f64 = 10.0;
const DEFAULT_CANARY_BAKE_MINUTES: i32 = 5;
const DEFAULT_LINEAR_STEP_PERCENT: f64 = 10.0;
const DEFAULT_LINEAR_STEP_BAKE_MINUTES: i32 = 1;

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

/// What ECS blue/green needs from the load balancer side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlueGreenTargets {
    /// The target group production traffic uses now.
    pub target_group_arn: String,
    /// The target group the new revision starts in.
    pub alternate_target_group_arn: String,
    /// The listener rule whose forward action ECS shifts between the two.
    pub production_listener_rule: String,
    /// An optional rule that reaches the new revision before production traffic does.
    pub test_listener_rule: Option<String>,
    /// The role ECS assumes to modify the listener rules.
    pub role_arn: String,
}

/// What ECS reports for a service before a release, as far as choosing its rollout goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveService {
    /// `deploymentConfiguration.strategy` (absent: rolling).
    pub strategy: Strategy,
    /// Its load balancer block already has an advancedConfiguration (alternate target
    /// group, production rule, role): the first step of the move to blue/green is done.
    pub advanced_configuration: bool,
    /// Deployments ECS reports IN_PROGRESS.
    pub unfinished_deployments: usize,
}

/// One service's rollout: the strategy actually used and what it needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    pub strategy: Strategy,
    pub config: DeployConfig,
    /// Present for blue/green, canary and linear.
    pub blue_green: Option<(BlueGreenTargets, String, i32)>,
}

impl Rollout {
    /// Blue/green style when the service has a load balancer and its blue/green
    /// resources exist; otherwise rolling (with the reason, for a warning).
    pub fn choose(
        config: &DeployConfig,
        load_balanced: bool,
        targets: Option<BlueGreenTargets>,
        container: &str,
        port: u16,
    ) -> (Rollout, Option<String>) {
        let wanted = config.strategy(load_balanced);
        match (wanted, targets) {
            (Strategy::Rolling, _) => (
                Rollout {
                    strategy: Strategy::Rolling,
                    config: config.clone(),
                    blue_green: None,
                },
                None,
            ),
            (strategy, Some(targets)) => (
                Rollout {
                    strategy,
                    config: config.clone(),
                    blue_green: Some((targets, container.to_owned(), i32::from(port))),
                },
                None,
            ),
            (strategy, None) => (
                Rollout {
                    strategy: Strategy::Rolling,
                    config: config.clone(),
                    blue_green: None,
                },
                Some(format!(
                    "{} needs the alternate target group, the production listener rule and the \
                     ECS load-balancer role (role-ecs-blue-green), which this stack does not \
                     have yet: run `provision up` to create them; rolling deploy instead",
                    strategy.label()
                )),
            ),
        }
    }

    /// The rollout for a service in the `live` state. ECS moves a rolling service to
    /// blue/green (canary, linear) only after a completed rolling deployment that already
    /// carries the load balancer's advancedConfiguration, with no deployment in flight
    /// ("Update the deployment strategy from rolling update to Amazon ECS blue/green", ECS
    /// developer guide: prerequisites). So while the service rolls, a release that wants
    /// blue/green is that rolling deployment (advancedConfiguration included) until one of
    /// them has finished; the note says why. Every other case is unchanged.
    pub fn from_live(self, live: &LiveService) -> (Rollout, Option<String>) {
        if !self.strategy.shifts_traffic()
            || live.strategy.shifts_traffic()
            || self.blue_green.is_none()
        {
            return (self, None);
        }
        let ready = live.advanced_configuration && live.unfinished_deployments == 0;
        if ready {
            return (self, None);
        }
        let why = if live.advanced_configuration {
            "its previous rolling deployment has not finished"
        } else {
            "ECS first needs one completed rolling deployment with the blue/green load \
             balancer settings"
        };
        let note = format!(
            "the service still rolls and {why}: this release rolls (with those settings); the \
             first `deploy` after it has finished is {}",
            self.strategy.label()
        );
        (
            Rollout {
                strategy: Strategy::Rolling,
                ..self
            },
            Some(note),
        )
    }

    /// The deploymentConfiguration sent with UpdateService.
    pub fn deployment_configuration(&self) -> DeploymentConfiguration {
        let config = &self.config;
        let mut builder = DeploymentConfiguration::builder()
            .maximum_percent(200)
            .minimum_healthy_percent(100)
            // The circuit breaker catches tasks that never get healthy (all strategies).
            .deployment_circuit_breaker(
                DeploymentCircuitBreaker::builder()
                    .enable(true)
                    .rollback(true)
                    .build(),
            );
        if !config.alarms.is_empty() {
            builder = builder.alarms(
                DeploymentAlarms::builder()
                    .set_alarm_names(Some(config.alarms.clone()))
                    .enable(true)
                    .rollback(true)
                    .build()
                    .expect("alarm names, enable and rollback are all set"),
            );
        }
        let bake = config.bake_minutes.unwrap_or(DEFAULT_BAKE_MINUTES);
        match self.strategy {
            Strategy::Rolling => builder.strategy(DeploymentStrategy::Rolling),
            Strategy::BlueGreen => builder
                .strategy(DeploymentStrategy::BlueGreen)
                .bake_time_in_minutes(bake),
            Strategy::Canary => builder
                .strategy(DeploymentStrategy::Canary)
                .bake_time_in_minutes(bake)
                .canary_configuration(
                    CanaryConfiguration::builder()
                        .canary_percent(config.canary_percent.unwrap_or(DEFAULT_CANARY_PERCENT))
                        .canary_bake_time_in_minutes(
                            config
                                .canary_bake_minutes
                                .unwrap_or(DEFAULT_CANARY_BAKE_MINUTES),
                        )
                        .build(),
                ),
            Strategy::Linear => builder
                .strategy(DeploymentStrategy::Linear)
                .bake_time_in_minutes(bake)
                .linear_configuration(
                    LinearConfiguration::builder()
                        .step_percent(
                            config
                                .linear_step_percent
                                .unwrap_or(DEFAULT_LINEAR_STEP_PERCENT),
                        )
                        .step_bake_time_in_minutes(
                            config
                                .linear_step_bake_minutes
                                .unwrap_or(DEFAULT_LINEAR_STEP_BAKE_MINUTES),
                        )
                        .build(),
                ),
        }
        .build()
    }

    /// The load balancer block with advancedConfiguration (blue/green styles only).
    pub fn load_balancer(&self) -> Option<LoadBalancer> {
        let (targets, container, port) = self.blue_green.as_ref()?;
        Some(
            LoadBalancer::builder()
                .target_group_arn(&targets.target_group_arn)
                .container_name(container)
                .container_port(*port)
                .advanced_configuration(
                    AdvancedConfiguration::builder()
                        .alternate_target_group_arn(&targets.alternate_target_group_arn)
                        .production_listener_rule(&targets.production_listener_rule)
                        .set_test_listener_rule(targets.test_listener_rule.clone())
                        .role_arn(&targets.role_arn)
                        .build(),
                )
                .build(),
        )
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

    fn targets() -> BlueGreenTargets {
        BlueGreenTargets {
            target_group_arn: "tg".into(),
            alternate_target_group_arn: "tg-alt".into(),
            production_listener_rule: "rule".into(),
            test_listener_rule: None,
            role_arn: "role".into(),
        }
    }

    #[test]
    fn blue_green_without_its_resources_falls_back_to_rolling_with_a_reason() {
        let config = DeployConfig::default();
        let (rollout, warning) = Rollout::choose(&config, true, None, "vote", 8080);
        assert_eq!(rollout.strategy, Strategy::Rolling);
        assert!(rollout.load_balancer().is_none());
        let warning = warning.unwrap();
        assert!(warning.contains("rolling deploy instead"), "{warning}");
        assert!(warning.contains("run `provision up`"), "{warning}");
        let (rollout, warning) = Rollout::choose(&config, true, Some(targets()), "vote", 8080);
        assert_eq!(rollout.strategy, Strategy::BlueGreen);
        assert!(warning.is_none());
        let lb = rollout.load_balancer().unwrap();
        assert_eq!(lb.container_port(), Some(8080));
        assert_eq!(
            lb.advanced_configuration()
                .unwrap()
                .alternate_target_group_arn(),
            Some("tg-alt")
        );
    }

    #[test]
    fn canary_and_linear_carry_their_percentages_and_intervals() {
        let config =
            parse("strategy = \"linear\"\nlinear_step_percent = 25.0\nbake_minutes = 0").unwrap();
        let (rollout, _) = Rollout::choose(&config, true, Some(targets()), "vote", 8080);
        let deployment = rollout.deployment_configuration();
        assert_eq!(deployment.strategy(), Some(&DeploymentStrategy::Linear));
        assert_eq!(deployment.bake_time_in_minutes(), Some(0));
        let linear = deployment.linear_configuration().unwrap();
        assert_eq!(linear.step_percent(), Some(25.0));
        assert_eq!(linear.step_bake_time_in_minutes(), Some(1));
        assert!(deployment.canary_configuration().is_none());
        assert!(deployment.alarms().is_none());
    }
}
