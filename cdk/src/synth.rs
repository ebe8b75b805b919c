//! `provision synth`: the expanded stack as a CloudFormation template (JSON). Pure: the
//! same [`Resource`]s `up` applies, rendered kind by kind into the `AWS::*` resources that
//! mean the same thing, with the names, tags and settings the AWS layer (`aws/*.rs`) sends.
//!
//! Every render function destructures its spec without `..`: a field added to a spec and
//! not rendered here does not compile.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Map, Value};

use crate::model::*;
use crate::names::resource_name;
use crate::settings::{autoscaling, ecs, elb, rds, registry, secrets, tags};

/// What keeps a stack from becoming a template.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// A `${id}` names no resource of the stack.
    #[error("{resource}: refers to `{target}`, which is not a resource of the stack; fix the reference in the stack's constructs")]
    UnknownReference {
        /// The resource holding the reference.
        resource: String,
        /// The logical id it names.
        target: String,
    },
    /// A reference needs an attribute CloudFormation has no `Ref`/`Fn::GetAtt` for.
    #[error("{resource}: needs the {attribute} of `{target}` ({kind}), which CloudFormation does not expose; render it another way in synth.rs")]
    NoAttribute {
        /// The resource holding the reference.
        resource: String,
        /// The logical id it names.
        target: String,
        /// The target's kind label.
        kind: &'static str,
        /// The attribute needed (`id`, `arn`, `name`…).
        attribute: &'static str,
    },
    /// Two Slipway ids map to the same CloudFormation logical id (see [`logical_id`]).
    #[error("`{first}` and `{second}` both become the CloudFormation logical id `{logical}`; rename one of them")]
    LogicalIdCollision {
        /// One of the Slipway ids.
        first: String,
        /// The other.
        second: String,
        /// The logical id both become.
        logical: String,
    },
}

/// The CloudFormation logical id of a Slipway id: alphanumeric, `subnet-public-a` →
/// `SubnetPublicA` (logical ids allow only `[A-Za-z0-9]`).
pub fn logical_id(id: &str) -> String {
    id.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// The value of an attribute of another resource, as CloudFormation expresses it.
#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Literal(String),
    Ref(String),
    GetAtt(String, &'static str),
    /// A `Fn::Sub` template (variables already in `${…}` form).
    Sub(String),
}

impl Expr {
    fn value(&self) -> Value {
        match self {
            Expr::Literal(s) => Value::String(s.clone()),
            Expr::Ref(logical) => json!({ "Ref": logical }),
            Expr::GetAtt(logical, attribute) => json!({ "Fn::GetAtt": [logical, attribute] }),
            Expr::Sub(template) => json!({ "Fn::Sub": template }),
        }
    }

    /// The text this value contributes to a `Fn::Sub` template.
    fn sub_text(&self) -> String {
        match self {
            Expr::Literal(s) => escape_sub(s),
            Expr::Ref(logical) => format!("${{{logical}}}"),
            Expr::GetAtt(logical, attribute) => format!("${{{logical}.{attribute}}}"),
            Expr::Sub(template) => template.clone(),
        }
    }
}

/// A literal inside `Fn::Sub`: `${` is written `${!` so it stays literal.
fn escape_sub(text: &str) -> String {
    text.replace("${", "${!")
}

/// Concatenation of values: a plain string when all are literal, else one `Fn::Sub`.
fn join(parts: &[Expr]) -> Value {
    if parts.iter().all(|p| matches!(p, Expr::Literal(_))) {
        let text: String = parts
            .iter()
            .map(|p| match p {
                Expr::Literal(s) => s.as_str(),
                _ => "",
            })
            .collect();
        return Value::String(text);
    }
    json!({ "Fn::Sub": parts.iter().map(Expr::sub_text).collect::<String>() })
}

/// Which value of a referenced resource a field takes (the AWS layer's attribute keys).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Attr {
    Id,
    Arn,
    Name,
    Uri,
    Endpoint,
    /// The label CloudWatch dimensions use: `app/…` for load balancers, `targetgroup/…`
    /// for target groups, the name for everything else.
    Dimension,
    MasterSecret,
}

impl Attr {
    fn label(self) -> &'static str {
        match self {
            Attr::Id => "id",
            Attr::Arn => "ARN",
            Attr::Name => "name",
            Attr::Uri => "URI",
            Attr::Endpoint => "endpoint",
            Attr::Dimension => "CloudWatch dimension value",
            Attr::MasterSecret => "master user secret",
        }
    }
}

const ACCOUNT_ARN_PREFIX: &str = "arn:${AWS::Partition}";

/// Renders a stack's resources as a CloudFormation template.
pub fn cloudformation(stack: &str, env: &str, resources: &[Resource]) -> Result<Value, SynthError> {
    let mut synth = Synth {
        stack,
        env,
        by_id: resources.iter().map(|r| (r.id.as_str(), r)).collect(),
        out: Map::new(),
        parameters: Map::new(),
        owners: HashMap::new(),
        current: String::new(),
    };
    for resource in resources {
        synth.resource(resource)?;
    }
    let mut template = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!(
            "Slipway stack {stack}-{env}: synthesized by `provision synth` from the same expansion `provision up` applies"
        ),
        "Resources": Value::Object(synth.out),
    });
    if !synth.parameters.is_empty() {
        template["Parameters"] = Value::Object(synth.parameters);
    }
    Ok(template)
}

struct Synth<'a> {
    stack: &'a str,
    env: &'a str,
    by_id: HashMap<&'a str, &'a Resource>,
    out: Map<String, Value>,
    /// Template parameters: what `up` looks up in the account (a `[domain]`'s hosted
    /// zone when no `zone_id` names it).
    parameters: Map<String, Value>,
    /// Logical id → the Slipway id that produced it (collision detection).
    owners: HashMap<String, String>,
    /// The Slipway id being rendered (for error messages).
    current: String,
}

/// One CloudFormation resource before it is added.
struct Cfn {
    logical: String,
    kind: &'static str,
    properties: Value,
    depends_on: Vec<String>,
    /// `DeletionPolicy` / `UpdateReplacePolicy`.
    retain: Option<&'static str>,
}

impl Cfn {
    fn new(logical: String, kind: &'static str, properties: Value) -> Self {
        Cfn {
            logical,
            kind,
            properties,
            depends_on: Vec::new(),
            retain: None,
        }
    }
}

impl<'a> Synth<'a> {
    fn name(&self, id: &str) -> String {
        resource_name(self.stack, self.env, id)
    }

    /// The four ownership tags, plus `extra` (EC2's `Name`, ECS's configured count).
    fn tags(&self, id: &str, extra: &[(&str, String)]) -> Value {
        let mut list: Vec<Value> = tags::ownership(self.stack, self.env, id)
            .into_iter()
            .map(|(key, value)| json!({ "Key": key, "Value": value }))
            .collect();
        list.extend(
            extra
                .iter()
                .map(|(key, value)| json!({ "Key": key, "Value": value })),
        );
        Value::Array(list)
    }

    /// EC2 resources also carry `Name` (the console shows it), as `ec2.rs` tags them.
    fn ec2_tags(&self, id: &str) -> Value {
        self.tags(id, &[("Name", self.name(id))])
    }

