//! The operations commands' exact requests (ExecuteCommand, RunTask, FilterLogEvents) with
//! aws-smithy-mocks — moto has no ExecuteCommand and does not run tasks to an exit code —
//! and the session-manager-plugin invocation, checked with a fake plugin that records its
//! argv.

use std::sync::{Arc, Mutex};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_sdk_cloudwatchlogs::operation::filter_log_events::{
    FilterLogEventsInput, FilterLogEventsOutput,
};
use aws_sdk_cloudwatchlogs::types::FilteredLogEvent;
use aws_sdk_ec2::operation::describe_security_groups::{
    DescribeSecurityGroupsInput, DescribeSecurityGroupsOutput,
};
use aws_sdk_ec2::operation::describe_subnets::DescribeSubnetsOutput;
use aws_sdk_ec2::types::{SecurityGroup, Subnet};
use aws_sdk_ecs::operation::describe_tasks::DescribeTasksOutput;
use aws_sdk_ecs::operation::execute_command::{ExecuteCommandInput, ExecuteCommandOutput};
use aws_sdk_ecs::operation::list_tasks::{ListTasksInput, ListTasksOutput};
use aws_sdk_ecs::operation::run_task::{RunTaskInput, RunTaskOutput};
use aws_sdk_ecs::types::{AssignPublicIp, Container, DesiredStatus, Failure, LaunchType, Task};
use aws_smithy_mocks::{create_mock_http_client, mock, MockResponseInterceptor, Rule, RuleMode};
use provisioner::aws::Aws;
use provisioner::ops::{exec, logs, run, PluginContext};

const CLUSTER_ARN: &str = "arn:aws:ecs:eu-west-1:123456789012:cluster/shop-dev-cluster";
const TASK_ARN: &str = "arn:aws:ecs:eu-west-1:123456789012:task/shop-dev-cluster/0f1e2d3c4b5a";

macro_rules! mocked_client {
    ($krate:ident, $rules:expr) => {{
        let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
        for rule in $rules {
            interceptor = interceptor.with_rule(rule);
        }
        $krate::Client::from_conf(
            $krate::Config::builder()
                .behavior_version_latest()
                .region(Region::new("eu-west-1"))
                .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
                .http_client(create_mock_http_client())
                .interceptor(interceptor)
                .build(),
        )
    }};
}

fn shop_aws() -> Aws {
    let sdk = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing", "testing", None, None, "test",
        )))
        .http_client(create_mock_http_client())
        .build();
    Aws::new(&sdk, "shop", "dev")
}

/// Records every request a rule sees.
fn capture<T: Clone + Send + 'static>() -> (Arc<Mutex<Vec<T>>>, impl Fn(&T) -> bool) {
    let seen: Arc<Mutex<Vec<T>>> = Arc::default();
    let sink = seen.clone();
    (seen, move |input: &T| {
        sink.lock().unwrap().push(input.clone());
        true
    })
}

fn task(status: &str, container: Container) -> Task {
    Task::builder()
        .task_arn(TASK_ARN)
        .cluster_arn(CLUSTER_ARN)
        .last_status(status)
        .enable_execute_command(true)
        .containers(container)
        .build()
}

fn running_orders_task() -> Task {
    task(
        "RUNNING",
        Container::builder()
            .name("orders")
            .runtime_id("0f1e2d3c4b5a-265927825")
            .last_status("RUNNING")
            .build(),
    )
}

