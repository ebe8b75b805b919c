//! The operations commands' exact requests (ExecuteCommand, RunTask, StopTask,
//! FilterLogEvents, SSM StartSession) with aws-smithy-mocks — moto has no ExecuteCommand or
//! StartSession and does not run tasks — and the session-manager-plugin invocation, checked
//! with a fake plugin that records its argv.

mod common;

use std::sync::{Arc, Mutex};

use aws_sdk_cloudwatchlogs::operation::filter_log_events::{
    FilterLogEventsInput, FilterLogEventsOutput,
};
use aws_sdk_cloudwatchlogs::types::FilteredLogEvent;
use aws_sdk_ec2::operation::describe_security_groups::{
    DescribeSecurityGroupsInput, DescribeSecurityGroupsOutput,
};
use aws_sdk_ec2::operation::describe_subnets::DescribeSubnetsOutput;
use aws_sdk_ec2::types::{SecurityGroup, Subnet};
use aws_sdk_ecs::operation::describe_tasks::{DescribeTasksInput, DescribeTasksOutput};
use aws_sdk_ecs::operation::execute_command::{ExecuteCommandInput, ExecuteCommandOutput};
use aws_sdk_ecs::operation::list_tasks::{ListTasksInput, ListTasksOutput};
use aws_sdk_ecs::operation::run_task::{RunTaskInput, RunTaskOutput};
use aws_sdk_ecs::operation::stop_task::{StopTaskInput, StopTaskOutput};
use aws_sdk_ecs::types::{
    AssignPublicIp, Container, DesiredStatus, Failure, LaunchType, ManagedAgent, ManagedAgentName,
    Task,
};
use aws_sdk_rds::operation::describe_db_instances::{
    DescribeDbInstancesInput, DescribeDbInstancesOutput,
};
use aws_sdk_ssm::operation::start_session::{StartSessionInput, StartSessionOutput};
use aws_smithy_mocks::{mock, Rule};
use provisioner::aws::Aws;
use provisioner::config::{repo_config_dir, DataStore, StackConfig};
use provisioner::ops::{debug, exec, logs, run, tunnel, PluginContext};

const CLUSTER_ARN: &str = "arn:aws:ecs:eu-west-1:123456789012:cluster/shop-dev-cluster";
const TASK_ARN: &str = "arn:aws:ecs:eu-west-1:123456789012:task/shop-dev-cluster/0f1e2d3c4b5a";

/// The shop's region in these tests.
const REGION: &str = "eu-west-1";

/// A client of SDK crate `$krate` answering from `$rules`.
macro_rules! mocked_client {
    ($krate:ident, $rules:expr) => {
        common::mocks::client!($krate, REGION, $rules)
    };
}

