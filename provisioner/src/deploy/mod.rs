//! `provision deploy` and `provision rollback`: releases of an image tag with ECS native
//! blue/green (canary, linear) or rolling deployments, watched until they settle.
//!
//! Exit codes: 0 succeeded (for `rollback`: the previous revision serves), 3 ECS rolled
//! the deployment back, 4 failed (rollback failed or deployment stopped), 5 still in
//! progress at `--timeout`, 130 stopped watching on Ctrl-C (the deployment carries on),
//! 1 any other error (nothing deployed when the image check fails).

pub mod release;
pub mod strategy;
pub mod watch;

use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Subcommand;

use crate::aws::{self, Aws};
use crate::config::StackConfig;
use crate::model::ids;
use crate::plan::Observed;
use crate::resources;
use crate::session::Session;
pub use strategy::{BlueGreenTargets, DeployConfig, LiveService, Rollout, Strategy};
use watch::Outcome;

/// How often a deployment is polled.
const POLL_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Debug, Subcommand)]
pub enum ReleaseCommand {
    /// Release image TAG: check it is in ECR, register new task definition revisions and
    /// roll them out (blue/green, canary, linear or rolling per service), watching until
    /// they succeed, roll back or time out. Exit codes: 0 ok, 3 rolled back, 4 failed,
    /// 5 timed out, 130 interrupted.
    Deploy {
        /// Image tag to release (CI uses the commit SHA).
        #[arg(long)]
        tag: String,
        /// Services to deploy (repeatable; default: all of the stack's services).
        #[arg(long = "service", value_name = "NAME")]
        services: Vec<String>,
        /// Seconds to watch before giving up (exit code 5; the deployment continues).
        #[arg(long, value_name = "SECS", default_value_t = 1800)]
        timeout: u64,
    },
    /// Stop an in-flight deployment with rollback, or return services to their previous
    /// task definition revision; watches until done (exit codes as for deploy).
    Rollback {
        /// Service to roll back (default: all of the stack's services).
        #[arg(long, value_name = "NAME")]
        service: Option<String>,
        /// Seconds to watch before giving up (exit code 5).
        #[arg(long, value_name = "SECS", default_value_t = 1800)]
        timeout: u64,
    },
}

pub async fn run(session: &Session, command: &ReleaseCommand) -> Result<u8> {
    match command {
        ReleaseCommand::Deploy {
            tag,
            services,
            timeout,
        } => deploy(session, tag, services, Duration::from_secs(*timeout)).await,
        ReleaseCommand::Rollback { service, timeout } => {
            let services: Vec<String> = service.iter().cloned().collect();
            rollback(session, &services, Duration::from_secs(*timeout)).await
        }
    }
}