/// A plugin stand-in that writes each argument on its own line and exits with 7.
fn fake_plugin(dir: &std::path::Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let plugin = dir.join("session-manager-plugin");
    let record = dir.join("argv");
    std::fs::write(
        &plugin,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\nexit 7\n",
            record.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
    plugin
}

#[tokio::test]
async fn exec_opens_an_interactive_shell_and_hands_the_session_to_the_plugin() {
    let (listed, record_list) = capture::<ListTasksInput>();
    let list = mock!(aws_sdk_ecs::Client::list_tasks)
        .match_requests(record_list)
        .then_output(|| ListTasksOutput::builder().task_arns(TASK_ARN).build());
    let describe = mock!(aws_sdk_ecs::Client::describe_tasks).then_output(|| {
        DescribeTasksOutput::builder()
            .tasks(running_orders_task())
            .build()
    });
    let (executed, record_exec) = capture::<ExecuteCommandInput>();
    let execute = mock!(aws_sdk_ecs::Client::execute_command)
        .match_requests(record_exec)
        .then_output(|| {
            ExecuteCommandOutput::builder()
                .cluster_arn(CLUSTER_ARN)
                .task_arn(TASK_ARN)
                .container_name("orders")
                .interactive(true)
                .session(
                    aws_sdk_ecs::types::Session::builder()
                        .session_id("ecs-execute-command-abc")
                        .stream_url("wss://ssmmessages.eu-west-1.amazonaws.com/v1/data-channel/ecs-execute-command-abc")
                        .token_value("secret-token")
                        .build(),
                )
                .build()
        });
    let mut aws = shop_aws();
    aws.ecs = mocked_client!(aws_sdk_ecs, [&list, &describe, &execute]);
    let dir = tempfile::tempdir().unwrap();
    let plugin = PluginContext {
        plugin: fake_plugin(dir.path()),
        profile: Some("ops".into()),
        endpoint_url: None,
    };

    let code = exec::exec(&aws, &plugin, "orders", None, None, &[])
        .await
        .unwrap();
    assert_eq!(code, 7, "the plugin's exit code is passed through");

    let listed = listed.lock().unwrap().clone();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].cluster(), Some("shop-dev-cluster"));
    assert_eq!(listed[0].service_name(), Some("shop-dev-service-orders"));
    assert_eq!(listed[0].desired_status(), Some(&DesiredStatus::Running));
    let executed = executed.lock().unwrap().clone();
    assert_eq!(executed.len(), 1);
    assert_eq!(executed[0].cluster(), Some("shop-dev-cluster"));
    assert_eq!(executed[0].task(), Some(TASK_ARN));
    assert_eq!(executed[0].container(), Some("orders"));
    assert_eq!(executed[0].interactive(), Some(true));
    assert_eq!(executed[0].command(), Some("/bin/sh"));

    let argv = std::fs::read_to_string(dir.path().join("argv")).unwrap();
    let argv: Vec<&str> = argv.lines().collect();
    assert_eq!(
        argv,
        [
            r#"{"sessionId":"ecs-execute-command-abc","streamUrl":"wss://ssmmessages.eu-west-1.amazonaws.com/v1/data-channel/ecs-execute-command-abc","tokenValue":"secret-token"}"#,
            "eu-west-1",
            "StartSession",
            "ops",
            r#"{"Target":"ecs:shop-dev-cluster_0f1e2d3c4b5a_0f1e2d3c4b5a-265927825"}"#,
            "https://ssm.eu-west-1.amazonaws.com",
        ]
    );
}

#[tokio::test]
async fn exec_into_a_given_task_runs_the_given_command_without_listing() {
    let list =
        mock!(aws_sdk_ecs::Client::list_tasks).then_output(|| ListTasksOutput::builder().build());
    let describe = mock!(aws_sdk_ecs::Client::describe_tasks)
        .match_requests(|input| input.tasks() == ["0f1e2d3c4b5a"])
        .then_output(|| {
            DescribeTasksOutput::builder()
                .tasks(running_orders_task())
                .build()
        });
    let (executed, record_exec) = capture::<ExecuteCommandInput>();
    let execute = mock!(aws_sdk_ecs::Client::execute_command)
        .match_requests(record_exec)
        .then_output(|| {
            ExecuteCommandOutput::builder()
                .session(
                    aws_sdk_ecs::types::Session::builder()
                        .session_id("s")
                        .stream_url("wss://x")
                        .token_value("t")
                        .build(),
                )
                .build()
        });
    let mut aws = shop_aws();
    aws.ecs = mocked_client!(aws_sdk_ecs, [&list, &describe, &execute]);
    let dir = tempfile::tempdir().unwrap();
    let plugin = PluginContext {
        plugin: fake_plugin(dir.path()),
        profile: None,
        endpoint_url: Some("http://127.0.0.1:4566".into()),
    };
    let command = ["psql".to_owned(), "-c".to_owned(), "select".to_owned()];
    exec::exec(
        &aws,
        &plugin,
        "orders",
        Some("0f1e2d3c4b5a"),
        Some("orders"),
        &command,
    )
    .await
    .unwrap();
    assert_eq!(list.num_calls(), 0);
    assert_eq!(
        executed.lock().unwrap()[0].command(),
        Some("psql -c select")
    );
    let argv = std::fs::read_to_string(dir.path().join("argv")).unwrap();
    let argv: Vec<&str> = argv.lines().collect();
    assert_eq!(
        argv[3], "",
        "no profile: an empty argument, as the AWS CLI passes"
    );
    assert_eq!(argv[5], "http://127.0.0.1:4566");
}