fn shop_aws() -> Aws {
    shop_aws_in("dev")
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

fn exec_agent(status: &str) -> ManagedAgent {
    ManagedAgent::builder()
        .name(ManagedAgentName::ExecuteCommandAgent)
        .last_status(status)
        .build()
}

fn running_orders_task() -> Task {
    orders_task_with_agent(Some(exec_agent("RUNNING")))
}

/// A running orders task whose ExecuteCommandAgent is `agent` (None: started without exec).
fn orders_task_with_agent(agent: Option<ManagedAgent>) -> Task {
    task(
        "RUNNING",
        Container::builder()
            .name("orders")
            .runtime_id("0f1e2d3c4b5a-265927825")
            .last_status("RUNNING")
            .set_managed_agents(agent.map(|a| vec![a]))
            .build(),
    )
}

/// ECS listing one task, the running orders task with its exec agent up; every
/// ListTasks request recorded.
fn one_running_orders_task() -> (Arc<Mutex<Vec<ListTasksInput>>>, [Rule; 2]) {
    let (listed, record_list) = capture::<ListTasksInput>();
    let list = mock!(aws_sdk_ecs::Client::list_tasks)
        .match_requests(record_list)
        .then_output(|| ListTasksOutput::builder().task_arns(TASK_ARN).build());
    let describe = mock!(aws_sdk_ecs::Client::describe_tasks).then_output(|| {
        DescribeTasksOutput::builder()
            .tasks(running_orders_task())
            .build()
    });
    (listed, [list, describe])
}

/// Where no session-manager-plugin is installed.
const NO_PLUGIN: &str = "/nonexistent/session-manager-plugin";

/// The plugin at `plugin`, without a profile or endpoint.
fn plugin_at(plugin: impl Into<std::path::PathBuf>) -> PluginContext {
    PluginContext {
        plugin: plugin.into(),
        profile: None,
        endpoint_url: None,
    }
}

/// ExecuteCommand answered with a session, every request recorded.
fn recorded_execute() -> (Arc<Mutex<Vec<ExecuteCommandInput>>>, Rule) {
    let (executed, record_exec) = capture::<ExecuteCommandInput>();
    let execute = mock!(aws_sdk_ecs::Client::execute_command)
        .match_requests(record_exec)
        .then_output(execute_command_ok);
    (executed, execute)
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
    let (listed, [list, describe]) = one_running_orders_task();
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
        profile: Some("ops".into()),
        ..plugin_at(fake_plugin(dir.path()))
    };

    let code = exec::exec(&aws, &plugin, &shop_config(), "orders", None, None, &[])
        .await
        .unwrap();
    assert_eq!(code, 7, "the plugin's exit code is passed through");

    let listed = listed.lock().unwrap().clone();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].cluster(), Some("shop-dev-cluster"));
    assert_eq!(listed[0].service_name(), Some("shop-dev-service-orders"));
    assert_eq!(listed[0].desired_status(), Some(&DesiredStatus::Running));
    // No more than one DescribeTasks call can describe (its limit is 100 tasks).
    assert_eq!(listed[0].max_results(), Some(100));
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
    let (executed, execute) = recorded_execute();
    let mut aws = shop_aws();
    aws.ecs = mocked_client!(aws_sdk_ecs, [&list, &describe, &execute]);
    let dir = tempfile::tempdir().unwrap();
    let plugin = PluginContext {
        endpoint_url: Some("http://127.0.0.1:4566".into()),
        ..plugin_at(fake_plugin(dir.path()))
    };
    let command = ["psql".to_owned(), "-c".to_owned(), "select".to_owned()];
    exec::exec(
        &aws,
        &plugin,
        &shop_config(),
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
    let plugin = plugin_at(NO_PLUGIN);
    let err = exec::exec(&aws, &plugin, &shop_config(), "orders", None, None, &[])
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

fn shop_aws_in(env: &str) -> Aws {
    common::mocks::aws(REGION, "shop", env)
}

fn execute_command_ok() -> ExecuteCommandOutput {
    ExecuteCommandOutput::builder()
        .session(
            aws_sdk_ecs::types::Session::builder()
                .session_id("s")
                .stream_url("wss://x")
                .token_value("t")
                .build(),
        )
        .build()
}

/// `provision exec orders` in `env` when its only task is `task`: the error, and how many
/// ExecuteCommand requests were sent.
async fn exec_error(env: &str, task: Task) -> (String, usize) {
    let list = mock!(aws_sdk_ecs::Client::list_tasks)
        .then_output(|| ListTasksOutput::builder().task_arns(TASK_ARN).build());
    let describe = mock!(aws_sdk_ecs::Client::describe_tasks)
        .then_output(move || DescribeTasksOutput::builder().tasks(task.clone()).build());
    let execute = mock!(aws_sdk_ecs::Client::execute_command).then_output(execute_command_ok);
    let mut aws = shop_aws_in(env);
    aws.ecs = mocked_client!(aws_sdk_ecs, [&list, &describe, &execute]);
    let plugin = plugin_at(NO_PLUGIN);
    let config = StackConfig::load(&repo_config_dir(), "shop", env).unwrap();
    let err = exec::exec(&aws, &plugin, &config, "orders", None, None, &[])
        .await
        .unwrap_err();
    (format!("{err:#}"), execute.num_calls())
}

#[tokio::test]
async fn exec_sends_execute_command_only_once_the_exec_agent_runs() {
    // Exec off in prod (the default there): the task has no agent; the message names the
    // config key and what to run.
    let (err, sent) = exec_error("prod", without_exec(orders_task_with_agent(None))).await;
    assert_eq!(sent, 0, "{err}");
    assert!(
        err.contains("task 0f1e2d3c4b5a was started without enableExecuteCommand"),
        "{err}"
    );
    assert!(
        err.contains("service orders has ECS Exec off in env prod"),
        "{err}"
    );
    assert!(
        err.contains("set `exec = true` under [env.prod.services.orders] in config/shop.toml"),
        "{err}"
    );
    assert!(
        err.contains("provision --stack shop --env prod up"),
        "{err}"
    );

    // Exec on in dev, but the task predates it: no agent in the container.
    let (err, sent) = exec_error("dev", orders_task_with_agent(None)).await;
    assert_eq!(sent, 0, "{err}");
    assert!(
        err.contains("container orders of task 0f1e2d3c4b5a has no ExecuteCommandAgent"),
        "{err}"
    );
    assert!(
        err.contains("ECS Exec is on for orders in env dev, but tasks started before"),
        "{err}"
    );
    assert!(err.contains("replaced its tasks"), "{err}");

    let (err, sent) = exec_error("dev", orders_task_with_agent(Some(exec_agent("PENDING")))).await;
    assert_eq!(sent, 0, "{err}");
    assert!(
        err.contains("ExecuteCommandAgent of container orders in task 0f1e2d3c4b5a is PENDING"),
        "{err}"
    );
    assert!(err.contains("retry in a few seconds"), "{err}");

    // The agent crashed (a read-only root from before `up` turned exec on, or no SSM).
    let stopped = ManagedAgent::builder()
        .name(ManagedAgentName::ExecuteCommandAgent)
        .last_status("STOPPED")
        .reason("agent exited")
        .build();
    let (err, sent) = exec_error("dev", orders_task_with_agent(Some(stopped))).await;
    assert_eq!(sent, 0, "{err}");
    assert!(err.contains("is STOPPED (agent exited)"), "{err}");
    assert!(err.contains("the agent cannot reach SSM"), "{err}");
}

#[tokio::test]
async fn exec_prefers_a_task_whose_exec_agent_runs() {
    const OTHER_ARN: &str = "arn:aws:ecs:eu-west-1:123456789012:task/shop-dev-cluster/1a2b3c4d5e6f";
    let list = mock!(aws_sdk_ecs::Client::list_tasks).then_output(|| {
        ListTasksOutput::builder()
            .task_arns(OTHER_ARN)
            .task_arns(TASK_ARN)
            .build()
    });
    let (described, record_describe) = capture::<DescribeTasksInput>();
    let describe = mock!(aws_sdk_ecs::Client::describe_tasks)
        .match_requests(record_describe)
        .then_output(|| {
            let mut starting = orders_task_with_agent(Some(exec_agent("PENDING")));
            starting.task_arn = Some(OTHER_ARN.into());
            DescribeTasksOutput::builder()
                .tasks(starting)
                .tasks(running_orders_task())
                .build()
        });
    let (executed, execute) = recorded_execute();
    let mut aws = shop_aws();
    aws.ecs = mocked_client!(aws_sdk_ecs, [&list, &describe, &execute]);
    let dir = tempfile::tempdir().unwrap();
    let plugin = plugin_at(fake_plugin(dir.path()));
    exec::exec(&aws, &plugin, &shop_config(), "orders", None, None, &[])
        .await
        .unwrap();
    let described = described.lock().unwrap().clone();
    assert_eq!(described.len(), 1, "one DescribeTasks for all listed tasks");
    assert_eq!(described[0].tasks(), [OTHER_ARN, TASK_ARN]);
    let executed = executed.lock().unwrap().clone();
    assert_eq!(executed.len(), 1);
    assert_eq!(executed[0].task(), Some(TASK_ARN));
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
    let (ec2, group_requests) = placement_mocks("sg-orders1");
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
        ec2,
        logs,
        run_requests,
        group_requests,
        log_requests,
    }
}