    fn add(&mut self, cfn: Cfn) -> Result<(), SynthError> {
        let Cfn {
            logical,
            kind,
            properties,
            depends_on,
            retain,
        } = cfn;
        if let Some(first) = self.owners.get(&logical) {
            return Err(SynthError::LogicalIdCollision {
                first: first.clone(),
                second: self.current.clone(),
                logical,
            });
        }
        self.owners.insert(logical.clone(), self.current.clone());
        let mut body = Map::new();
        body.insert("Type".into(), json!(kind));
        body.insert("Properties".into(), properties);
        body.insert("Metadata".into(), json!({ "slipway:id": self.current }));
        if !depends_on.is_empty() {
            body.insert("DependsOn".into(), json!(depends_on));
        }
        if let Some(policy) = retain {
            body.insert("DeletionPolicy".into(), json!(policy));
            body.insert("UpdateReplacePolicy".into(), json!(policy));
        }
        self.out.insert(logical, Value::Object(body));
        Ok(())
    }

    fn target(&self, id: &str) -> Result<&'a Resource, SynthError> {
        self.by_id
            .get(id)
            .copied()
            .ok_or_else(|| SynthError::UnknownReference {
                resource: self.current.clone(),
                target: id.to_owned(),
            })
    }

    /// `attr` of what `reference` points at; literal values (CIDRs, external ARNs) pass
    /// through, as `Resolved::get` lets them.
    fn get(&self, reference: &Ref, attr: Attr) -> Result<Expr, SynthError> {
        let Some(id) = reference.logical_id() else {
            return Ok(Expr::Literal(reference.0.clone()));
        };
        let target = self.target(id)?;
        let logical = logical_id(id);
        let kind = target.kind();
        let attr = match (attr, kind) {
            (Attr::Dimension, Kind::LoadBalancer | Kind::TargetGroup) => Attr::Dimension,
            (Attr::Dimension, _) => Attr::Name,
            (other, _) => other,
        };
        let get_att = |attribute| Ok(Expr::GetAtt(logical.clone(), attribute));
        let by_ref = || Ok(Expr::Ref(logical.clone()));
        match (kind, attr) {
            (
                Kind::Vpc | Kind::Subnet | Kind::InternetGateway | Kind::NatGateway | Kind::RouteTable,
                Attr::Id,
            ) => by_ref(),
            (Kind::SecurityGroup, Attr::Id) => get_att("GroupId"),
            (Kind::Repository, Attr::Arn) => get_att("Arn"),
            (Kind::Repository, Attr::Uri) => get_att("RepositoryUri"),
            (Kind::Repository | Kind::Role | Kind::Cluster, Attr::Name) => by_ref(),
            // The AWS layer's log group ARN has no `:*` (CloudFormation's `Arn` has one).
            (Kind::LogGroup, Attr::Arn) => Ok(Expr::Sub(format!(
                "{ACCOUNT_ARN_PREFIX}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:${{{logical}}}"
            ))),
            (Kind::Role | Kind::Cluster | Kind::Namespace | Kind::Alarm, Attr::Arn) => {
                get_att("Arn")
            }
            (Kind::Namespace, Attr::Id) => get_att("Id"),
            (Kind::ScalableTarget, Attr::Id) => by_ref(),
            (
                Kind::LoadBalancer
                | Kind::TargetGroup
                | Kind::Listener
                | Kind::ListenerRule
                | Kind::TaskDefinition
                | Kind::Service
                | Kind::Secret
                | Kind::OidcProvider
                | Kind::Topic
                | Kind::ScalingPolicy
                | Kind::Certificate,
                Attr::Arn,
            ) => by_ref(),
            (Kind::LoadBalancer, Attr::Dimension) => get_att("LoadBalancerFullName"),
            (Kind::TargetGroup, Attr::Dimension) => get_att("TargetGroupFullName"),
            (Kind::LoadBalancer, Attr::Name) => get_att("LoadBalancerName"),
            (Kind::TargetGroup, Attr::Name) => get_att("TargetGroupName"),
            (Kind::Service, Attr::Name) => get_att("Name"),
            (
                Kind::LogGroup
                | Kind::CacheSubnetGroup
                | Kind::DbSubnetGroup
                | Kind::ReplicationGroup
                | Kind::DbInstance
                | Kind::Dashboard
                | Kind::Alarm
                | Kind::MetricFilter,
                Attr::Name,
            ) => by_ref(),
            (Kind::Topic, Attr::Name) => get_att("TopicName"),
            (Kind::ReplicationGroup, Attr::Endpoint) => get_att("PrimaryEndPoint.Address"),
            (Kind::DbInstance, Attr::Endpoint) => get_att("Endpoint.Address"),
            (Kind::DbInstance, Attr::Arn) => get_att("DBInstanceArn"),
            (Kind::DbInstance, Attr::MasterSecret) => get_att("MasterUserSecret.SecretArn"),
            // CloudFormation exposes no ARN for a scalable target (only its generated id),
            // and scalable-target ARNs end in a random id: the account's scalable targets.
            (Kind::ScalableTarget, Attr::Arn) => Ok(Expr::Sub(format!(
                "{ACCOUNT_ARN_PREFIX}:application-autoscaling:${{AWS::Region}}:${{AWS::AccountId}}:scalable-target/*"
            ))),
            (kind, attr) => Err(SynthError::NoAttribute {
                resource: self.current.clone(),
                target: id.to_owned(),
                kind: kind.label(),
                attribute: attr.label(),
            }),
        }
    }

    fn value(&self, reference: &Ref, attr: Attr) -> Result<Value, SynthError> {
        Ok(self.get(reference, attr)?.value())
    }

    fn values(&self, references: &[Ref], attr: Attr) -> Result<Value, SynthError> {
        references
            .iter()
            .map(|r| self.value(r, attr))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array)
    }

    /// A reference where a secret is expected (`Resolved::secret_arn`): an RDS instance
    /// means its managed master secret.
    fn secret_ref(&self, reference: &Ref) -> Result<Expr, SynthError> {
        match self.spec_of(reference)? {
            Some(Spec::DbInstance(_)) => self.get(reference, Attr::MasterSecret),
            _ => self.get(reference, Attr::Arn),
        }
    }

    /// An environment value (`Resolved::environment_value`): `${id}` is an RDS instance's
    /// endpoint or another resource's ARN; anything else is literal.
    fn environment_value(&self, value: &str) -> Result<Value, SynthError> {
        let reference = Ref(value.to_owned());
        Ok(match self.spec_of(&reference)? {
            Some(Spec::DbInstance(_)) => self.value(&reference, Attr::Endpoint)?,
            Some(_) => self.value(&reference, Attr::Arn)?,
            None => Value::String(value.to_owned()),
        })
    }

    fn spec_of(&self, reference: &Ref) -> Result<Option<&'a Spec>, SynthError> {
        match reference.logical_id() {
            Some(id) => Ok(Some(&self.target(id)?.spec)),
            None => Ok(None),
        }
    }

    fn resource(&mut self, resource: &Resource) -> Result<(), SynthError> {
        let Resource { id, spec, after } = resource;
        self.current = id.clone();
        let mut primary = match spec {
            Spec::Vpc(s) => self.vpc(id, s),
            Spec::InternetGateway(s) => self.internet_gateway(id, s)?,
            Spec::Subnet(s) => self.subnet(id, s)?,
            Spec::NatGateway(s) => self.nat_gateway(id, s)?,
            Spec::RouteTable(s) => self.route_table(id, s)?,
            Spec::SecurityGroup(s) => self.security_group(id, s)?,
            Spec::Repository(s) => self.repository(id, s),
            Spec::LogGroup(s) => self.log_group(id, s),
            Spec::Role(s) => self.role(id, s)?,
            Spec::Cluster(s) => self.cluster(id, s),
            Spec::Namespace(s) => self.namespace(id, s),
            Spec::LoadBalancer(s) => self.load_balancer(id, s)?,
            Spec::TargetGroup(s) => self.target_group(id, s)?,
            Spec::Certificate(s) => self.certificate(id, s),
            Spec::DnsRecord(s) => self.dns_record(id, s)?,
            Spec::Listener(s) => self.listener(id, s)?,
            Spec::ListenerRule(s) => self.listener_rule(id, s)?,
            Spec::Secret(s) => self.secret(id, s)?,
            Spec::CacheSubnetGroup(s) => self.cache_subnet_group(id, s)?,
            Spec::ReplicationGroup(s) => self.replication_group(id, s)?,
            Spec::DbSubnetGroup(s) => self.db_subnet_group(id, s)?,
            Spec::DbInstance(s) => self.db_instance(id, s)?,
            Spec::TaskDefinition(s) => self.task_definition(id, s)?,
            Spec::Service(s) => self.service(id, s)?,
            Spec::ScalableTarget(s) => self.scalable_target(id, s)?,
            Spec::ScalingPolicy(s) => self.scaling_policy(id, s)?,
            Spec::OidcProvider(s) => self.oidc_provider(id, s),
            Spec::Topic(s) => self.topic(id, s),
            Spec::Dashboard(s) => self.dashboard(id, s)?,
            Spec::Alarm(s) => self.alarm(id, s)?,
            Spec::MetricFilter(s) => self.metric_filter(id, s)?,
        };
        for other in after {
            self.target(other)?;
            primary.depends_on.push(logical_id(other));
        }
        self.add(primary)
    }

    // --- network -------------------------------------------------------------------

    fn vpc(&mut self, id: &str, spec: &VpcSpec) -> Cfn {
        let VpcSpec {
            cidr,
            dns_support,
            dns_hostnames,
        } = spec;
        Cfn::new(
            logical_id(id),
            "AWS::EC2::VPC",
            json!({
                "CidrBlock": cidr,
                "EnableDnsSupport": dns_support,
                "EnableDnsHostnames": dns_hostnames,
                "Tags": self.ec2_tags(id),
            }),
        )
    }

    fn internet_gateway(
        &mut self,
        id: &str,
        spec: &InternetGatewaySpec,
    ) -> Result<Cfn, SynthError> {
        let InternetGatewaySpec { vpc } = spec;
        let logical = logical_id(id);
        self.add(Cfn::new(
            gateway_attachment(id),
            "AWS::EC2::VPCGatewayAttachment",
            json!({
                "VpcId": self.value(vpc, Attr::Id)?,
                "InternetGatewayId": { "Ref": logical },
            }),
        ))?;
        Ok(Cfn::new(
            logical,
            "AWS::EC2::InternetGateway",
            json!({ "Tags": self.ec2_tags(id) }),
        ))
    }

    fn subnet(&mut self, id: &str, spec: &SubnetSpec) -> Result<Cfn, SynthError> {
        let SubnetSpec {
            vpc,
            cidr,
            az,
            public,
        } = spec;
        let vpc = self.value(vpc, Attr::Id)?;
        Ok(Cfn::new(
            logical_id(id),
            "AWS::EC2::Subnet",
            json!({
                "VpcId": vpc,
                "CidrBlock": cidr,
                // The AZ suffix in the region the stack is deployed to, as `ec2.rs` does.
                "AvailabilityZone": { "Fn::Sub": format!("${{AWS::Region}}{}", escape_sub(az)) },
                "MapPublicIpOnLaunch": public,
                "Tags": self.ec2_tags(id),
            }),
        ))
    }

    fn nat_gateway(&mut self, id: &str, spec: &NatGatewaySpec) -> Result<Cfn, SynthError> {
        let NatGatewaySpec { subnet } = spec;
        let logical = logical_id(id);
        // Its own Elastic IP, tagged with the NAT gateway's id (as `create_nat` does).
        let eip = format!("{logical}Eip");
        self.add(Cfn::new(
            eip.clone(),
            "AWS::EC2::EIP",
            json!({ "Domain": "vpc", "Tags": self.ec2_tags(id) }),
        ))?;
        Ok(Cfn::new(
            logical,
            "AWS::EC2::NatGateway",
            json!({
                "SubnetId": self.value(subnet, Attr::Id)?,
                "AllocationId": { "Fn::GetAtt": [eip, "AllocationId"] },
                "Tags": self.ec2_tags(id),
            }),
        ))
    }

    fn route_table(&mut self, id: &str, spec: &RouteTableSpec) -> Result<Cfn, SynthError> {
        let RouteTableSpec {
            vpc,
            default_route,
            subnets,
        } = spec;
        let logical = logical_id(id);
        let mut route = Cfn::new(
            format!("{logical}DefaultRoute"),
            "AWS::EC2::Route",
            json!({
                "RouteTableId": { "Ref": logical },
                "DestinationCidrBlock": "0.0.0.0/0",
            }),
        );
        let target = self.value(default_route, Attr::Id)?;
        // NAT gateways by NatGatewayId, internet gateways by GatewayId (as `ec2.rs` sends).
        let nat = match self.spec_of(default_route)? {
            Some(spec) => matches!(spec, Spec::NatGateway(_)),
            None => default_route.0.starts_with("nat-"),
        };
        let field = if nat { "NatGatewayId" } else { "GatewayId" };
        route.properties[field] = target;
        if let (false, Some(igw)) = (nat, default_route.logical_id()) {
            // A route through an internet gateway needs it attached to the VPC first.
            route.depends_on.push(gateway_attachment(igw));
        }
        self.add(route)?;
        for subnet in subnets {
            let suffix = subnet
                .logical_id()
                .map(logical_id)
                .unwrap_or_else(|| logical_id(&subnet.0));
            self.add(Cfn::new(
                format!("{logical}{suffix}Association"),
                "AWS::EC2::SubnetRouteTableAssociation",
                json!({
                    "RouteTableId": { "Ref": logical },
                    "SubnetId": self.value(subnet, Attr::Id)?,
                }),
            ))?;
        }
        Ok(Cfn::new(
            logical,
            "AWS::EC2::RouteTable",
            json!({ "VpcId": self.value(vpc, Attr::Id)?, "Tags": self.ec2_tags(id) }),
        ))
    }

    fn security_group(&mut self, id: &str, spec: &SecurityGroupSpec) -> Result<Cfn, SynthError> {
        let SecurityGroupSpec {
            vpc,
            description,
            ingress,
            egress_all,
        } = spec;
        let mut rules = Vec::new();
        for rule in ingress {
            let IngressRule { port, source } = rule;
            let mut entry = json!({ "IpProtocol": "tcp", "FromPort": port, "ToPort": port });
            // A group source by id, anything else as a CIDR (the test `ec2::permission` makes).
            let is_group = source.logical_id().is_some() || source.0.starts_with("sg-");
            if is_group {
                entry["SourceSecurityGroupId"] = self.value(source, Attr::Id)?;
            } else {
                entry["CidrIp"] = json!(source.0);
            }
            rules.push(entry);
        }
        let egress = if *egress_all {
            json!([{ "IpProtocol": "-1", "CidrIp": "0.0.0.0/0" }])
        } else {
            // A group without egress rules gets allow-all from CloudFormation; a rule that
            // matches nothing (AWS CDK's `allowAllOutbound: false`) keeps it closed.
            json!([{
                "IpProtocol": "icmp",
                "FromPort": 252,
                "ToPort": 86,
                "CidrIp": "255.255.255.255/32",
                "Description": "Disallow all traffic",
            }])
        };
        Ok(Cfn::new(
            logical_id(id),
            "AWS::EC2::SecurityGroup",
            json!({
                "GroupName": self.name(id),
                "GroupDescription": description,
                "VpcId": self.value(vpc, Attr::Id)?,
                "SecurityGroupIngress": rules,
                "SecurityGroupEgress": egress,
                "Tags": self.ec2_tags(id),
            }),
        ))
    }

    // --- platform ------------------------------------------------------------------

    fn repository(&mut self, id: &str, spec: &RepositorySpec) -> Cfn {
        let RepositorySpec {
            scan_on_push,
            immutable_tags,
            keep_images,
        } = spec;
        Cfn::new(
            logical_id(id),
            "AWS::ECR::Repository",
            json!({
                "RepositoryName": self.name(id),
                "ImageTagMutability": if *immutable_tags { "IMMUTABLE" } else { "MUTABLE" },
                "ImageScanningConfiguration": { "ScanOnPush": scan_on_push },
                "LifecyclePolicy": { "LifecyclePolicyText": registry::lifecycle_policy(*keep_images) },
                // `down` deletes repositories with their images (DeleteRepository force).
                "EmptyOnDelete": true,
                "Tags": self.tags(id, &[]),
            }),
        )
    }

    fn log_group(&mut self, id: &str, spec: &LogGroupSpec) -> Cfn {
        let LogGroupSpec { retention_days } = spec;
        Cfn::new(
            logical_id(id),
            "AWS::Logs::LogGroup",
            json!({
                "LogGroupName": self.name(id),
                "RetentionInDays": retention_days,
                "Tags": self.tags(id, &[]),
            }),
        )
    }

    fn role(&mut self, id: &str, spec: &RoleSpec) -> Result<Cfn, SynthError> {
        let RoleSpec {
            principal,
            web_identity,
            statements,
            managed_policies,
        } = spec;
        // The trust policy `registry::trust_policy` writes.
        let trust = match web_identity {
            None => json!({
                "Effect": "Allow",
                "Principal": { "Service": principal },
                "Action": "sts:AssumeRole",
            }),
            Some(trust) => {
                let WebIdentityTrust {
                    provider,
                    audience,
                    subjects,
                } = trust;
                // Condition keys are named after the issuer host (the provider ARN's end).
                let issuer = match self.spec_of(provider)? {
                    Some(Spec::OidcProvider(p)) => p.url.trim_start_matches("https://").to_owned(),
                    _ => provider
                        .0
                        .split_once(":oidc-provider/")
                        .map_or(String::new(), |(_, host)| host.to_owned()),
                };
                json!({
                    "Effect": "Allow",
                    "Principal": { "Federated": self.value(provider, Attr::Arn)? },
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": { "StringEquals": {
                        format!("{issuer}:aud"): audience,
                        format!("{issuer}:sub"): subjects,
                    }},
                })
            }
        };
        // The inline policy `registry::policy_document` writes.
        let mut policy = Vec::new();
        for statement in statements {
            let PolicyStatement {
                actions,
                resources,
                conditions: _,
            } = statement;
            let mut arns = Vec::new();
            for resource in resources {
                let (base, suffix) = match resource.strip_suffix(":*") {
                    Some(base) => (base, ":*"),
                    None => (resource.as_str(), ""),
                };
                let reference = Ref(base.to_owned());
                let arn = if actions.iter().all(|a| a.starts_with("secretsmanager:")) {
                    self.secret_ref(&reference)?
                } else {
                    self.get(&reference, Attr::Arn)?
                };
                arns.push(join(&[arn, Expr::Literal(suffix.to_owned())]));
            }
            let mut written = json!({ "Effect": "Allow", "Action": actions, "Resource": arns });
            if let Some(condition) = statement.condition_json() {
                written["Condition"] = condition;
            }
            policy.push(written);
        }
        let mut properties = json!({
            "RoleName": self.name(id),
            "Path": crate::names::role_path(self.stack, self.env),
            "AssumeRolePolicyDocument": { "Version": "2012-10-17", "Statement": [trust] },
            "Tags": self.tags(id, &[]),
        });
        // No inline policy when the role has no statements (IAM rejects an empty one; `up`
        // writes none either), and AWS managed policies by ARN.
        if !policy.is_empty() {
            properties["Policies"] = json!([{
                "PolicyName": registry::POLICY_NAME,
                "PolicyDocument": { "Version": "2012-10-17", "Statement": policy },
            }]);
        }
        if !managed_policies.is_empty() {
            properties["ManagedPolicyArns"] = json!(managed_policies);
        }
        Ok(Cfn::new(logical_id(id), "AWS::IAM::Role", properties))
    }

    fn oidc_provider(&mut self, id: &str, spec: &OidcProviderSpec) -> Cfn {
        let OidcProviderSpec { url, client_ids } = spec;
        Cfn::new(
            logical_id(id),
            "AWS::IAM::OIDCProvider",
            json!({ "Url": url, "ClientIdList": client_ids, "Tags": self.tags(id, &[]) }),
        )
    }

    fn cluster(&mut self, id: &str, spec: &ClusterSpec) -> Cfn {
        let ClusterSpec { container_insights } = spec;
        Cfn::new(
            logical_id(id),
            "AWS::ECS::Cluster",
            json!({
                "ClusterName": self.name(id),
                "ClusterSettings": [{
                    "Name": "containerInsights",
                    "Value": if *container_insights { "enabled" } else { "disabled" },
                }],
                "Tags": self.tags(id, &[]),
            }),
        )
    }

    fn namespace(&mut self, id: &str, spec: &NamespaceSpec) -> Cfn {
        let NamespaceSpec { name } = spec;
        Cfn::new(
            logical_id(id),
            "AWS::ServiceDiscovery::HttpNamespace",
            json!({ "Name": name, "Tags": self.tags(id, &[]) }),
        )
    }

    // --- load balancing --------------------------------------------------------------

    fn load_balancer(&mut self, id: &str, spec: &LoadBalancerSpec) -> Result<Cfn, SynthError> {
        let LoadBalancerSpec {
            scheme,
            subnets,
            security_groups,
            drop_invalid_headers,
        } = spec;
        Ok(Cfn::new(
            logical_id(id),
            "AWS::ElasticLoadBalancingV2::LoadBalancer",
            json!({
                "Name": self.name(id),
                "Type": "application",
                "Scheme": scheme,
                "Subnets": self.values(subnets, Attr::Id)?,
                "SecurityGroups": self.values(security_groups, Attr::Id)?,
                "LoadBalancerAttributes": [{
                    "Key": elb::DROP_INVALID_HEADERS,
                    "Value": drop_invalid_headers.to_string(),
                }],
                "Tags": self.tags(id, &[]),
            }),
        ))
    }

    fn target_group(&mut self, id: &str, spec: &TargetGroupSpec) -> Result<Cfn, SynthError> {
        let TargetGroupSpec {
            vpc,
            port,
            health_path,
            sticky,
        } = spec;
        // The attributes `elb::stickiness` sets.
        let mut attributes =
            vec![json!({ "Key": "stickiness.enabled", "Value": sticky.to_string() })];
        if *sticky {
            attributes.push(json!({ "Key": "stickiness.type", "Value": "lb_cookie" }));
        }
        Ok(Cfn::new(
            logical_id(id),
            "AWS::ElasticLoadBalancingV2::TargetGroup",
            json!({
                "Name": self.name(id),
                "Protocol": "HTTP",
                "Port": port,
                "VpcId": self.value(vpc, Attr::Id)?,
                "TargetType": "ip",
                "HealthCheckPath": health_path,
                "HealthCheckIntervalSeconds": elb::TARGET_HEALTH.interval_seconds,
                "HealthCheckTimeoutSeconds": elb::TARGET_HEALTH.timeout_seconds,
                "HealthyThresholdCount": elb::TARGET_HEALTH.healthy_threshold,
                "UnhealthyThresholdCount": elb::TARGET_HEALTH.unhealthy_threshold,
                "TargetGroupAttributes": attributes,
                "Tags": self.tags(id, &[]),
            }),
        ))
    }

    fn action(&self, action: &DefaultAction) -> Result<Value, SynthError> {
        Ok(match action {
            DefaultAction::Forward(target_group) => json!({
                "Type": "forward",
                "TargetGroupArn": self.value(target_group, Attr::Arn)?,
            }),
            DefaultAction::NotFound => json!({
                "Type": "fixed-response",
                "FixedResponseConfig": {
                    "StatusCode": elb::NOT_FOUND.status_code,
                    "ContentType": elb::NOT_FOUND.content_type,
                    "MessageBody": elb::NOT_FOUND.body,
                },
            }),
            DefaultAction::RedirectHttps => json!({
                "Type": "redirect",
                "RedirectConfig": { "Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301" },
            }),
        })
    }

    /// The hosted zone a `[domain]` spec names: its id, or a template parameter
    /// (`AWS::Route53::HostedZone::Id`, which CloudFormation's console offers as a list of
    /// the account's zones) where `up` would look it up.
    fn hosted_zone(&mut self, zone: &str) -> Value {
        match crate::domain::zone_lookup_name(zone) {
            Some(domain) => {
                let parameter = format!("HostedZone{}", logical_id(domain));
                self.parameters.insert(
                    parameter.clone(),
                    json!({
                        "Type": "AWS::Route53::HostedZone::Id",
                        "Description": format!(
                            "The Route 53 public hosted zone of {domain} (or of its nearest parent): `provision up` finds it by name"
                        ),
                    }),
                );
                json!({ "Ref": parameter })
            }
            None => json!(zone),
        }
    }

    fn certificate(&mut self, id: &str, spec: &CertificateSpec) -> Cfn {
        let CertificateSpec {
            domain_name,
            alternative_names,
            zone,
            issued: _,
        } = spec;
        let zone = self.hosted_zone(zone);
        // CloudFormation writes the validation records itself when each name has a
        // hosted zone, and waits until ACM issues the certificate ("AWS::
        // CertificateManager::Certificate DomainValidationOption"), as `up` does.
        let validation: Vec<Value> = std::iter::once(domain_name)
            .chain(alternative_names)
            .map(|name| json!({ "DomainName": name, "HostedZoneId": zone }))
            .collect();
        Cfn::new(
            logical_id(id),
            "AWS::CertificateManager::Certificate",
            json!({
                "DomainName": domain_name,
                "SubjectAlternativeNames": alternative_names,
                "ValidationMethod": "DNS",
                "DomainValidationOptions": validation,
                "Tags": self.tags(id, &[]),
            }),
        )
    }

    fn dns_record(&mut self, id: &str, spec: &DnsRecordSpec) -> Result<Cfn, SynthError> {
        let DnsRecordSpec {
            zone,
            name,
            alias_target,
        } = spec;
        let zone = self.hosted_zone(zone);
        let target = alias_target
            .logical_id()
            .ok_or_else(|| SynthError::UnknownReference {
                resource: self.current.clone(),
                target: alias_target.0.clone(),
            })?;
        let alb = logical_id(self.target(target)?.id.as_str());
        Ok(Cfn::new(
            logical_id(id),
            "AWS::Route53::RecordSet",
            json!({
                "HostedZoneId": zone,
                "Name": name,
                "Type": "A",
                "AliasTarget": {
                    "DNSName": { "Fn::GetAtt": [alb, "DNSName"] },
                    "HostedZoneId": { "Fn::GetAtt": [alb, "CanonicalHostedZoneID"] },
                    "EvaluateTargetHealth": true,
                },
            }),
        ))
    }

    fn listener(&mut self, id: &str, spec: &ListenerSpec) -> Result<Cfn, SynthError> {
        let ListenerSpec {
            load_balancer,
            port,
            protocol,
            certificate_arn,
            default_action,
            ssl_policy,
        } = spec;
        let mut properties = json!({
            "LoadBalancerArn": self.value(load_balancer, Attr::Arn)?,
            "Port": port,
            "Protocol": protocol,
            "DefaultActions": [self.action(default_action)?],
            "Tags": self.tags(id, &[]),
        });
        if let Some(arn) = certificate_arn {
            // The stack's own certificate (`[domain]`) by reference, else the ARN given.
            let arn = self.value(&Ref(arn.clone()), Attr::Arn)?;
            properties["Certificates"] = json!([{ "CertificateArn": arn }]);
        }
        if let Some(policy) = ssl_policy {
            properties["SslPolicy"] = json!(policy);
        }
        Ok(Cfn::new(
            logical_id(id),
            "AWS::ElasticLoadBalancingV2::Listener",
            properties,
        ))
    }

    fn listener_rule(&mut self, id: &str, spec: &ListenerRuleSpec) -> Result<Cfn, SynthError> {
        let ListenerRuleSpec {
            listener,
            priority,
            paths,
            hosts,
            target_group,
            alternate_target_group,
        } = spec;
        // The conditions `elb::conditions` sends.
        let mut conditions = Vec::new();
        if !paths.is_empty() {
            conditions
                .push(json!({ "Field": "path-pattern", "PathPatternConfig": { "Values": paths } }));
        }
        if !hosts.is_empty() {
            conditions
                .push(json!({ "Field": "host-header", "HostHeaderConfig": { "Values": hosts } }));
        }
        let action = match alternate_target_group {
            // A new blue/green pair: all traffic to the primary, the alternate idle (ECS
            // moves the weights during a deployment).
            Some(alternate) => json!({
                "Type": "forward",
                "ForwardConfig": { "TargetGroups": [
                    { "TargetGroupArn": self.value(target_group, Attr::Arn)?, "Weight": 100 },
                    { "TargetGroupArn": self.value(alternate, Attr::Arn)?, "Weight": 0 },
                ]},
            }),
            None => self.action(&DefaultAction::Forward(target_group.clone()))?,
        };
        Ok(Cfn::new(
            logical_id(id),
            "AWS::ElasticLoadBalancingV2::ListenerRule",
            json!({
                "ListenerArn": self.value(listener, Attr::Arn)?,
                "Priority": priority,
                "Conditions": conditions,
                "Actions": [action],
                "Tags": self.tags(id, &[]),
            }),
        ))
    }

    // --- data tier -------------------------------------------------------------------

    fn secret(&mut self, id: &str, spec: &SecretSpec) -> Result<Cfn, SynthError> {
        let SecretSpec { description, value } = spec;
        let mut properties = json!({
            "Name": self.name(id),
            "Description": description,
            "Tags": self.tags(id, &[]),
        });
        match value {
            SecretValue::RandomToken => {
                properties["GenerateSecretString"] = json!({
                    "PasswordLength": secrets::RANDOM_TOKEN_LENGTH,
                    "ExcludePunctuation": true,
                });
            }
            SecretValue::DatabaseRole { username } => {
                // `{"username": …, "password": <generated>}`, as `up` writes it.
                properties["GenerateSecretString"] = json!({
                    "SecretStringTemplate": json!({ "username": username }).to_string(),
                    "GenerateStringKey": "password",
                    "PasswordLength": secrets::DATABASE_PASSWORD_LENGTH,
                    "ExcludePunctuation": true,
                });
            }
            SecretValue::RedisUrl {
                replication_group,
                auth,
            } => {
                // `rediss://:<token>@<primary endpoint>:6379`, the token read at deploy
                // time through a dynamic reference (it is alphanumeric: nothing to encode).
                properties["SecretString"] = join(&[
                    Expr::Literal("rediss://:{{resolve:secretsmanager:".into()),
                    self.get(auth, Attr::Arn)?,
                    Expr::Literal(":SecretString}}@".into()),
                    self.get(replication_group, Attr::Endpoint)?,
                    Expr::Literal(":6379".into()),
                ]);
            }
            SecretValue::DatabaseUrl { instance } => {
                let Some(Spec::DbInstance(db)) = self.spec_of(instance)? else {
                    return Err(SynthError::UnknownReference {
                        resource: id.to_owned(),
                        target: instance.0.clone(),
                    });
                };
                // `postgres://<user>:<password>@<endpoint>:5432/<db>?sslmode=require`, the
                // password from the RDS-managed master secret. CloudFormation cannot
                // percent-encode a resolved value the way `up` does (README: synth).
                properties["SecretString"] = join(&[
                    Expr::Literal(format!(
                        "postgres://{}:{{{{resolve:secretsmanager:",
                        userinfo(&db.username)
                    )),
                    self.get(instance, Attr::MasterSecret)?,
                    Expr::Literal(":SecretString:password}}@".into()),
                    self.get(instance, Attr::Endpoint)?,
                    Expr::Literal(format!(":5432/{}?sslmode=require", db.database)),
                ]);
            }
        }
        Ok(Cfn::new(
            logical_id(id),
            "AWS::SecretsManager::Secret",
            properties,
        ))
    }

    fn cache_subnet_group(&mut self, id: &str, spec: &SubnetGroupSpec) -> Result<Cfn, SynthError> {
        let SubnetGroupSpec { subnets } = spec;
        Ok(Cfn::new(
            logical_id(id),
            "AWS::ElastiCache::SubnetGroup",
            json!({
                "CacheSubnetGroupName": self.name(id),
                "Description": rds::CACHE_SUBNET_GROUP_DESCRIPTION,
                "SubnetIds": self.values(subnets, Attr::Id)?,
                "Tags": self.tags(id, &[]),
            }),
        ))
    }

    fn replication_group(
        &mut self,
        id: &str,
        spec: &ReplicationGroupSpec,
    ) -> Result<Cfn, SynthError> {
        let ReplicationGroupSpec {
            node_type,
            engine_version,
            replicas,
            multi_az,
            transit_encryption,
            at_rest_encryption,
            subnet_group,
            security_groups,
            auth_secret,
        } = spec;
        Ok(Cfn::new(
            logical_id(id),
            "AWS::ElastiCache::ReplicationGroup",
            json!({
                "ReplicationGroupId": self.name(id),
                "ReplicationGroupDescription": format!("{}-{}- Redis", self.stack, self.env),
                "Engine": "redis",
                "EngineVersion": engine_version,
                "CacheNodeType": node_type,
                // One shard: the primary plus its replicas.
                "NumCacheClusters": u32::from(*replicas) + 1,
                "AutomaticFailoverEnabled": multi_az,
                "MultiAZEnabled": multi_az,
                "TransitEncryptionEnabled": transit_encryption,
                "AtRestEncryptionEnabled": at_rest_encryption,
                "AuthToken": join(&[
                    Expr::Literal("{{resolve:secretsmanager:".into()),
                    self.get(auth_secret, Attr::Arn)?,
                    Expr::Literal(":SecretString}}".into()),
                ]),
                "CacheSubnetGroupName": self.value(subnet_group, Attr::Name)?,
                "SecurityGroupIds": self.values(security_groups, Attr::Id)?,
                "Tags": self.tags(id, &[]),
            }),
        ))
    }

    fn db_subnet_group(&mut self, id: &str, spec: &SubnetGroupSpec) -> Result<Cfn, SynthError> {
        let SubnetGroupSpec { subnets } = spec;
        Ok(Cfn::new(
            logical_id(id),
            "AWS::RDS::DBSubnetGroup",
            json!({
                "DBSubnetGroupName": self.name(id),
                "DBSubnetGroupDescription": rds::DB_SUBNET_GROUP_DESCRIPTION,
                "SubnetIds": self.values(subnets, Attr::Id)?,
                "Tags": self.tags(id, &[]),
            }),
        ))
    }

    fn db_instance(&mut self, id: &str, spec: &DbInstanceSpec) -> Result<Cfn, SynthError> {
        let DbInstanceSpec {
            instance_class,
            engine_version,
            database,
            username,
            allocated_storage_gb,
            backup_retention_days,
            multi_az,
            deletion_protection,
            storage_encrypted,
            publicly_accessible,
            managed_master_password,
            subnet_group,
            security_groups,
        } = spec;
        let mut cfn = Cfn::new(
            logical_id(id),
            "AWS::RDS::DBInstance",
            json!({
                "DBInstanceIdentifier": self.name(id),
                "Engine": "postgres",
                "EngineVersion": engine_version,
                "DBInstanceClass": instance_class,
                "AllocatedStorage": allocated_storage_gb.to_string(),
                "DBName": database,
                "MasterUsername": username,
                "ManageMasterUserPassword": managed_master_password,
                "StorageEncrypted": storage_encrypted,
                "PubliclyAccessible": publicly_accessible,
                "MultiAZ": multi_az,
                "BackupRetentionPeriod": backup_retention_days,
                "DeletionProtection": deletion_protection,
                "DBSubnetGroupName": self.value(subnet_group, Attr::Name)?,
                "VPCSecurityGroups": self.values(security_groups, Attr::Id)?,
                "Tags": self.tags(id, &[]),
            }),
        );
        // `down` keeps a final snapshot unless told otherwise.
        cfn.retain = Some("Snapshot");
        Ok(cfn)
    }

    // --- ECS -------------------------------------------------------------------------

    fn container(&self, spec: &ContainerSpec) -> Result<Value, SynthError> {
        let ContainerSpec {
            name,
            image_repository,
            image_tag,
            port,
            command,
            environment,
            secrets,
            health_command,
            log_group,
            read_only_root,
            user,
            init_process,
        } = spec;
        let mut secret_refs = Vec::new();
        for (variable, secret) in secrets {
            secret_refs
                .push(json!({ "Name": variable, "ValueFrom": self.secret_ref(secret)?.value() }));
        }
        let mut container = json!({
            "Name": name,
            "Image": join(&[
                self.get(image_repository, Attr::Uri)?,
                Expr::Literal(format!(":{image_tag}")),
            ]),
            "Essential": true,
            "Environment": environment
                .iter()
                .map(|(key, value)| {
                    Ok(json!({ "Name": key, "Value": self.environment_value(value)? }))
                })
                .collect::<Result<Vec<_>, SynthError>>()?,
            "Secrets": secret_refs,
            "LogConfiguration": {
                "LogDriver": "awslogs",
                "Options": {
                    "awslogs-group": self.value(log_group, Attr::Name)?,
                    "awslogs-region": { "Ref": "AWS::Region" },
                    "awslogs-stream-prefix": name,
                },
            },
            "ReadonlyRootFilesystem": read_only_root,
            "User": user,
            "LinuxParameters": { "InitProcessEnabled": init_process },
        });
        // Port 0 and no health command (the debug task): no mapping, no health check.
        if *port != 0 {
            container["PortMappings"] = json!([{
                "Name": name,
                "ContainerPort": port,
                "Protocol": "tcp",
                "AppProtocol": "http",
            }]);
        }
        if let Some(command) = command {
            container["Command"] = json!(command);
        }
        if !health_command.is_empty() {
            let timings = &ecs::HEALTH_CHECK;
            container["HealthCheck"] = json!({
                "Command": health_command,
                "Interval": timings.interval,
                "Timeout": timings.timeout,
                "Retries": timings.retries,
                "StartPeriod": timings.start_period,
            });
        }
        Ok(container)
    }

    fn task_definition(&mut self, id: &str, spec: &TaskDefinitionSpec) -> Result<Cfn, SynthError> {
        let TaskDefinitionSpec {
            cpu,
            memory,
            execution_role,
            task_role,
            container,
        } = spec;
        Ok(Cfn::new(
            logical_id(id),
            "AWS::ECS::TaskDefinition",
            json!({
                "Family": self.name(id),
                "RequiresCompatibilities": ["FARGATE"],
                "NetworkMode": "awsvpc",
                "Cpu": cpu.to_string(),
                "Memory": memory.to_string(),
                "ExecutionRoleArn": self.value(execution_role, Attr::Arn)?,
                "TaskRoleArn": self.value(task_role, Attr::Arn)?,
                "ContainerDefinitions": [self.container(container)?],
                "Tags": self.tags(id, &[]),
            }),
        ))
    }

    fn service(&mut self, id: &str, spec: &ServiceSpec) -> Result<Cfn, SynthError> {
        let ServiceSpec {
            cluster,
            task_definition,
            desired_count,
            subnets,
            security_groups,
            assign_public_ip,
            target_group,
            container_port,
            enable_execute_command,
            circuit_breaker_rollback,
            service_connect,
            // A template describes the stack as configured, released (`up`'s hold before
            // the first image is observed state, not config).
            awaiting_release: _,
        } = spec;
        let mut properties = json!({
            "ServiceName": self.name(id),
            "Cluster": self.value(cluster, Attr::Name)?,
            "TaskDefinition": self.value(task_definition, Attr::Arn)?,
            "DesiredCount": desired_count,
            "LaunchType": "FARGATE",
            "NetworkConfiguration": { "AwsvpcConfiguration": {
                "Subnets": self.values(subnets, Attr::Id)?,
                "SecurityGroups": self.values(security_groups, Attr::Id)?,
                "AssignPublicIp": if *assign_public_ip { "ENABLED" } else { "DISABLED" },
            }},
            "DeploymentConfiguration": {
                "DeploymentCircuitBreaker": {
                    "Enable": circuit_breaker_rollback,
                    "Rollback": circuit_breaker_rollback,
                },
                "MaximumPercent": ecs::MAXIMUM_PERCENT,
                "MinimumHealthyPercent": ecs::MINIMUM_HEALTHY_PERCENT,
            },
            "EnableExecuteCommand": enable_execute_command,
            "PropagateTags": "SERVICE",
            "Tags": self.tags(id, &[(ecs::CONFIGURED_DESIRED_TAG, desired_count.to_string())]),
        });
        if let Some(target_group) = target_group {
            // The container is named after the service (`create_service_request`).
            let container = id.strip_prefix("service-").unwrap_or(id);
            properties["LoadBalancers"] = json!([{
                "TargetGroupArn": self.value(target_group, Attr::Arn)?,
                "ContainerName": container,
                "ContainerPort": container_port,
            }]);
            properties["HealthCheckGracePeriodSeconds"] = json!(ecs::HEALTH_CHECK_GRACE_SECONDS);
        }
        if let Some(connect) = service_connect {
            let ServiceConnectSpec {
                namespace,
                server_name,
            } = connect;
            let mut config = json!({
                "Enabled": true,
                "Namespace": self.value(namespace, Attr::Arn)?,
            });
            if let Some(name) = server_name {
                config["Services"] = json!([{
                    "PortName": name,
                    "DiscoveryName": name,
                    "ClientAliases": [{ "Port": container_port, "DnsName": name }],
                }]);
            }
            properties["ServiceConnectConfiguration"] = config;
        }
        Ok(Cfn::new(logical_id(id), "AWS::ECS::Service", properties))
    }

    fn scalable_target(&mut self, id: &str, spec: &ScalableTargetSpec) -> Result<Cfn, SynthError> {
        let ScalableTargetSpec { service, min, max } = spec;
        // `service/<cluster name>/<service name>`, Application Auto Scaling's name for it.
        let Some(Spec::Service(ecs_service)) = self.spec_of(service)? else {
            return Err(SynthError::UnknownReference {
                resource: id.to_owned(),
                target: service.0.clone(),
            });
        };
        let resource_id = join(&[
            Expr::Literal("service/".into()),
            self.get(&ecs_service.cluster, Attr::Name)?,
            Expr::Literal("/".into()),
            self.get(service, Attr::Name)?,
        ]);
        Ok(Cfn::new(
            logical_id(id),
            "AWS::ApplicationAutoScaling::ScalableTarget",
            json!({
                "ServiceNamespace": "ecs",
                "ResourceId": resource_id,
                "ScalableDimension": "ecs:service:DesiredCount",
                "MinCapacity": min,
                "MaxCapacity": max,
                "Tags": self.tags(id, &[]),
            }),
        ))
    }

    fn scaling_policy(&mut self, id: &str, spec: &ScalingPolicySpec) -> Result<Cfn, SynthError> {
        let ScalingPolicySpec {
            target,
            metric,
            target_value,
        } = spec;
        let predefined = match metric {
            ScalingMetric::Cpu => {
                json!({ "PredefinedMetricType": "ECSServiceAverageCPUUtilization" })
            }
            ScalingMetric::Memory => {
                json!({ "PredefinedMetricType": "ECSServiceAverageMemoryUtilization" })
            }
            ScalingMetric::AlbRequestsPerTarget {
                load_balancer,
                target_group,
            } => json!({
                "PredefinedMetricType": "ALBRequestCountPerTarget",
                "ResourceLabel": join(&[
                    self.get(load_balancer, Attr::Dimension)?,
                    Expr::Literal("/".into()),
                    self.get(target_group, Attr::Dimension)?,
                ]),
            }),
        };
        let scalable = self.value(target, Attr::Id)?;
        Ok(Cfn::new(
            logical_id(id),
            "AWS::ApplicationAutoScaling::ScalingPolicy",
            json!({
                "PolicyName": self.name(id),
                "PolicyType": "TargetTrackingScaling",
                "ScalingTargetId": scalable,
                "TargetTrackingScalingPolicyConfiguration": {
                    "TargetValue": target_value,
                    "PredefinedMetricSpecification": predefined,
                    "ScaleInCooldown": autoscaling::SCALE_IN_COOLDOWN_SECONDS,
                    "ScaleOutCooldown": autoscaling::SCALE_OUT_COOLDOWN_SECONDS,
                },
            }),
        ))
    }

    // --- observability ---------------------------------------------------------------

    fn topic(&mut self, id: &str, spec: &TopicSpec) -> Cfn {
        let TopicSpec { name } = spec;
        Cfn::new(
            logical_id(id),
            "AWS::SNS::Topic",
            json!({ "TopicName": name, "Tags": self.tags(id, &[]) }),
        )
    }

    fn dashboard(&mut self, id: &str, spec: &DashboardSpec) -> Result<Cfn, SynthError> {
        let DashboardSpec { body } = spec;
        // The body `cloudwatch::resolved_body` writes: references as dimension values,
        // the region in every widget; one `Fn::Sub` over the serialized JSON.
        let mut body = self.sub_strings(body)?;
        for widget in body["widgets"].as_array_mut().into_iter().flatten() {
            if let Some(properties) = widget["properties"].as_object_mut() {
                properties.insert("region".into(), json!("${AWS::Region}"));
            }
        }
        let text = serde_json::to_string(&body).expect("JSON values serialize");
        Ok(Cfn::new(
            logical_id(id),
            "AWS::CloudWatch::Dashboard",
            json!({
                "DashboardName": crate::names::dashboard_name(self.stack, self.env),
                "DashboardBody": { "Fn::Sub": text },
                "Tags": self.tags(id, &[]),
            }),
        ))
    }

    /// Every string of `value` as `Fn::Sub` text: references become their dimension
    /// value, anything else stays literal.
    fn sub_strings(&self, value: &Value) -> Result<Value, SynthError> {
        Ok(match value {
            Value::String(s) if parse_ref(s).is_some() => {
                Value::String(self.get(&Ref(s.clone()), Attr::Dimension)?.sub_text())
            }
            Value::String(s) => Value::String(escape_sub(s)),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.sub_strings(v))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| Ok((escape_sub(k), self.sub_strings(v)?)))
                    .collect::<Result<_, SynthError>>()?,
            ),
            other => other.clone(),
        })
    }

    fn alarm(&mut self, id: &str, spec: &AlarmSpec) -> Result<Cfn, SynthError> {
        let AlarmSpec {
            description,
            queries,
            comparison,
            threshold,
            evaluation_periods,
            datapoints_to_alarm,
            treat_missing_data,
            actions,
        } = spec;
        let mut metrics = Vec::new();
        for query in queries {
            let AlarmQuery {
                id: query_id,
                expression,
                metric,
                return_data,
            } = query;
            let mut entry = json!({ "Id": query_id, "ReturnData": return_data });
            if let Some(expression) = expression {
                entry["Expression"] = json!(expression);
            }
            if let Some(metric) = metric {
                let MetricStatSpec {
                    namespace,
                    metric,
                    dimensions,
                    stat,
                    period,
                } = metric;
                let mut dimension_list = Vec::new();
                for (name, value) in dimensions {
                    dimension_list.push(
                        json!({ "Name": name, "Value": self.value(value, Attr::Dimension)? }),
                    );
                }
                entry["MetricStat"] = json!({
                    "Metric": { "Namespace": namespace, "MetricName": metric, "Dimensions": dimension_list },
                    "Period": period,
                    "Stat": stat,
                });
            }
            metrics.push(entry);
        }
        let actions = self.values(actions, Attr::Arn)?;
        Ok(Cfn::new(
            logical_id(id),
            "AWS::CloudWatch::Alarm",
            json!({
                "AlarmName": self.name(id),
                "AlarmDescription": description,
                "Metrics": metrics,
                "ComparisonOperator": comparison,
                "Threshold": threshold,
                "EvaluationPeriods": evaluation_periods,
                "DatapointsToAlarm": datapoints_to_alarm,
                "TreatMissingData": treat_missing_data,
                "ActionsEnabled": true,
                "AlarmActions": actions,
                "OKActions": actions,
                "Tags": self.tags(id, &[]),
            }),
        ))
    }

    fn metric_filter(&mut self, id: &str, spec: &MetricFilterSpec) -> Result<Cfn, SynthError> {
        let MetricFilterSpec {
            log_group,
            pattern,
            namespace,
            metric,
            value,
        } = spec;
        Ok(Cfn::new(
            logical_id(id),
            "AWS::Logs::MetricFilter",
            json!({
                "FilterName": self.name(id),
                "LogGroupName": self.value(log_group, Attr::Name)?,
                "FilterPattern": pattern,
                "MetricTransformations": [{
                    "MetricNamespace": namespace,
                    "MetricName": metric,
                    "MetricValue": value,
                }],
            }),
        ))
    }
}

