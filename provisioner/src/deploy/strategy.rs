//! Per-service rollout settings (`[services.<name>.deploy]`) and the ECS
//! deploymentConfiguration / load balancer blocks they become.

use aws_sdk_ecs::types::{
    AdvancedConfiguration, CanaryConfiguration, DeploymentAlarms, DeploymentCircuitBreaker,
    DeploymentConfiguration, DeploymentStrategy, LinearConfiguration, LoadBalancer,
};

use slipway_cdk::config::deploy::{
    DEFAULT_BAKE_MINUTES, DEFAULT_CANARY_BAKE_MINUTES, DEFAULT_CANARY_PERCENT,
    DEFAULT_LINEAR_STEP_BAKE_MINUTES, DEFAULT_LINEAR_STEP_PERCENT,
};
pub use slipway_cdk::config::{DeployConfig, Strategy};

/// What a live service runs, from its `deploymentConfiguration.strategy` (ECS reports
/// none for services created before strategies existed: those roll).
pub fn live_strategy(reported: Option<&DeploymentStrategy>) -> Strategy {
    match reported {
        Some(DeploymentStrategy::BlueGreen) => Strategy::BlueGreen,
        Some(DeploymentStrategy::Canary) => Strategy::Canary,
        Some(DeploymentStrategy::Linear) => Strategy::Linear,
        _ => Strategy::Rolling,
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
