use super::*;
use crate::config::{repo_config_dir, GithubConfig, StackConfig, STACKS};
use crate::constructs::expand;

fn template_of(config: &StackConfig) -> Value {
    cloudformation(&config.stack, &config.env, &expand(config)).expect("the stack synthesizes")
}

fn shipped() -> Vec<StackConfig> {
    let mut configs = Vec::new();
    for stack in STACKS {
        for env in ["dev", "prod"] {
            configs.push(StackConfig::load(&repo_config_dir(), stack, env).unwrap());
        }
    }
    configs
}

/// voting with every optional part switched on: HTTPS, a test listener, an alarm topic,
/// GitHub's OIDC provider and deploy role.
fn kitchen_sink() -> StackConfig {
    let mut config = StackConfig::load(&repo_config_dir(), "voting", "prod").unwrap();
    config.alb.certificate_arn = Some("arn:aws:acm:eu-west-1:111122223333:certificate/abc".into());
    config.alb.test_listener_port = Some(8443);
    config.alb.test_cidrs = vec!["203.0.113.0/24".into()];
    config.alarms.topic = Some("voting-prod-alarms".into());
    config.github = Some(GithubConfig {
        repository: "acme/slipway".into(),
        branch: None,
        oidc_provider_arn: None,
    });
    config
}

fn all_configs() -> Vec<StackConfig> {
    let mut configs = shipped();
    configs.push(kitchen_sink());
    configs
}

fn resources(template: &Value) -> &Map<String, Value> {
    template["Resources"].as_object().unwrap()
}

#[test]
fn every_resource_is_in_the_template_and_every_reference_resolves() {
    for config in all_configs() {
        let label = config.prefix();
        let expanded = expand(&config);
        let template = template_of(&config);
        let resources = resources(&template);
        for resource in &expanded {
            let rendered = resources
                .get(&logical_id(&resource.id))
                .unwrap_or_else(|| panic!("{label}: {} is missing", resource.id));
            assert_eq!(rendered["Metadata"]["slipway:id"], json!(resource.id));
        }
        let referenced = referenced_ids(&template);
        assert!(!referenced.is_empty());
        for (target, by) in &referenced {
            assert!(
                resources.contains_key(target),
                "{label}: {by:?} refer to {target}, which is not in the template"
            );
        }
        // Every dependency of the graph is a reference or DependsOn in the template.
        let kind_of = |id: &str| expanded.iter().find(|r| r.id == id).unwrap().kind();
        for resource in &expanded {
            let logical = logical_id(&resource.id);
            for dependency in resource.dependencies() {
                // The one reference rendered without naming its target: a scalable target's
                // ARN in a policy is the account's scalable targets (README: synth).
                if resource.kind() == Kind::Role && kind_of(&dependency) == Kind::ScalableTarget {
                    continue;
                }
                let dependency = logical_id(&dependency);
                assert!(
                    referenced
                        .get(&dependency)
                        .is_some_and(|by| by.iter().any(|b| b == &logical
                            || resources[b]["Metadata"]["slipway:id"] == json!(resource.id))),
                    "{label}: {} depends on {dependency}, but the template does not say so",
                    resource.id
                );
            }
        }
    }
}

/// CloudFormation types without a `Tags` property.
const UNTAGGABLE: [&str; 5] = [
    "AWS::EC2::VPCGatewayAttachment",
    "AWS::EC2::Route",
    "AWS::EC2::SubnetRouteTableAssociation",
    "AWS::ApplicationAutoScaling::ScalingPolicy",
    "AWS::Logs::MetricFilter",
];

#[test]
fn every_taggable_resource_carries_the_ownership_tags() {
    for config in all_configs() {
        let template = template_of(&config);
        for (logical, resource) in resources(&template) {
            let kind = resource["Type"].as_str().unwrap();
            if UNTAGGABLE.contains(&kind) {
                assert!(resource["Properties"].get("Tags").is_none(), "{logical}");
                continue;
            }
            let tags: BTreeMap<&str, &str> = resource["Properties"]["Tags"]
                .as_array()
                .unwrap_or_else(|| panic!("{logical} ({kind}) has no tags"))
                .iter()
                .map(|t| (t["Key"].as_str().unwrap(), t["Value"].as_str().unwrap()))
                .collect();
            let id = resource["Metadata"]["slipway:id"].as_str().unwrap();
            assert_eq!(tags[tags::STACK], config.stack, "{logical}");
            assert_eq!(tags[tags::ENV], config.env, "{logical}");
            assert_eq!(tags[tags::ID], id, "{logical}");
            assert_eq!(tags[tags::MANAGED_BY], tags::SLIPWAY, "{logical}");
        }
    }
}