/// The attachment of internet gateway `id` to its VPC.
fn gateway_attachment(id: &str) -> String {
    format!("{}Attachment", logical_id(id))
}

/// Percent-encodes a URL userinfo component, as `secrets.rs` does.
fn userinfo(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Logical ids a template refers to (`Ref`, `Fn::GetAtt`, `${…}` in `Fn::Sub`,
/// `DependsOn`), pseudo parameters (`AWS::…`) left out.
pub fn referenced_ids(template: &Value) -> BTreeMap<String, Vec<String>> {
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (logical, resource) in template["Resources"].as_object().into_iter().flatten() {
        let mut targets = Vec::new();
        collect_references(resource, &mut targets);
        for target in targets {
            found.entry(target).or_default().push(logical.clone());
        }
    }
    found
}

fn collect_references(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("Ref", Value::String(target)) => found.push(target.clone()),
                    ("Fn::GetAtt", Value::Array(parts)) => {
                        if let Some(Value::String(target)) = parts.first() {
                            found.push(target.clone());
                        }
                    }
                    ("Fn::Sub", Value::String(text)) => found.extend(sub_variables(text)),
                    ("DependsOn", Value::Array(targets)) => {
                        found.extend(targets.iter().filter_map(|t| t.as_str().map(str::to_owned)))
                    }
                    _ => collect_references(inner, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_references(v, found)),
        _ => {}
    }
    found.retain(|target| !target.starts_with("AWS::"));
}

/// The logical ids `${Name}` / `${Name.Attribute}` of a `Fn::Sub` text (`${!…}` is literal).
fn sub_variables(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            break;
        };
        let variable = &after[..end];
        if !variable.starts_with('!') {
            let name = variable.split('.').next().unwrap_or(variable);
            found.push(name.to_owned());
        }
        rest = &after[end + 1..];
    }
    found
}

#[cfg(test)]
mod tests;