/// EC2 listing the stack's two private subnets and the security group `group_id`; every
/// DescribeSecurityGroups request recorded.
fn placement_mocks(
    group_id: &'static str,
) -> ([Rule; 2], Arc<Mutex<Vec<DescribeSecurityGroupsInput>>>) {
    let subnets = mock!(aws_sdk_ec2::Client::describe_subnets).then_output(|| {
        DescribeSubnetsOutput::builder()
            .subnets(Subnet::builder().subnet_id("subnet-pa").build())
            .subnets(Subnet::builder().subnet_id("subnet-pb").build())
            .build()
    });
    let (group_requests, record_groups) = capture::<DescribeSecurityGroupsInput>();
    let groups = mock!(aws_sdk_ec2::Client::describe_security_groups)
        .match_requests(record_groups)
        .then_output(move || {
            DescribeSecurityGroupsOutput::builder()
                .security_groups(SecurityGroup::builder().group_id(group_id).build())
                .build()
        });
    ([subnets, groups], group_requests)
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
    provision_without_plugin_on("shop", args)
}

fn provision_without_plugin_on(stack: &str, args: &[&str]) -> std::process::Output {
    let empty = tempfile::tempdir().unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_provision"))
        .arg("--config-dir")
        .arg(provisioner::config::repo_config_dir())
        .args(["--stack", stack, "--region", "eu-west-1"])
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

const DEBUG_TASK_ARN: &str =
    "arn:aws:ecs:eu-west-1:123456789012:task/shop-dev-cluster/9a8b7c6d5e4f";

fn debug_task(status: &str, agent: &str) -> Task {
    Task::builder()
        .task_arn(DEBUG_TASK_ARN)
        .cluster_arn(CLUSTER_ARN)
        .last_status(status)
        .enable_execute_command(true)
        .containers(
            Container::builder()
                .name("debug")
                .runtime_id("9a8b7c6d5e4f-1234567890")
                .last_status(status)
                .managed_agents(
                    ManagedAgent::builder()
                        .name(ManagedAgentName::ExecuteCommandAgent)
                        .last_status(agent)
                        .build(),
                )
                .build(),
        )
        .build()
}

/// Every ECS call `provision debug` makes, in order, with the requests that matter.
struct DebugMocks {
    ecs: Vec<Rule>,
    ec2: [Rule; 2],
    calls: Arc<Mutex<Vec<&'static str>>>,
    run_requests: Arc<Mutex<Vec<RunTaskInput>>>,
    exec_requests: Arc<Mutex<Vec<ExecuteCommandInput>>>,
    stop_requests: Arc<Mutex<Vec<StopTaskInput>>>,
    group_requests: Arc<Mutex<Vec<DescribeSecurityGroupsInput>>>,
}

/// `states`: what each DescribeTasks answers, the last one repeated.
fn debug_mocks(states: Vec<Task>) -> DebugMocks {
    let calls: Arc<Mutex<Vec<&'static str>>> = Arc::default();
    let log = |name: &'static str| {
        let calls = calls.clone();
        move || calls.lock().unwrap().push(name)
    };
    let (run_requests, record_run) = capture::<RunTaskInput>();
    let ran = log("RunTask");
    let run = mock!(aws_sdk_ecs::Client::run_task)
        .match_requests(move |input| {
            ran();
            record_run(input)
        })
        .then_output(|| {
            RunTaskOutput::builder()
                .tasks(Task::builder().task_arn(DEBUG_TASK_ARN).build())
                .build()
        });
    let described = log("DescribeTasks");
    let answers = Arc::new(Mutex::new(states));
    let describe = mock!(aws_sdk_ecs::Client::describe_tasks)
        .match_requests(move |input| {
            described();
            input.tasks() == [DEBUG_TASK_ARN] && input.cluster() == Some("shop-dev-cluster")
        })
        .then_compute_output(move |_| {
            let mut answers = answers.lock().unwrap();
            let task = if answers.len() > 1 {
                answers.remove(0)
            } else {
                answers[0].clone()
            };
            DescribeTasksOutput::builder().tasks(task).build()
        });
    let (exec_requests, record_exec) = capture::<ExecuteCommandInput>();
    let executed = log("ExecuteCommand");
    let execute = mock!(aws_sdk_ecs::Client::execute_command)
        .match_requests(move |input| {
            executed();
            record_exec(input)
        })
        .then_output(|| {
            ExecuteCommandOutput::builder()
                .session(
                    aws_sdk_ecs::types::Session::builder()
                        .session_id("ecs-execute-command-debug")
                        .stream_url("wss://ssmmessages.eu-west-1.amazonaws.com/v1/data-channel/ecs-execute-command-debug")
                        .token_value("debug-token")
                        .build(),
                )
                .build()
        });
    let (stop_requests, record_stop) = capture::<StopTaskInput>();
    let stopped = log("StopTask");
    let stop = mock!(aws_sdk_ecs::Client::stop_task)
        .match_requests(move |input| {
            stopped();
            record_stop(input)
        })
        .then_output(|| StopTaskOutput::builder().build());
    let (ec2, group_requests) = placement_mocks("sg-debug1");
    DebugMocks {
        ecs: vec![run, describe, execute, stop],
        ec2,
        calls,
        run_requests,
        exec_requests,
        stop_requests,
        group_requests,
    }
}

