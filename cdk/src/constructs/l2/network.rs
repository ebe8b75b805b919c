//! Network: the VPC and security groups.

use super::*;
use crate::model::ids;
use crate::model::*;
use crate::scope::{Section, Stack};

/// The network: one VPC over two AZs, a public and a private /20 in each, an internet
/// gateway, and NAT gateways (one shared, or one per AZ) for the private subnets.
///
/// ```
/// use slipway_cdk::constructs::l2::Vpc;
/// use slipway_cdk::scope::Stack;
///
/// let mut stack = Stack::new("demo", "prod");
/// let vpc = Vpc::new(&mut stack, "10.30.0.0/16").nat_gateways(2).build();
/// let ids: Vec<String> = stack.resources().map(|r| r.id.clone()).collect();
/// assert!(ids.contains(&"nat-b".to_string()) && ids.contains(&"rt-private-b".to_string()));
/// assert_eq!(vpc.private_subnets().len(), 2);
/// ```
pub struct Vpc<'a> {
    stack: &'a mut Stack,
    cidr: String,
    zones: Option<Vec<String>>,
    nat_gateways: u8,
}

/// What other constructs need of the network.
#[derive(Debug, Clone)]
pub struct VpcHandle {
    public: [String; 2],
    private: [String; 2],
}

impl VpcHandle {
    /// `${vpc}`.
    pub fn vpc(&self) -> Ref {
        Ref::to("vpc")
    }
    /// The public subnets (load balancers, NAT gateways).
    pub fn public_subnets(&self) -> Vec<Ref> {
        refs(&self.public)
    }
    /// The private subnets (tasks, data stores).
    pub fn private_subnets(&self) -> Vec<Ref> {
        refs(&self.private)
    }
}

/// `10.10.0.0/16` → the /20 at `index` (0-15).
fn subnet_cidr(vpc_cidr: &str, index: u8) -> String {
    let octets: Vec<&str> = vpc_cidr.split('.').collect();
    format!("{}.{}.{}.0/20", octets[0], octets[1], index * 16)
}

impl<'a> Vpc<'a> {
    /// A VPC with `cidr` (a /16), zones `a` and `b`, one NAT gateway.
    pub fn new(stack: &'a mut Stack, cidr: &str) -> Self {
        Vpc {
            stack,
            cidr: cidr.to_owned(),
            zones: None,
            nat_gateways: 1,
        }
    }
    /// The two AZ suffixes (`["a", "b"]`). Unset: the stack's target zones, which `up`
    /// and `plan` choose among those the account has (`plan --offline` assumes `a`, `b`).
    pub fn zones(mut self, zones: Option<Vec<String>>) -> Self {
        self.zones = zones;
        self
    }
    /// 1 = one shared NAT gateway (cheap, dev); 2 = one per AZ (prod).
    pub fn nat_gateways(mut self, count: u8) -> Self {
        self.nat_gateways = count;
        self
    }
    /// Adds the network's resources.
    pub fn build(self) -> VpcHandle {
        let stack = self.stack;
        let network = crate::config::NetworkConfig {
            cidr: self.cidr.clone(),
            availability_zones: self
                .zones
                .clone()
                .or_else(|| stack.zones().map(<[String]>::to_vec)),
            nat_gateways: self.nat_gateways,
        };
        let zones = network.zones();
        stack.description_mut().network = network;
        let add = |stack: &mut Stack, id: &str, spec| stack.add(Section::Network, id, spec);
        add(
            stack,
            "vpc",
            Spec::Vpc(VpcSpec {
                cidr: self.cidr.clone(),
                dns_support: true,
                dns_hostnames: true,
            }),
        );
        add(
            stack,
            "igw",
            Spec::InternetGateway(InternetGatewaySpec {
                vpc: Ref::to("vpc"),
            }),
        );
        let handle = VpcHandle {
            public: ["subnet-public-a".into(), "subnet-public-b".into()],
            private: ["subnet-private-a".into(), "subnet-private-b".into()],
        };
        for (index, az) in zones.iter().enumerate().take(2) {
            for (ids, public, offset) in [(&handle.public, true, 0), (&handle.private, false, 8)] {
                add(
                    stack,
                    &ids[index],
                    Spec::Subnet(SubnetSpec {
                        vpc: Ref::to("vpc"),
                        cidr: subnet_cidr(&self.cidr, offset + index as u8),
                        az: az.clone(),
                        public,
                    }),
                );
            }
        }
        add(
            stack,
            "rt-public",
            Spec::RouteTable(RouteTableSpec {
                vpc: Ref::to("vpc"),
                default_route: Ref::to("igw"),
                subnets: handle.public_subnets(),
            }),
        );
        let nats = &["nat-a", "nat-b"][..usize::from(self.nat_gateways.clamp(1, 2))];
        for (index, nat) in nats.iter().enumerate() {
            add(
                stack,
                nat,
                Spec::NatGateway(NatGatewaySpec {
                    subnet: Ref::to(&handle.public[index]),
                }),
            );
        }
        if nats.len() == 1 {
            add(
                stack,
                "rt-private",
                Spec::RouteTable(RouteTableSpec {
                    vpc: Ref::to("vpc"),
                    default_route: Ref::to(nats[0]),
                    subnets: handle.private_subnets(),
                }),
            );
        } else {
            for (index, suffix) in ["a", "b"].iter().enumerate() {
                add(
                    stack,
                    &format!("rt-private-{suffix}"),
                    Spec::RouteTable(RouteTableSpec {
                        vpc: Ref::to("vpc"),
                        default_route: Ref::to(nats[index]),
                        subnets: vec![Ref::to(&handle.private[index])],
                    }),
                );
            }
        }
        handle
    }
}