#[tokio::test]
async fn exec_explains_a_service_without_running_tasks_and_a_wrong_container() {
    let list =
        mock!(aws_sdk_ecs::Client::list_tasks).then_output(|| ListTasksOutput::builder().build());
    let mut aws = shop_aws();
    aws.ecs = mocked_client!(aws_sdk_ecs, [&list]);
    let plugin = PluginContext {
        plugin: "/nonexistent/session-manager-plugin".into(),
        profile: None,
        endpoint_url: None,
    };
    let err = exec::exec(&aws, &plugin, "orders", None, None, &[])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("service orders has no running task"), "{err}");

    let two = Task::builder()
        .task_arn(TASK_ARN)
        .last_status("RUNNING")
        .enable_execute_command(true)
        .containers(Container::builder().name("orders").runtime_id("r").build())
        .containers(Container::builder().name("sidecar").runtime_id("s").build())
        .build();
    let err = exec::target_of("shop-dev-cluster", &two, "nope")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("pass --container with one of: orders, sidecar"),
        "{err}"
    );
    let no_exec = without_exec(task(
        "RUNNING",
        Container::builder().name("orders").runtime_id("r").build(),
    ));
    let err = exec::target_of("shop-dev-cluster", &no_exec, "orders")
        .unwrap_err()
        .to_string();
    assert!(err.contains("without enableExecuteCommand"), "{err}");
}

fn without_exec(task: Task) -> Task {
    Task::builder()
        .set_task_arn(task.task_arn().map(str::to_owned))
        .set_last_status(task.last_status().map(str::to_owned))
        .set_containers(Some(task.containers().to_vec()))
        .enable_execute_command(false)
        .build()
}

fn event(ms: i64, id: &str, message: &str) -> FilteredLogEvent {
    FilteredLogEvent::builder()
        .timestamp(ms)
        .event_id(id)
        .log_stream_name("orders/orders/0f1e2d3c4b5a")
        .message(message)
        .build()
}

#[tokio::test]
async fn logs_follow_every_page_and_start_at_since() {
    let (requests, record) = capture::<FilterLogEventsInput>();
    let pages = mock!(aws_sdk_cloudwatchlogs::Client::filter_log_events)
        .match_requests(record)
        .then_compute_output(|input| match input.next_token() {
            None => FilterLogEventsOutput::builder()
                .events(event(2_000, "e2", "second"))
                .next_token("page-2")
                .build(),
            Some("page-2") => FilterLogEventsOutput::builder()
                .events(event(1_000, "e1", "first"))
                .events(event(3_000, "e3", "third"))
                .build(),
            Some(other) => panic!("unexpected token {other}"),
        });
    let mut aws = shop_aws();
    aws.logs = mocked_client!(aws_sdk_cloudwatchlogs, [&pages]);
    let lines = logs::fetch(&aws, "shop-dev-logs-orders", 500, None)
        .await
        .unwrap();
    let messages: Vec<&str> = lines.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(messages, ["first", "second", "third"]);
    let requests = requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    for request in &requests {
        assert_eq!(request.log_group_name(), Some("shop-dev-logs-orders"));
        assert_eq!(request.start_time(), Some(500));
    }
    assert_eq!(requests[1].next_token(), Some("page-2"));
}