fn mocked_debug_aws(mocks: &DebugMocks) -> Aws {
    let mut aws = shop_aws();
    aws.ecs = mocked_client!(aws_sdk_ecs, &mocks.ecs);
    aws.ec2 = mocked_client!(aws_sdk_ec2, &mocks.ec2);
    aws
}

fn assert_stopped_once(mocks: &DebugMocks) {
    let stops = mocks.stop_requests.lock().unwrap().clone();
    assert_eq!(stops.len(), 1, "StopTask exactly once");
    assert_eq!(stops[0].cluster(), Some("shop-dev-cluster"));
    assert_eq!(stops[0].task(), Some(DEBUG_TASK_ARN));
    assert_eq!(stops[0].reason(), Some("provision debug session ended"));
}

const POLL: std::time::Duration = std::time::Duration::from_millis(1);

#[tokio::test]
async fn debug_starts_a_private_task_execs_into_it_and_stops_it_when_the_session_ends() {
    let mocks = debug_mocks(vec![
        debug_task("PROVISIONING", "PENDING"),
        debug_task("RUNNING", "PENDING"),
        debug_task("RUNNING", "RUNNING"),
    ]);
    let aws = mocked_debug_aws(&mocks);
    let dir = tempfile::tempdir().unwrap();
    let plugin = PluginContext {
        profile: Some("ops".into()),
        ..plugin_at(fake_plugin(dir.path()))
    };

    let code = debug::debug(&aws, &plugin, None, &[], POLL, std::future::pending())
        .await
        .unwrap();
    assert_eq!(
        code, 7,
        "the session's (non-zero) exit code is passed through"
    );

    assert_eq!(
        *mocks.calls.lock().unwrap(),
        [
            "RunTask",
            "DescribeTasks",
            "DescribeTasks",
            "DescribeTasks",
            "ExecuteCommand",
            "StopTask"
        ],
        "ExecuteCommand only once the exec agent runs; StopTask after the session"
    );
    let runs = mocks.run_requests.lock().unwrap().clone();
    assert_eq!(runs.len(), 1);
    let request = &runs[0];
    assert_eq!(request.cluster(), Some("shop-dev-cluster"));
    assert_eq!(request.task_definition(), Some("shop-dev-taskdef-debug"));
    assert_eq!(request.launch_type(), Some(&LaunchType::Fargate));
    assert_eq!(request.count(), Some(1));
    assert_eq!(request.enable_execute_command(), Some(true));
    let vpc = request
        .network_configuration()
        .and_then(|n| n.awsvpc_configuration())
        .unwrap();
    assert_eq!(vpc.subnets(), ["subnet-pa", "subnet-pb"]);
    assert_eq!(vpc.security_groups(), ["sg-debug1"]);
    assert_eq!(vpc.assign_public_ip(), Some(&AssignPublicIp::Disabled));
    let groups = mocks.group_requests.lock().unwrap().clone();
    assert!(
        groups[0]
            .filters()
            .iter()
            .any(|f| f.name() == Some("tag:slipway:id") && f.values() == ["sg-debug"]),
        "{groups:?}"
    );

    let executed = mocks.exec_requests.lock().unwrap().clone();
    assert_eq!(executed.len(), 1);
    assert_eq!(executed[0].cluster(), Some("shop-dev-cluster"));
    assert_eq!(executed[0].task(), Some(DEBUG_TASK_ARN));
    assert_eq!(executed[0].container(), Some("debug"));
    assert_eq!(executed[0].interactive(), Some(true));
    assert_eq!(executed[0].command(), Some("/bin/sh -l"));
    assert_stopped_once(&mocks);

    let argv = std::fs::read_to_string(dir.path().join("argv")).unwrap();
    let argv: Vec<&str> = argv.lines().collect();
    assert_eq!(
        argv,
        [
            r#"{"sessionId":"ecs-execute-command-debug","streamUrl":"wss://ssmmessages.eu-west-1.amazonaws.com/v1/data-channel/ecs-execute-command-debug","tokenValue":"debug-token"}"#,
            "eu-west-1",
            "StartSession",
            "ops",
            r#"{"Target":"ecs:shop-dev-cluster_9a8b7c6d5e4f_9a8b7c6d5e4f-1234567890"}"#,
            "https://ssm.eu-west-1.amazonaws.com",
        ]
    );
}

