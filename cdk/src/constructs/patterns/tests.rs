use super::*;
use crate::config::{repo_config_dir, STACKS};
use crate::model::{Resource, Spec};
use crate::scope::StackError;

fn shipped(stack: &str, env: &str) -> StackConfig {
    StackConfig::load(&repo_config_dir(), stack, env).unwrap()
}

fn find<'a>(resources: &'a [Resource], id: &str) -> &'a Resource {
    resources
        .iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("no {id}"))
}

#[test]
fn the_front_end_describes_exactly_the_config_it_was_given() {
    // What the constructs record is what the commands read for code-defined stacks: for
    // a stack file it must be that file's config, field for field.
    for stack in STACKS {
        for env in ["dev", "prod"] {
            let config = shipped(stack, env);
            assert_eq!(from_config(&config).description(), &config, "{stack}/{env}");
        }
    }
}

#[test]
fn the_front_end_refuses_a_data_store_with_egress() {
    let mut stack = from_config(&shipped("voting", "dev"));
    stack.override_field("sg-postgres", "/egress_all", serde_json::json!(true));
    let errors = stack.synth().unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    match &errors[0] {
        StackError::Aspect {
            aspect,
            id,
            message,
        } => {
            assert_eq!(
                (aspect.as_str(), id.as_str()),
                ("no-data-store-egress", "sg-postgres")
            );
            assert!(message.contains("remove the egress rule"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn overrides_reach_constructed_and_derived_resources() {
    let mut stack = from_config(&shipped("voting", "dev"));
    stack.override_field("taskdef-vote", "/cpu", serde_json::json!(512));
    // A derived role exists only once synthesized: its override is applied after.
    stack.override_field(
        "role-execution-vote",
        "/principal",
        serde_json::json!("ecs-tasks.amazonaws.com"),
    );
    stack.override_field(
        "role-execution-worker",
        "/statements",
        serde_json::json!([]),
    );
    let resources = stack.synth().unwrap();
    assert_eq!(find(&resources, "taskdef-vote").spec_json()["cpu"], 512);
    assert_eq!(
        find(&resources, "role-execution-worker").spec_json()["statements"],
        serde_json::json!([])
    );
    let untouched = crate::constructs::expand(&shipped("voting", "dev"));
    assert_eq!(
        find(&resources, "role-execution-vote"),
        find(&untouched, "role-execution-vote")
    );
}

#[test]
fn bad_overrides_name_the_resource_and_the_problem() {
    let mut stack = from_config(&shipped("sums", "dev"));
    stack.override_field("no-such-thing", "/cpu", serde_json::json!(1));
    stack.override_field("taskdef-api", "/no_such_field", serde_json::json!(1));
    stack.override_field("taskdef-api", "/cpu", serde_json::json!("lots"));
    let errors = stack.synth().unwrap_err();
    assert_eq!(errors.len(), 3, "{errors:?}");
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    for expected in [
        "override of `no-such-thing`: no resource has this logical id",
        "override of `taskdef-api` at `/no_such_field`: no such field",
        "override of `taskdef-api` at `/cpu`: the spec is no longer valid",
    ] {
        assert!(
            text.iter().any(|t| t.starts_with(expected)),
            "{expected}: {text:?}"
        );
    }
}

#[test]
fn references_to_undeclared_resources_are_refused() {
    let mut stack = Stack::new("demo", "dev");
    let vpc = Network::new(&mut stack, "10.50.0.0/16", 1);
    let platform = Platform::new(&mut stack, &vpc).build();
    // The service asks for a Service Connect namespace nobody declared.
    FargateService::new(&mut stack, &platform.cluster, "api")
        .mesh(&l2::NamespaceHandle, true)
        .build();
    let errors = stack.synth().unwrap_err();
    assert_eq!(
        errors,
        vec![StackError::UnknownRef {
            from: "service-api".into(),
            to: "namespace".into()
        }]
    );
}

/// Two workers share one Redis with different scaling, one of them also Postgres: each
/// gets exactly the access it was granted (network, secrets, IAM), nothing more.
#[test]
fn grants_give_each_workload_its_own_access_and_nothing_more() {
    let mut stack = Stack::new("jobs", "dev");
    let vpc = Network::new(&mut stack, "10.60.0.0/16", 1);
    let data = DataTier::new(
        &mut stack,
        &vpc,
        Some(&crate::config::RedisConfig {
            node_type: "cache.t4g.micro".into(),
            engine_version: "7.1".into(),
            replicas: 1,
        }),
        Some(&crate::config::PostgresConfig {
            instance_class: "db.t4g.micro".into(),
            engine_version: "15".into(),
            database: "jobs".into(),
            username: "postgres".into(),
            allocated_storage_gb: 20,
            backup_retention_days: 7,
            multi_az: false,
            deletion_protection: false,
        }),
    );
    let platform = Platform::new(&mut stack, &vpc).build();
    let redis = data.redis.as_ref().unwrap();
    let postgres = data.postgres.as_ref().unwrap();
    let fast = Worker::new(&mut stack, &platform, "fast")
        .scaling(2, 2, 10)
        .uses(redis)
        .build();
    let slow = Worker::new(&mut stack, &platform, "slow")
        .scaling(1, 1, 2)
        .uses(redis)
        .uses(postgres)
        .build();
    data.debug_task(&mut stack, &vpc, 14);
    OneOffTask::new(&mut stack, "setup", &slow)
        .command(&["/usr/local/bin/slow", "db-roles"])
        .database_admin(postgres)
        .build();
    assert_eq!((fast.port(), slow.name()), (8080, "slow"));
    let resources = stack.synth().unwrap();
    let ingress = |id: &str| find(&resources, id).spec_json()["ingress"].clone();
    assert_eq!(
        ingress("sg-redis"),
        serde_json::json!([
            {"port": 6379, "source": "${sg-debug}"},
            {"port": 6379, "source": "${sg-fast}"},
            {"port": 6379, "source": "${sg-slow}"},
        ])
    );
    assert_eq!(
        ingress("sg-postgres"),
        serde_json::json!([
            {"port": 5432, "source": "${sg-debug}"},
            {"port": 5432, "source": "${sg-slow}"},
        ])
    );
    let scaling = |id: &str| {
        let spec = find(&resources, id).spec_json();
        (spec["min"].clone(), spec["max"].clone())
    };
    assert_eq!(scaling("scaling-fast"), (2.into(), 10.into()));
    assert_eq!(scaling("scaling-slow"), (1.into(), 2.into()));
    let container = |id: &str| find(&resources, id).spec_json()["container"].clone();
    assert_eq!(
        container("taskdef-fast")["environment"]["REDIS_REPLICAS"],
        "1"
    );
    assert!(container("taskdef-fast")["environment"]["DATABASE_HOST"].is_null());
    assert_eq!(
        container("taskdef-slow")["environment"]["DATABASE_PASSWORD_SECRET"],
        "${db-slow-password}"
    );
    // Only slow's task role reads its password; only the setup task's role reads all.
    let Spec::Role(fast_role) = &find(&resources, "role-fast").spec else {
        panic!()
    };
    assert!(fast_role
        .statements
        .iter()
        .all(|s| !s.resources.iter().any(|r| r.contains("password"))));
    let admin = find(&resources, "role-db-admin").spec_json();
    assert_eq!(
        admin["statements"][0]["resources"],
        serde_json::json!(["${db-slow-password}"])
    );
    let roles = container("task-setup")["environment"]["DATABASE_ROLES"].clone();
    assert!(
        roles.as_str().unwrap().contains("\"role\":\"slow\""),
        "{roles}"
    );
    assert!(!roles.as_str().unwrap().contains("fast"), "{roles}");
}

#[test]
fn a_web_service_needs_a_load_balancer() {
    let result = std::panic::catch_unwind(|| {
        let mut stack = Stack::new("demo", "dev");
        let vpc = Network::new(&mut stack, "10.50.0.0/16", 1);
        let platform = Platform::new(&mut stack, &vpc).build();
        WebService::new(&mut stack, &platform, "web", Route::catch_all());
    });
    let message = result.unwrap_err();
    let message = message
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default()
        + message.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(message.contains(".public("), "{message}");
}