#[test]
fn names_follow_stack_env_id() {
    let config = kitchen_sink();
    let template = template_of(&config);
    let name_fields = [
        "GroupName",
        "RepositoryName",
        "LogGroupName",
        "RoleName",
        "ClusterName",
        "Name",
        "ServiceName",
        "Family",
        "ReplicationGroupId",
        "CacheSubnetGroupName",
        "DBSubnetGroupName",
        "DBInstanceIdentifier",
        "PolicyName",
        "AlarmName",
        "FilterName",
    ];
    let mut checked = 0;
    for resource in resources(&template).values() {
        let id = resource["Metadata"]["slipway:id"].as_str().unwrap();
        for field in name_fields {
            match (
                resource["Type"].as_str().unwrap(),
                &resource["Properties"][field],
            ) {
                // Named by config, as `up` names them.
                ("AWS::ServiceDiscovery::HttpNamespace", _) | ("AWS::Logs::MetricFilter", _)
                    if field == "Name" || field == "LogGroupName" => {}
                (_, Value::String(name)) => {
                    assert_eq!(name, &format!("voting-prod-{id}"), "{field} of {id}");
                    checked += 1;
                }
                _ => {}
            }
        }
    }
    assert!(checked > 50, "only {checked} names checked");
    let dashboard = &resources(&template)["Dashboard"]["Properties"];
    assert_eq!(dashboard["DashboardName"], "voting-prod");
}

fn find<'t>(template: &'t Value, id: &str) -> &'t Value {
    &resources(template)[&logical_id(id)]["Properties"]
}

#[test]
fn closed_egress_is_a_rule_that_matches_nothing() {
    let template = template_of(&StackConfig::load(&repo_config_dir(), "voting", "dev").unwrap());
    for store in ["sg-redis", "sg-postgres"] {
        let egress = &find(&template, store)["SecurityGroupEgress"];
        assert_eq!(egress.as_array().unwrap().len(), 1);
        assert_eq!(egress[0]["CidrIp"], "255.255.255.255/32", "{store}");
        assert_eq!(egress[0]["IpProtocol"], "icmp");
    }
    let vote = find(&template, "sg-vote");
    assert_eq!(
        vote["SecurityGroupEgress"],
        json!([{ "IpProtocol": "-1", "CidrIp": "0.0.0.0/0" }])
    );
    assert_eq!(
        vote["SecurityGroupIngress"],
        json!([{ "IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080,
                 "SourceSecurityGroupId": { "Fn::GetAtt": ["SgAlb", "GroupId"] } }])
    );
}