#[tokio::test]
async fn debug_runs_a_given_command_and_stops_the_task_when_the_plugin_fails_to_start() {
    let mocks = debug_mocks(vec![debug_task("RUNNING", "RUNNING")]);
    let aws = mocked_debug_aws(&mocks);
    let plugin = plugin_at(NO_PLUGIN);
    let command = ["redis-cli".to_owned(), "ping".to_owned()];
    let err = debug::debug(&aws, &plugin, None, &command, POLL, std::future::pending())
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("could not start"), "{err:#}");
    assert_eq!(
        mocks.exec_requests.lock().unwrap()[0].command(),
        Some(r#"/bin/sh -c '"redis-cli" "ping"'"#)
    );
    assert_stopped_once(&mocks);
    assert_eq!(mocks.calls.lock().unwrap().last(), Some(&"StopTask"));
}

#[tokio::test]
async fn debug_interrupted_while_waiting_stops_the_task_without_a_session() {
    let mocks = debug_mocks(vec![debug_task("PENDING", "PENDING")]);
    let aws = mocked_debug_aws(&mocks);
    let plugin = plugin_at(NO_PLUGIN);
    // Ctrl-C after a few polls of a task that never gets going.
    let interrupted = tokio::time::sleep(std::time::Duration::from_millis(50));
    let code = debug::debug(
        &aws,
        &plugin,
        None,
        &[],
        std::time::Duration::from_millis(5),
        interrupted,
    )
    .await
    .unwrap();
    assert_eq!(code, 130);
    assert!(mocks.exec_requests.lock().unwrap().is_empty());
    assert_stopped_once(&mocks);
}

#[tokio::test]
async fn debug_names_why_the_task_stopped_before_the_session() {
    let mut stopped = debug_task("STOPPED", "STOPPED");
    stopped.stopped_reason = Some("Task failed to start".into());
    stopped.containers.as_mut().unwrap()[0].reason =
        Some("CannotPullContainerError: shop-dev-repo-debug:latest not found".into());
    let mocks = debug_mocks(vec![debug_task("PENDING", "PENDING"), stopped]);
    let aws = mocked_debug_aws(&mocks);
    let plugin = plugin_at(NO_PLUGIN);
    let err = debug::debug(&aws, &plugin, None, &[], POLL, std::future::pending())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "stopped before a session could start: Task failed to start; CannotPullContainerError"
        ),
        "{err}"
    );
    assert!(err.contains("ci/push-debug-image.sh"), "{err}");
    assert!(mocks.exec_requests.lock().unwrap().is_empty());
    assert_stopped_once(&mocks);
}

fn shop_config() -> StackConfig {
    StackConfig::load(&repo_config_dir(), "shop", "dev").unwrap()
}