/// The named services (all when none are named); unknown names are errors.
pub(crate) fn select(config: &StackConfig, names: &[String]) -> Result<Vec<String>> {
    if names.is_empty() {
        return Ok(config.services.keys().cloned().collect());
    }
    for name in names {
        if !config.services.contains_key(name) {
            bail!(
                "{}-{} has no service `{name}`; its services: {}",
                config.stack,
                config.env,
                config
                    .services
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    Ok(names.to_vec())
}

fn attr(observed: &[Observed], id: &str, key: &str) -> Option<String> {
    observed
        .iter()
        .find(|o| o.id == id)
        .and_then(|o| o.attrs.get(key))
        .cloned()
}

/// The blue/green resources of a service, if the stack has them all (`provision up`
/// creates them): the target groups `tg-<svc>` and `tg-<svc>-alt`, the listener rule
/// `rule-<svc>` (and the test rule `rule-<svc>-test` with `[alb] test_listener_port`) and
/// the ECS role `role-ecs-blue-green`. The group production traffic uses now (the rule's
/// highest weight; it alternates with every deployment) is `target_group_arn`, the other
/// one is where the new revision starts.
pub fn blue_green_targets(observed: &[Observed], service: &str) -> Option<BlueGreenTargets> {
    let primary = attr(observed, &ids::target_group(service), "arn")?;
    let alternate = attr(observed, &ids::alternate_target_group(service), "arn")?;
    let rule = ids::listener_rule(service);
    let serving = observed
        .iter()
        .find(|o| o.id == rule)
        .and_then(|o| o.spec["target_group"].as_str());
    let (target_group_arn, alternate_target_group_arn) = if serving == Some(alternate.as_str()) {
        (alternate, primary)
    } else {
        (primary, alternate)
    };
    Some(BlueGreenTargets {
        target_group_arn,
        alternate_target_group_arn,
        production_listener_rule: attr(observed, &rule, "arn")?,
        test_listener_rule: attr(observed, &format!("rule-{service}-test"), "arn"),
        role_arn: attr(observed, "role-ecs-blue-green", "arn")?,
    })
}

/// The service's `[deploy]` settings plus the alarms `up` generated for it (target 5xx
/// rate, p95 latency, unhealthy hosts) that exist, so a bad release rolls back by itself.
pub fn with_generated_alarms(
    config: &StackConfig,
    service: &str,
    observed: &[Observed],
) -> DeployConfig {
    let mut deploy = config.services[service].deploy.clone();
    for id in crate::constructs::observability::deploy_alarm_ids(config, service) {
        if let Some(name) = attr(observed, &id, "name") {
            if !deploy.alarms.contains(&name) {
                deploy.alarms.push(name);
            }
        }
    }
    deploy
}

/// After a successful blue/green deployment production runs in the other target group:
/// the ALB request-count scaling policy (`scaling-<svc>-requests`) must count that
/// group's requests, or it would scale on the idle one's (zero) and scale the service in.
/// Reads the production rule's weights to find the serving group.
async fn follow_serving_group(
    session: &Session,
    aws: &Aws,
    observed: &[Observed],
    service: &str,
    targets: &BlueGreenTargets,
) -> Result<()> {
    let policy_id = ids::scaling_policy(service, "requests");
    let Some(policy) = observed.iter().find(|o| o.id == policy_id) else {
        return Ok(());
    };
    let rules = aws
        .elb
        .describe_rules()
        .rule_arns(&targets.production_listener_rule)
        .send()
        .await
        .map_err(|e| aws::call_error(&ids::listener_rule(service), "DescribeRules", e))?;
    let Some((serving, _)) = rules
        .rules()
        .first()
        .and_then(|r| resources::forward_groups(r.actions()).into_iter().next())
    else {
        return Ok(());
    };
    let serving_id = [
        ids::target_group(service),
        ids::alternate_target_group(service),
    ]
    .into_iter()
    .find(|id| attr(observed, id, "arn").as_deref() == Some(serving.as_str()));
    let labels = serving_id.and_then(|id| Some((attr(observed, &id, "label")?, id)));
    let (Some((tg_label, tg_id)), Some(lb_label)) = (labels, attr(observed, "alb", "label")) else {
        return Ok(());
    };
    let label = format!("{lb_label}/{tg_label}");
    if resources::repoint_requests_policy(aws, &policy_id, &policy.attrs, &label).await? {
        narrate(
            session,
            &format!(
                "[{service}] {policy_id} now counts the requests of {tg_id} (serving production)"
            ),
        );
    }
    Ok(())
}

/// `family:revision` of a task definition ARN, as people read it.
fn revision_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or_default()
}

/// Progress for people: on stdout, or on stderr when stdout carries `--output json`.
fn narrate(session: &Session, line: &str) {
    if session.json() {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
}

/// The machine-readable result of `deploy`/`rollback` (`--output json`): one entry per
/// service with what was started and how it ended.
fn report(
    session: &Session,
    command: &str,
    services: Vec<serde_json::Value>,
    exit_code: u8,
) -> Result<u8> {
    if session.json() {
        let report = serde_json::json!({
            "command": command,
            "stack": session.stack,
            "env": session.env,
            "exit_code": exit_code,
            "services": services,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(exit_code)
}

fn outcome_json(outcome: &Outcome) -> serde_json::Value {
    serde_json::json!({
        "outcome": outcome.label(),
        "detail": outcome.describe(),
        "exit_code": outcome.exit_code(),
    })
}

fn confirm(session: &Session, question: &str) -> Result<bool> {
    if session.yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        bail!("{question} — no terminal to ask on; pass --yes to confirm non-interactively");
    }
    eprint!("{question} [type yes]: ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim() == "yes")
}

/// Where a service stands before a release or rollback.
struct Target {
    name: String,
    service: String,
    task_definition: String,
    /// What the service runs now (what the last release or `up` set).
    live: LiveService,
}

async fn targets(
    aws: &Aws,
    observed: &[Observed],
    names: &[String],
) -> Result<(String, Vec<Target>)> {
    let cluster = attr(observed, "cluster", "name").with_context(|| {
        format!(
            "{}-{} has no ECS cluster: run `provision up` first",
            aws.stack, aws.env
        )
    })?;
    let mut found = Vec::new();
    for name in names {
        let service = attr(observed, &ids::service(name), "name").with_context(|| {
            format!("service {name} does not exist yet: run `provision up` first")
        })?;
        let out = aws
            .ecs
            .describe_services()
            .cluster(&cluster)
            .services(&service)
            .send()
            .await
            .map_err(|e| aws::call_error(&service, "DescribeServices", e))?;
        let live = out
            .services()
            .first()
            .with_context(|| format!("ECS did not report service {service}"))?;
        let task_definition = live
            .task_definition()
            .with_context(|| format!("ECS did not report service {service}'s task definition"))?
            .to_owned();
        let unfinished_deployments = live
            .deployments()
            .iter()
            .filter(|d| {
                d.rollout_state() == Some(&aws_sdk_ecs::types::DeploymentRolloutState::InProgress)
            })
            .count();
        found.push(Target {
            name: name.clone(),
            live: LiveService {
                strategy: strategy::live_strategy(
                    live.deployment_configuration().and_then(|d| d.strategy()),
                ),
                advanced_configuration: live
                    .load_balancers()
                    .iter()
                    .any(|lb| lb.advanced_configuration().is_some()),
                unfinished_deployments,
            },
            service,
            task_definition,
        });
    }
    Ok((cluster, found))
}

/// Watches one deployment, printing `[service] …` lines.
async fn watch_one(
    session: &Session,
    aws: &Aws,
    cluster: &str,
    target: &Target,
    deployment_arn: Option<String>,
    task_definition: &str,
    timeout: Duration,
) -> Result<Outcome> {
    // From here Ctrl-C means "stop watching": the watcher reports it (exit 130).
    session.handle_interrupts_in_command();
    let outcome = watch::watch(
        timeout,
        POLL_INTERVAL,
        || {
            release::observe(
                aws,
                cluster,
                &target.service,
                deployment_arn.as_deref(),
                task_definition,
            )
        },
        async {
            let _ = tokio::signal::ctrl_c().await;
        },
        |line| narrate(session, &format!("[{}] {line}", target.name)),
    )
    .await?;
    narrate(
        session,
        &format!("[{}] {}", target.name, outcome.describe()),
    );
    Ok(outcome)
}

async fn deploy(session: &Session, tag: &str, names: &[String], timeout: Duration) -> Result<u8> {
    let config = session.config()?;
    let names = select(&config, names)?;
    let aws = session.connect().await?;
    let observed = resources::observe(&aws).await?;
    let (cluster, targets) = targets(&aws, &observed, &names).await?;
    // Everything is checked before anything changes: a missing image deploys nothing.
    let mut prepared = Vec::new();
    for target in targets {
        let service_config = &config.services[&target.name];
        let (definition, tags) = release::current_definition(&aws, &target.task_definition).await?;
        let image = release::image_with_tag(&definition, &target.name, tag)?;
        let (_, repository) = release::split_image(&image);
        release::check_image(&aws, repository, tag).await?;
        let deploy_config = with_generated_alarms(&config, &target.name, &observed);
        let (rollout, warning) = Rollout::choose(
            &deploy_config,
            service_config.public.is_some(),
            blue_green_targets(&observed, &target.name),
            &target.name,
            service_config.port,
        );
        let (rollout, migration) = rollout.from_live(&target.live);
        let first = crate::first_release::release_plan(&observed, &target.name, service_config);
        if let Some(first) = &first {
            narrate(
                session,
                &format!(
                    "{}: first release: starts {} task(s), autoscaling {}-{}",
                    target.name, first.desired, first.min, first.max
                ),
            );
        }
        narrate(
            session,
            &format!(
                "{}: {} → {image} ({})",
                target.name,
                revision_name(&target.task_definition),
                rollout.strategy.label()
            ),
        );
        if let Some(warning) = warning {
            eprintln!("warning: {}: {warning}", target.name);
        }
        if let Some(note) = migration {
            eprintln!("note: {}: {note}", target.name);
        }
        prepared.push((target, definition, tags, image, rollout, first));
    }
    if !confirm(session, &format!("Deploy {tag} to {}?", names.join(", ")))? {
        eprintln!("Nothing deployed.");
        return Ok(1);
    }
    let mut started = Vec::new();
    for (target, definition, tags, image, rollout, first) in &prepared {
        // A second earlier than the call, for clock skew between here and AWS.
        let since =
            aws_smithy_types::DateTime::from(std::time::SystemTime::now() - Duration::from_secs(1));
        let registered =
            release::register_revision_request(&aws, definition, tags, &target.name, image)
                .send()
                .await
                .map_err(|e| aws::call_error(&target.name, "RegisterTaskDefinition", e))?;
        let revision = registered
            .task_definition()
            .and_then(|d| d.task_definition_arn())
            .context("RegisterTaskDefinition returned no ARN")?
            .to_owned();
        // A service `up` held back (no image then) starts at its configured counts now.
        if let Some(first) = first {
            crate::first_release::open_scaling(&aws, &target.service, first).await?;
        }
        release::update_service_request(&aws, &cluster, &target.service, &revision, rollout)
            .set_desired_count(first.as_ref().map(|f| f.desired))
            .send()
            .await
            .map_err(|e| aws::call_error(&target.service, "UpdateService", e))?;
        if let Some(first) = first {
            crate::first_release::mark_released(&aws, &target.service, first).await?;
        }
        narrate(
            session,
            &format!("[{}] started: {}", target.name, revision_name(&revision)),
        );
        let deployment =
            release::in_flight_deployment(&aws, &cluster, &target.service, Some(since)).await?;
        started.push((target, deployment, revision));
    }
    let outcomes =
        futures::future::try_join_all(started.iter().map(|(target, deployment, revision)| {
            watch_one(
                session,
                &aws,
                &cluster,
                target,
                deployment.clone(),
                revision,
                timeout,
            )
        }))
        .await?;
    for ((target, _, _, _, rollout, _), outcome) in prepared.iter().zip(&outcomes) {
        if let (Outcome::Succeeded, Some((targets, _, _))) = (outcome, &rollout.blue_green) {
            follow_serving_group(session, &aws, &observed, &target.name, targets)
                .await
                .with_context(|| {
                    format!(
                        "{}: deployed, but its request-count scaling policy still counts the \
                         other target group; re-run `provision up` to fix it",
                        target.name
                    )
                })?;
        }
    }
    let services = prepared
        .iter()
        .zip(&started)
        .zip(&outcomes)
        .map(
            |(((target, _, _, image, rollout, _), (_, deployment, revision)), outcome)| {
                let mut entry = outcome_json(outcome);
                entry["service"] = target.name.clone().into();
                entry["strategy"] = rollout.strategy.label().into();
                entry["image"] = image.clone().into();
                entry["task_definition"] = revision.clone().into();
                entry["deployment"] = deployment.clone().into();
                entry
            },
        )
        .collect();
    let exit_code = outcomes.iter().map(Outcome::exit_code).max().unwrap_or(0);
    report(session, "deploy", services, exit_code)
}

async fn rollback(session: &Session, names: &[String], timeout: Duration) -> Result<u8> {
    let config = session.config()?;
    let names = select(&config, names)?;
    let aws = session.connect().await?;
    let observed = resources::observe(&aws).await?;
    let (cluster, targets) = targets(&aws, &observed, &names).await?;
    let mut actions = Vec::new();
    for target in &targets {
        match release::in_flight_deployment(&aws, &cluster, &target.service, None).await? {
            Some(deployment) => {
                narrate(
                    session,
                    &format!(
                        "{}: stop deployment {deployment} and roll back",
                        target.name
                    ),
                );
                actions.push((target, Some(deployment), target.task_definition.clone()));
            }
            None => {
                let previous = release::previous_revision(&aws, &target.task_definition).await?;
                narrate(
                    session,
                    &format!(
                        "{}: {} → {}",
                        target.name,
                        revision_name(&target.task_definition),
                        revision_name(&previous)
                    ),
                );
                actions.push((target, None, previous));
            }
        }
    }
    if !confirm(session, &format!("Roll back {}?", names.join(", ")))? {
        eprintln!("Nothing rolled back.");
        return Ok(1);
    }
    let since =
        aws_smithy_types::DateTime::from(std::time::SystemTime::now() - Duration::from_secs(1));
    for (target, deployment, previous) in &actions {
        match deployment {
            Some(arn) => {
                release::stop_deployment_request(&aws, arn)
                    .send()
                    .await
                    .map_err(|e| aws::call_error(&target.service, "StopServiceDeployment", e))?;
            }
            None => {
                // The service keeps its deployment configuration; only the revision moves.
                aws.ecs
                    .update_service()
                    .cluster(&cluster)
                    .service(&target.service)
                    .task_definition(previous)
                    .send()
                    .await
                    .map_err(|e| aws::call_error(&target.service, "UpdateService", e))?;
            }
        }
    }
    let (aws, cluster) = (&aws, cluster.as_str());
    let outcomes = futures::future::try_join_all(actions.iter().map(
        |(target, deployment, previous)| async move {
            let watched = match deployment {
                Some(_) => deployment.clone(),
                None => {
                    release::in_flight_deployment(aws, cluster, &target.service, Some(since))
                        .await?
                }
            };
            let outcome =
                watch_one(session, aws, cluster, target, watched, previous, timeout).await?;
            // Stopping with rollback succeeds when ECS reports the rollback done.
            Ok::<_, anyhow::Error>(match (deployment, outcome) {
                (Some(_), Outcome::RolledBack { .. }) => Outcome::Succeeded,
                (_, outcome) => outcome,
            })
        },
    ))
    .await?;
    let services = actions
        .iter()
        .zip(&outcomes)
        .map(|((target, deployment, previous), outcome)| {
            let mut entry = outcome_json(outcome);
            entry["service"] = target.name.clone().into();
            entry["action"] = if deployment.is_some() {
                "stop_deployment"
            } else {
                "previous_revision"
            }
            .into();
            entry["task_definition"] = previous.clone().into();
            entry
        })
        .collect();
    let exit_code = outcomes.iter().map(Outcome::exit_code).max().unwrap_or(0);
    report(session, "rollback", services, exit_code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Kind;

    fn resource(id: &str, kind: Kind, arn: &str, spec: serde_json::Value) -> Observed {
        Observed {
            id: id.into(),
            kind,
            spec,
            attrs: [("arn".to_string(), arn.to_string())].into_iter().collect(),
        }
    }

    fn stack(serving: &str) -> Vec<Observed> {
        vec![
            resource(
                "tg-vote",
                Kind::TargetGroup,
                "arn:tg",
                serde_json::json!({}),
            ),
            resource(
                "tg-vote-alt",
                Kind::TargetGroup,
                "arn:alt",
                serde_json::json!({}),
            ),
            resource(
                "rule-vote",
                Kind::ListenerRule,
                "arn:rule",
                serde_json::json!({"target_group": serving}),
            ),
            resource(
                "role-ecs-blue-green",
                Kind::Role,
                "arn:role",
                serde_json::json!({}),
            ),
        ]
    }

    #[test]
    fn the_group_serving_production_is_the_primary_of_the_next_deployment() {
        let first = blue_green_targets(&stack("arn:tg"), "vote").unwrap();
        assert_eq!(
            (
                first.target_group_arn.as_str(),
                first.alternate_target_group_arn.as_str()
            ),
            ("arn:tg", "arn:alt")
        );
        assert_eq!(first.production_listener_rule, "arn:rule");
        assert_eq!(first.test_listener_rule, None);
        // After a deployment the rule weights the alternate group: the next one goes back.
        let second = blue_green_targets(&stack("arn:alt"), "vote").unwrap();
        assert_eq!(
            (
                second.target_group_arn.as_str(),
                second.alternate_target_group_arn.as_str()
            ),
            ("arn:alt", "arn:tg")
        );
        let mut without_role = stack("arn:tg");
        without_role.pop();
        assert_eq!(blue_green_targets(&without_role, "vote"), None);
    }
}