#[test]
fn roles_carry_the_trust_and_inline_policy_registry_writes() {
    let config = kitchen_sink();
    let template = template_of(&config);
    let execution = find(&template, "role-execution-debug");
    assert_eq!(execution["Path"], "/slipway/voting/prod/");
    assert_eq!(
        execution["AssumeRolePolicyDocument"]["Statement"][0],
        json!({"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"})
    );
    let policy = &execution["Policies"][0];
    assert_eq!(policy["PolicyName"], registry::POLICY_NAME);
    let statements = policy["PolicyDocument"]["Statement"].as_array().unwrap();
    let logs = statements
        .iter()
        .find(|s| s["Action"][0] == "logs:CreateLogStream")
        .unwrap();
    assert_eq!(
        logs["Resource"][0],
        json!({"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${LogsDebug}:*"})
    );
    let github = find(&template, "role-github-deploy");
    let trust = &github["AssumeRolePolicyDocument"]["Statement"][0];
    assert_eq!(
        trust["Principal"]["Federated"],
        json!({"Ref": "GithubOidc"})
    );
    assert_eq!(
        trust["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"],
        json!(["repo:acme/slipway:environment:voting-prod"])
    );
    assert_eq!(
        trust["Condition"]["StringEquals"]["token.actions.githubusercontent.com:aud"],
        "sts.amazonaws.com"
    );
    // The number of statements matches the spec's.
    let Some(Spec::Role(spec)) = expand(&config)
        .into_iter()
        .find(|r| r.id == "role-github-deploy")
        .map(|r| r.spec)
    else {
        panic!()
    };
    let rendered = github["Policies"][0]["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap();
    assert_eq!(rendered.len(), spec.statements.len());
    for (statement, spec) in rendered.iter().zip(&spec.statements) {
        assert_eq!(statement["Action"], json!(spec.actions));
        assert_eq!(
            statement["Resource"].as_array().unwrap().len(),
            spec.resources.len()
        );
        // Conditions (PassRole's iam:PassedToService, the request tags) as `up` writes them.
        assert_eq!(statement.get("Condition"), spec.condition_json().as_ref());
    }
}

#[test]
fn url_secrets_are_built_from_endpoints_and_dynamic_references() {
    let template = template_of(&StackConfig::load(&repo_config_dir(), "voting", "dev").unwrap());
    assert_eq!(
        find(&template, "redis-auth")["GenerateSecretString"],
        json!({"PasswordLength": 64, "ExcludePunctuation": true})
    );
    assert_eq!(
        find(&template, "redis-url")["SecretString"],
        json!({"Fn::Sub": "rediss://:{{resolve:secretsmanager:${RedisAuth}:SecretString}}@${Redis.PrimaryEndPoint.Address}:6379"})
    );
    assert_eq!(
        find(&template, "database-url")["SecretString"],
        json!({"Fn::Sub": "postgres://slipway:{{resolve:secretsmanager:${Postgres.MasterUserSecret.SecretArn}:SecretString:password}}@${Postgres.Endpoint.Address}:5432/votes?sslmode=require"})
    );
    assert_eq!(
        find(&template, "redis")["AuthToken"],
        json!({"Fn::Sub": "{{resolve:secretsmanager:${RedisAuth}:SecretString}}"})
    );
}

#[test]
fn blue_green_rules_forward_to_both_groups_by_weight() {
    let template = template_of(&kitchen_sink());
    for rule in ["rule-vote", "rule-vote-test"] {
        assert_eq!(
            find(&template, rule)["Actions"],
            json!([{"Type": "forward", "ForwardConfig": {"TargetGroups": [
                {"TargetGroupArn": {"Ref": "TgVote"}, "Weight": 100},
                {"TargetGroupArn": {"Ref": "TgVoteAlt"}, "Weight": 0},
            ]}}])
        );
    }
    assert_eq!(
        find(&template, "listener-http")["DefaultActions"][0]["Type"],
        "redirect"
    );
    assert_eq!(
        find(&template, "listener-https")["Certificates"],
        json!([{"CertificateArn": "arn:aws:acm:eu-west-1:111122223333:certificate/abc"}])
    );
    // Both HTTPS listeners (the shared one and result's own) accept TLS 1.2 and 1.3 only;
    // the plain HTTP ones (the redirect, the test listener) have no policy.
    for (id, policy) in [
        (
            "listener-https",
            json!("ELBSecurityPolicy-TLS13-1-2-2021-06"),
        ),
        (
            "listener-port-result",
            json!("ELBSecurityPolicy-TLS13-1-2-2021-06"),
        ),
        ("listener-http", Value::Null),
        ("listener-test", Value::Null),
    ] {
        assert_eq!(find(&template, id)["SslPolicy"], policy, "{id}");
    }
    assert_eq!(
        find(&template, "scaling-vote-requests")["TargetTrackingScalingPolicyConfiguration"]
            ["PredefinedMetricSpecification"]["ResourceLabel"],
        json!({"Fn::Sub": "${Alb.LoadBalancerFullName}/${TgVote.TargetGroupFullName}"})
    );
}

#[test]
fn dashboard_references_become_sub_variables_and_literals_stay_literal() {
    let template = template_of(&StackConfig::load(&repo_config_dir(), "voting", "dev").unwrap());
    let body = find(&template, "dashboard")["DashboardBody"]["Fn::Sub"]
        .as_str()
        .unwrap();
    assert!(body.contains("${TgVote.TargetGroupFullName}"), "{body}");
    assert!(body.contains("${AWS::Region}"));
    assert!(!body.contains("${tg-vote}"));
    let variables = sub_variables(body);
    assert!(variables.contains(&"Cluster".to_owned()));
}

#[test]
fn a_reference_to_a_missing_resource_is_an_error() {
    let resources = vec![Resource {
        id: "igw".into(),
        spec: Spec::InternetGateway(InternetGatewaySpec {
            vpc: Ref::to("vpc"),
        }),
        after: Vec::new(),
    }];
    let err = cloudformation("s", "e", &resources).unwrap_err();
    assert!(
        matches!(err, SynthError::UnknownReference { ref target, .. } if target == "vpc"),
        "{err}"
    );
}

#[test]
fn ids_that_collide_as_logical_ids_are_an_error() {
    let log = |id: &str| Resource {
        id: id.into(),
        spec: Spec::LogGroup(LogGroupSpec { retention_days: 7 }),
        after: Vec::new(),
    };
    let err = cloudformation("s", "e", &[log("logs-a"), log("logs_a")]).unwrap_err();
    assert!(
        matches!(err, SynthError::LogicalIdCollision { .. }),
        "{err}"
    );
}

#[test]
fn logical_ids_and_sub_variables() {
    assert_eq!(logical_id("subnet-public-a"), "SubnetPublicA");
    assert_eq!(logical_id("alarm-vote-5xx"), "AlarmVote5xx");
    assert_eq!(
        sub_variables("a ${X} ${!literal} ${Y.Endpoint.Address} ${AWS::Region}"),
        ["X", "Y", "AWS::Region"]
    );
    assert_eq!(escape_sub("${x}"), "${!x}");
}