#[tokio::test]
async fn tunnel_forwards_a_local_port_to_postgres_through_a_consumer_task() {
    let (instances, db_requests) = postgres_instances();
    let (listed, [list, describe]) = one_running_orders_task();
    let (sessions, record_session) = capture::<StartSessionInput>();
    let start = mock!(aws_sdk_ssm::Client::start_session)
        .match_requests(record_session)
        .then_output(start_session_ok);
    let mut aws = shop_aws();
    aws.rds = mocked_client!(aws_sdk_rds, [&instances]);
    aws.ecs = mocked_client!(aws_sdk_ecs, [&list, &describe]);
    aws.ssm = mocked_client!(aws_sdk_ssm, [&start]);
    let dir = tempfile::tempdir().unwrap();
    let plugin = plugin_at(fake_plugin(dir.path()));

    let code = tunnel::tunnel(
        &aws,
        &plugin,
        &shop_config(),
        DataStore::Postgres,
        Some(15432),
        None,
        POLL,
        std::future::pending(),
    )
    .await
    .unwrap();
    assert_eq!(code, 7);

    assert_eq!(
        db_requests.lock().unwrap()[0].db_instance_identifier(),
        Some("shop-dev-postgres")
    );
    // The first consumer of Postgres in the stack file's order (orders, products, users).
    assert_eq!(
        listed.lock().unwrap()[0].service_name(),
        Some("shop-dev-service-orders")
    );
    let sessions = sessions.lock().unwrap().clone();
    assert_eq!(sessions.len(), 1);
    let request = &sessions[0];
    let target = "ecs:shop-dev-cluster_0f1e2d3c4b5a_0f1e2d3c4b5a-265927825";
    assert_eq!(request.target(), Some(target));
    assert_eq!(
        request.document_name(),
        Some("AWS-StartPortForwardingSessionToRemoteHost")
    );
    let parameters = request.parameters().unwrap();
    let value = |key: &str| parameters[key].clone();
    assert_eq!(
        value("host"),
        ["shop-dev-postgres.c1.eu-west-1.rds.amazonaws.com"]
    );
    assert_eq!(value("portNumber"), ["5432"]);
    assert_eq!(value("localPortNumber"), ["15432"]);
    assert_eq!(parameters.len(), 3);

    let argv = std::fs::read_to_string(dir.path().join("argv")).unwrap();
    let argv: Vec<&str> = argv.lines().collect();
    assert_eq!(argv.len(), 6, "{argv:?}");
    let session: serde_json::Value = serde_json::from_str(argv[0]).unwrap();
    assert_eq!(
        session,
        serde_json::json!({
            "SessionId": "ops-0a1b2c",
            "StreamUrl": "wss://ssmmessages.eu-west-1.amazonaws.com/v1/data-channel/ops-0a1b2c",
            "TokenValue": "tunnel-token",
        })
    );
    assert_eq!(argv[1..4], ["eu-west-1", "StartSession", ""]);
    let parameters: serde_json::Value = serde_json::from_str(argv[4]).unwrap();
    assert_eq!(
        parameters,
        serde_json::json!({
            "Target": target,
            "DocumentName": "AWS-StartPortForwardingSessionToRemoteHost",
            "Parameters": {
                "host": ["shop-dev-postgres.c1.eu-west-1.rds.amazonaws.com"],
                "portNumber": ["5432"],
                "localPortNumber": ["15432"],
            },
        })
    );
    assert_eq!(argv[5], "https://ssm.eu-west-1.amazonaws.com");
}

#[tokio::test]
async fn tunnel_to_redis_reads_the_primary_endpoint_and_defaults_to_its_port() {
    let groups = mock!(aws_sdk_elasticache::Client::describe_replication_groups)
        .match_requests(|input| input.replication_group_id() == Some("shop-dev-redis"))
        .then_output(|| {
            aws_sdk_elasticache::operation::describe_replication_groups::DescribeReplicationGroupsOutput::builder()
                .replication_groups(
                    aws_sdk_elasticache::types::ReplicationGroup::builder()
                        .node_groups(
                            aws_sdk_elasticache::types::NodeGroup::builder()
                                .primary_endpoint(
                                    aws_sdk_elasticache::types::Endpoint::builder()
                                        .address("master.shop-dev-redis.x1.euw1.cache.amazonaws.com")
                                        .port(6379)
                                        .build(),
                                )
                                .build(),
                        )
                        .build(),
                )
                .build()
        });
    let mut aws = shop_aws();
    aws.elasticache = mocked_client!(aws_sdk_elasticache, [&groups]);
    let endpoint = tunnel::store_endpoint(&aws, DataStore::Redis)
        .await
        .unwrap();
    assert_eq!(
        endpoint,
        tunnel::Endpoint {
            host: "master.shop-dev-redis.x1.euw1.cache.amazonaws.com".into(),
            port: 6379
        }
    );
    let hint = tunnel::local_hint(&shop_config(), &aws, DataStore::Redis, &endpoint, 6379);
    assert!(
        hint.contains(
            "redis-cli --tls --sni master.shop-dev-redis.x1.euw1.cache.amazonaws.com -p 6379"
        ),
        "{hint}"
    );
    assert!(hint.contains("secret shop-dev-redis-auth"), "{hint}");
    let hint = tunnel::local_hint(&shop_config(), &aws, DataStore::Postgres, &endpoint, 15432);
    assert!(
        hint.contains("psql \"postgresql://slipway@localhost:15432/shop?sslmode=require\""),
        "{hint}"
    );
}