// ---------------------------------------------------------------------------------------
// Security groups

/// A security group in the stack's VPC: TCP ingress only from what is allowed, egress to
/// everywhere unless [`SecurityGroup::no_egress`] (data stores).
///
/// ```
/// use slipway_cdk::constructs::l2::{SecurityGroup, Vpc};
/// use slipway_cdk::scope::{Section, Stack};
///
/// let mut stack = Stack::new("demo", "dev");
/// let vpc = Vpc::new(&mut stack, "10.20.0.0/16").build();
/// let web = SecurityGroup::new(&mut stack, &vpc, "web", "web: from the office").build();
/// web.allow_cidr(&mut stack, "203.0.113.0/24", 443);
/// let spec = stack.resource("sg-web").unwrap().spec_json();
/// assert_eq!(spec["ingress"][0]["source"], "203.0.113.0/24");
/// ```
pub struct SecurityGroup<'a> {
    stack: &'a mut Stack,
    section: Section,
    name: String,
    description: String,
    egress_all: bool,
}

/// A security group: others are allowed in through it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityGroupHandle {
    pub(super) id: String,
}

impl SecurityGroupHandle {
    /// The logical id (`sg-<name>`).
    pub fn id(&self) -> &str {
        &self.id
    }
    /// Allows TCP `port` from `peer`'s security group.
    pub fn allow_from(&self, stack: &mut Stack, peer: &impl Connectable, port: u16) {
        self.add_rule(stack, port, Ref::to(peer.security_group().id()));
    }
    /// Allows TCP `port` from an IPv4 CIDR.
    pub fn allow_cidr(&self, stack: &mut Stack, cidr: &str, port: u16) {
        self.add_rule(stack, port, Ref::physical(cidr));
    }
    fn add_rule(&self, stack: &mut Stack, port: u16, source: Ref) {
        if let Some(Spec::SecurityGroup(sg)) = stack.resource_mut(&self.id).map(|r| &mut r.spec) {
            sg.ingress.push(IngressRule { port, source });
            sg.ingress.sort();
            sg.ingress.dedup();
        }
    }
}

/// Anything with a security group that others can allow in (services, the load
/// balancer, the debug task).
pub trait Connectable {
    /// Its security group.
    fn security_group(&self) -> SecurityGroupHandle;
    /// The service it is, if it is one (callers are recorded in the stack's description).
    fn service_name(&self) -> Option<&str> {
        None
    }
}

impl Connectable for SecurityGroupHandle {
    fn security_group(&self) -> SecurityGroupHandle {
        self.clone()
    }
}

impl<'a> SecurityGroup<'a> {
    /// `sg-<name>` with `description` (EC2 allows only `a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*`).
    pub fn new(stack: &'a mut Stack, _vpc: &VpcHandle, name: &str, description: &str) -> Self {
        SecurityGroup {
            stack,
            section: Section::ServiceSecurity,
            name: name.to_owned(),
            description: description.to_owned(),
            egress_all: true,
        }
    }
    /// No egress rule at all (data stores answer, they never call out).
    pub fn no_egress(mut self) -> Self {
        self.egress_all = false;
        self
    }
    /// Lists it in another section (default: [`Section::ServiceSecurity`]).
    pub fn section(mut self, section: Section) -> Self {
        self.section = section;
        self
    }
    /// Adds the group.
    pub fn build(self) -> SecurityGroupHandle {
        let id = ids::security_group(&self.name);
        self.stack.add(
            self.section,
            &id,
            Spec::SecurityGroup(SecurityGroupSpec {
                vpc: Ref::to("vpc"),
                description: self.description,
                ingress: Vec::new(),
                egress_all: self.egress_all,
            }),
        );
        SecurityGroupHandle { id }
    }
}