struct RunMocks {
    ecs: [Rule; 2],
    ec2: [Rule; 2],
    logs: Rule,
    run_requests: Arc<Mutex<Vec<RunTaskInput>>>,
    group_requests: Arc<Mutex<Vec<DescribeSecurityGroupsInput>>>,
    log_requests: Arc<Mutex<Vec<FilterLogEventsInput>>>,
}

fn run_mocks(run_output: fn() -> RunTaskOutput, stopped: fn() -> Task) -> RunMocks {
    let (run_requests, record_run) = capture::<RunTaskInput>();
    let run = mock!(aws_sdk_ecs::Client::run_task)
        .match_requests(record_run)
        .then_output(run_output);
    let describe = mock!(aws_sdk_ecs::Client::describe_tasks)
        .sequence()
        .output(|| {
            DescribeTasksOutput::builder()
                .tasks(task(
                    "PROVISIONING",
                    Container::builder().name("orders-migrate").build(),
                ))
                .build()
        })
        .output(move || DescribeTasksOutput::builder().tasks(stopped()).build())
        .build();
    let subnets = mock!(aws_sdk_ec2::Client::describe_subnets).then_output(|| {
        DescribeSubnetsOutput::builder()
            .subnets(Subnet::builder().subnet_id("subnet-pa").build())
            .subnets(Subnet::builder().subnet_id("subnet-pb").build())
            .build()
    });
    let (group_requests, record_groups) = capture::<DescribeSecurityGroupsInput>();
    let groups = mock!(aws_sdk_ec2::Client::describe_security_groups)
        .match_requests(record_groups)
        .then_output(|| {
            DescribeSecurityGroupsOutput::builder()
                .security_groups(SecurityGroup::builder().group_id("sg-orders1").build())
                .build()
        });
    let (log_requests, record_logs) = capture::<FilterLogEventsInput>();
    let logs = mock!(aws_sdk_cloudwatchlogs::Client::filter_log_events)
        .match_requests(record_logs)
        .then_compute_output(|_| {
            FilterLogEventsOutput::builder()
                .events(
                    FilteredLogEvent::builder()
                        .timestamp(logs::start_time_ms(std::time::Duration::ZERO))
                        .event_id("m1")
                        .log_stream_name("orders-migrate/orders-migrate/0f1e2d3c4b5a")
                        .message("applied 3 migrations")
                        .build(),
                )
                .build()
        });
    RunMocks {
        ecs: [run, describe],
        ec2: [subnets, groups],
        logs,
        run_requests,
        group_requests,
        log_requests,
    }
}

fn mocked_run_aws(mocks: &RunMocks) -> Aws {
    let mut aws = shop_aws();
    aws.ecs = mocked_client!(aws_sdk_ecs, &mocks.ecs);
    aws.ec2 = mocked_client!(aws_sdk_ec2, &mocks.ec2);
    aws.logs = mocked_client!(aws_sdk_cloudwatchlogs, [&mocks.logs]);
    aws
}

fn started() -> RunTaskOutput {
    RunTaskOutput::builder()
        .tasks(Task::builder().task_arn(TASK_ARN).build())
        .build()
}

fn exited_with_3() -> Task {
    task(
        "STOPPED",
        Container::builder()
            .name("orders-migrate")
            .exit_code(3)
            .build(),
    )
}