#[test]
fn tunnel_rejects_missing_stores_and_relays_that_cannot_reach_them() {
    let sums = StackConfig::load(&repo_config_dir(), "sums", "dev").unwrap();
    let err = tunnel::relay_services(&sums, DataStore::Postgres, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("stack sums has no postgres"), "{err}");
    let err = tunnel::relay_services(&sums, DataStore::Redis, Some("client"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("client does not use redis") && err.contains("pass --via one of: api"),
        "{err}"
    );
    assert_eq!(
        tunnel::relay_services(&shop_config(), DataStore::Redis, None).unwrap(),
        ["orders", "products"]
    );
}

/// DescribeDBInstances answering with the Postgres endpoint, and the requests it saw.
fn postgres_instances() -> (Rule, Arc<Mutex<Vec<DescribeDbInstancesInput>>>) {
    let (requests, record) = capture::<DescribeDbInstancesInput>();
    let rule = mock!(aws_sdk_rds::Client::describe_db_instances)
        .match_requests(record)
        .then_output(|| {
            DescribeDbInstancesOutput::builder()
                .db_instances(
                    aws_sdk_rds::types::DbInstance::builder()
                        .endpoint(
                            aws_sdk_rds::types::Endpoint::builder()
                                .address("shop-dev-postgres.c1.eu-west-1.rds.amazonaws.com")
                                .port(5432)
                                .build(),
                        )
                        .build(),
                )
                .build()
        });
    (rule, requests)
}

fn start_session_ok() -> StartSessionOutput {
    StartSessionOutput::builder()
        .session_id("ops-0a1b2c")
        .stream_url("wss://ssmmessages.eu-west-1.amazonaws.com/v1/data-channel/ops-0a1b2c")
        .token_value("tunnel-token")
        .build()
}

#[tokio::test]
async fn tunnel_refuses_consumers_with_exec_off_and_names_the_alternatives() {
    let prod = StackConfig::load(&repo_config_dir(), "shop", "prod").unwrap();
    let (instances, _) = postgres_instances();
    let list = mock!(aws_sdk_ecs::Client::list_tasks)
        .then_output(|| ListTasksOutput::builder().task_arns(TASK_ARN).build());
    let start = mock!(aws_sdk_ssm::Client::start_session).then_output(start_session_ok);
    let mut aws = shop_aws_in("prod");
    aws.rds = mocked_client!(aws_sdk_rds, [&instances]);
    aws.ecs = mocked_client!(aws_sdk_ecs, [&list]);
    aws.ssm = mocked_client!(aws_sdk_ssm, [&start]);
    let plugin = plugin_at(NO_PLUGIN);
    let err = tunnel::tunnel(
        &aws,
        &plugin,
        &prod,
        DataStore::Postgres,
        None,
        Some("orders"),
        POLL,
        std::future::pending(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("cannot tunnel through orders: service orders has ECS Exec off in env prod"),
        "{err}"
    );
    assert!(
        err.contains("`exec = true` under [env.prod.services.orders]"),
        "{err}"
    );
    assert!(err.contains("pass `--via debug`"), "{err}");
    let err = tunnel::tunnel(
        &aws,
        &plugin,
        &prod,
        DataStore::Postgres,
        None,
        None,
        POLL,
        std::future::pending(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains(
            "every service that uses postgres (orders, products, users) has ECS Exec off in env prod"
        ),
        "{err}"
    );
    assert!(err.contains("`--via debug`"), "{err}");
    assert_eq!(
        (instances.num_calls(), list.num_calls(), start.num_calls()),
        (0, 0, 0),
        "refused before any AWS call"
    );

    // With exec turned on for one consumer, the default relay is that one, and the
    // refusal of another names it.
    let mut incident = prod.clone();
    incident.services.get_mut("products").unwrap().exec = Some(true);
    assert_eq!(
        tunnel::relay_services(&incident, DataStore::Postgres, None).unwrap(),
        ["products"]
    );
    let err = tunnel::relay_services(&incident, DataStore::Postgres, Some("users"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("or --via one of: products (exec on)"), "{err}");
    assert_eq!(
        tunnel::relay(&prod, DataStore::Postgres, Some("debug")).unwrap(),
        tunnel::Relay::DebugTask
    );
}

#[tokio::test]
async fn tunnel_needs_a_relay_whose_exec_agent_runs() {
    let (instances, _) = postgres_instances();
    let list = mock!(aws_sdk_ecs::Client::list_tasks)
        .then_output(|| ListTasksOutput::builder().task_arns(TASK_ARN).build());
    let describe = mock!(aws_sdk_ecs::Client::describe_tasks).then_output(|| {
        DescribeTasksOutput::builder()
            .tasks(orders_task_with_agent(Some(exec_agent("PENDING"))))
            .build()
    });
    let start = mock!(aws_sdk_ssm::Client::start_session).then_output(start_session_ok);
    let mut aws = shop_aws();
    aws.rds = mocked_client!(aws_sdk_rds, [&instances]);
    aws.ecs = mocked_client!(aws_sdk_ecs, [&list, &describe]);
    aws.ssm = mocked_client!(aws_sdk_ssm, [&start]);
    let plugin = plugin_at(NO_PLUGIN);
    let err = tunnel::tunnel(
        &aws,
        &plugin,
        &shop_config(),
        DataStore::Postgres,
        None,
        Some("orders"),
        POLL,
        std::future::pending(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("no running task to tunnel through"), "{err}");
    assert!(err.contains("orders: the ExecuteCommandAgent"), "{err}");
    assert!(err.contains("is PENDING"), "{err}");
    assert_eq!(
        start.num_calls(),
        0,
        "no StartSession without a running agent"
    );
}

#[tokio::test]
async fn tunnel_via_debug_forwards_through_a_debug_task_and_stops_it_afterwards() {
    let mocks = debug_mocks(vec![
        debug_task("PROVISIONING", "PENDING"),
        debug_task("RUNNING", "RUNNING"),
    ]);
    let (instances, _) = postgres_instances();
    let (sessions, record_session) = capture::<StartSessionInput>();
    let start = mock!(aws_sdk_ssm::Client::start_session)
        .match_requests(record_session)
        .then_output(start_session_ok);
    let mut aws = mocked_debug_aws(&mocks);
    aws.rds = mocked_client!(aws_sdk_rds, [&instances]);
    aws.ssm = mocked_client!(aws_sdk_ssm, [&start]);
    let dir = tempfile::tempdir().unwrap();
    let plugin = plugin_at(fake_plugin(dir.path()));
    let prod_like = StackConfig::load(&repo_config_dir(), "shop", "prod").unwrap();
    let code = tunnel::tunnel(
        &aws,
        &plugin,
        &prod_like,
        DataStore::Postgres,
        Some(15432),
        Some("debug"),
        POLL,
        std::future::pending(),
    )
    .await
    .unwrap();
    assert_eq!(code, 7, "the plugin's exit code");
    assert_eq!(
        *mocks.calls.lock().unwrap(),
        ["RunTask", "DescribeTasks", "DescribeTasks", "StopTask"],
        "the session starts once the agent runs; no ExecuteCommand; StopTask afterwards"
    );
    let runs = mocks.run_requests.lock().unwrap().clone();
    assert_eq!(runs[0].task_definition(), Some("shop-dev-taskdef-debug"));
    assert_eq!(runs[0].enable_execute_command(), Some(true));
    let vpc = runs[0]
        .network_configuration()
        .and_then(|n| n.awsvpc_configuration())
        .unwrap();
    assert_eq!(vpc.security_groups(), ["sg-debug1"]);
    let sessions = sessions.lock().unwrap().clone();
    assert_eq!(sessions.len(), 1);
    assert_eq!(
        sessions[0].target(),
        Some("ecs:shop-dev-cluster_9a8b7c6d5e4f_9a8b7c6d5e4f-1234567890")
    );
    assert_eq!(
        sessions[0].document_name(),
        Some("AWS-StartPortForwardingSessionToRemoteHost")
    );
    assert_eq!(
        sessions[0].parameters().unwrap()["localPortNumber"],
        ["15432"]
    );
    assert_stopped_once(&mocks);
}

#[test]
fn debug_and_tunnel_check_config_and_plugin_before_calling_aws() {
    for args in [
        &["debug"][..],
        &["tunnel", "redis"],
        &["tunnel", "redis", "--via", "debug"],
        &["debug", "--", "psql"],
    ] {
        let out = provision_without_plugin(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("`session-manager-plugin` is not on PATH"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("could not reach AWS"), "{stderr}");
    }
    let out = provision_without_plugin_on("sums", &["tunnel", "postgres"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("stack sums has no postgres"), "{stderr}");
    let out = provision_without_plugin(&["tunnel", "redis", "--via", "nope"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("has no service nope"), "{stderr}");
    // Exec is off in prod by default: refused from config, before the plugin or AWS.
    let out = provision_without_plugin(&["--env", "prod", "tunnel", "redis"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("has ECS Exec off in env prod"), "{stderr}");
    assert!(!stderr.contains("session-manager-plugin"), "{stderr}");
    let out = provision_without_plugin(&["tunnel", "mysql"]);
    assert_eq!(out.status.code(), Some(2), "clap rejects unknown stores");
}