#[tokio::test]
async fn run_starts_the_task_privately_streams_its_logs_and_passes_its_exit_code() {
    let mocks = run_mocks(started, exited_with_3);
    let aws = mocked_run_aws(&mocks);
    let code = run::run(
        &aws,
        "orders-migrate",
        "orders",
        std::time::Duration::from_millis(1),
    )
    .await
    .unwrap();
    assert_eq!(code, 3);

    let requests = mocks.run_requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.cluster(), Some("shop-dev-cluster"));
    assert_eq!(
        request.task_definition(),
        Some("shop-dev-task-orders-migrate")
    );
    assert_eq!(request.launch_type(), Some(&LaunchType::Fargate));
    assert_eq!(request.count(), Some(1));
    let vpc = request
        .network_configuration()
        .and_then(|n| n.awsvpc_configuration())
        .unwrap();
    assert_eq!(vpc.subnets(), ["subnet-pa", "subnet-pb"]);
    assert_eq!(vpc.security_groups(), ["sg-orders1"]);
    assert_eq!(vpc.assign_public_ip(), Some(&AssignPublicIp::Disabled));

    let groups = mocks.group_requests.lock().unwrap().clone();
    let filters: Vec<(String, Vec<String>)> = groups[0]
        .filters()
        .iter()
        .map(|f| (f.name().unwrap().to_owned(), f.values().to_vec()))
        .collect();
    assert!(
        filters.contains(&("tag:slipway:id".into(), vec!["sg-orders".into()])),
        "{filters:?}"
    );
    assert!(
        filters.contains(&("tag:slipway:stack".into(), vec!["shop".into()])),
        "{filters:?}"
    );

    let log_requests = mocks.log_requests.lock().unwrap().clone();
    assert!(!log_requests.is_empty());
    assert_eq!(
        log_requests[0].log_group_name(),
        Some("shop-dev-logs-orders")
    );
    assert_eq!(
        log_requests[0].log_stream_name_prefix(),
        Some("orders-migrate/orders-migrate/0f1e2d3c4b5a")
    );
}

async fn run_error(run_output: fn() -> RunTaskOutput, stopped: fn() -> Task) -> String {
    let mocks = run_mocks(run_output, stopped);
    let aws = mocked_run_aws(&mocks);
    run::run(
        &aws,
        "orders-migrate",
        "orders",
        std::time::Duration::from_millis(1),
    )
    .await
    .unwrap_err()
    .to_string()
}

#[tokio::test]
async fn run_reports_a_task_that_could_not_start() {
    fn refused() -> RunTaskOutput {
        RunTaskOutput::builder()
            .failures(
                Failure::builder()
                    .arn("arn:aws:ecs:eu-west-1:1:task-definition/shop-dev-task-orders-migrate")
                    .reason("MISSING")
                    .build(),
            )
            .build()
    }
    let err = run_error(refused, exited_with_3).await;
    assert!(
        err.contains("shop-dev-task-orders-migrate did not start: MISSING"),
        "{err}"
    );

    fn pull_failed() -> Task {
        let mut stopped = task(
            "STOPPED",
            Container::builder()
                .name("orders-migrate")
                .reason("CannotPullContainerError: image not found")
                .build(),
        );
        stopped.stopped_reason = Some("Task failed to start".into());
        stopped
    }
    let err = run_error(started, pull_failed).await;
    assert!(
        err.contains(
            "stopped before orders-migrate exited: Task failed to start; CannotPullContainerError"
        ),
        "{err}"
    );
}

/// The binary with an empty PATH (no plugin) and AWS pointed at a closed loopback port, so
/// any AWS call would fail with "could not reach AWS" instead of the plugin message.
fn provision_without_plugin(args: &[&str]) -> std::process::Output {
    let empty = tempfile::tempdir().unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_provision"))
        .arg("--config-dir")
        .arg(provisioner::config::repo_config_dir())
        .args(["--stack", "shop", "--region", "eu-west-1"])
        .args(["--endpoint-url", "http://127.0.0.1:9"])
        .args(args)
        .env("PATH", empty.path())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_MAX_ATTEMPTS", "1")
        .output()
        .unwrap()
}

#[test]
fn exec_without_the_plugin_says_how_to_install_it_before_calling_aws() {
    let out = provision_without_plugin(&["exec", "orders"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("`session-manager-plugin` is not on PATH"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Install the Session Manager plugin"),
        "{stderr}"
    );
    assert!(!stderr.contains("could not reach AWS"), "{stderr}");

    let out = provision_without_plugin(&["exec", "nope"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("has no service nope; known services: orders, products, users"),
        "{stderr}"
    );
}

#[test]
fn logs_and_run_reject_bad_arguments_before_calling_aws() {
    let out = provision_without_plugin(&["logs", "orders", "--since", "10y"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unknown unit"), "{stderr}");

    let out = provision_without_plugin(&["run", "orders-backfill"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no task orders-backfill"), "{stderr}");
    assert!(stderr.contains("orders-migrate, orders-seed"), "{stderr}");
}
