//! The shared load balancer and routes to it.

use super::*;
use crate::model::ids;
use crate::model::*;
use crate::scope::{Section, Stack};

/// The stack's shared internet-facing ALB (`alb`): HTTP (or HTTPS with a certificate and
/// a redirect from HTTP), `/ready` and `/metrics` never forwarded, an optional blue/green
/// test listener, and the role ECS blue/green uses. Services join it with
/// [`FargateService::behind`].
///
/// ```
/// use slipway_cdk::constructs::l2::{LoadBalancer, Vpc};
/// let mut stack = slipway_cdk::scope::Stack::new("demo", "dev");
/// let vpc = Vpc::new(&mut stack, "10.20.0.0/16").build();
/// LoadBalancer::new(&mut stack, &vpc).default_service("web").build();
/// let listener = stack.resource("listener-http").unwrap().spec_json();
/// assert_eq!(listener["default_action"]["forward"], "${tg-web}");
/// ```
pub struct LoadBalancer<'a> {
    stack: &'a mut Stack,
    vpc: VpcHandle,
    certificate_arn: Option<String>,
    domain: Option<crate::config::DomainConfig>,
    test_listener: Option<(u16, Vec<String>)>,
    default_service: Option<String>,
}

/// The shared load balancer.
#[derive(Debug, Clone)]
pub struct LoadBalancerHandle {
    sg: SecurityGroupHandle,
    pub(super) serving_listener: &'static str,
    pub(super) test_listener: bool,
    pub(super) certificate_arn: Option<String>,
    pub(super) domain: Option<DomainHandle>,
}

/// The stack's `[domain]` as the services behind the ALB publish themselves in it.
#[derive(Debug, Clone)]
pub(super) struct DomainHandle {
    /// `[domain] name`.
    pub(super) name: String,
    /// The hosted zone id, or a lookup ([`crate::domain::zone_lookup`]).
    pub(super) zone: String,
    /// The certificate's logical id (records are deleted before it: `observe` finds them
    /// through its zone tag).
    pub(super) certificate: String,
}

impl Connectable for LoadBalancerHandle {
    fn security_group(&self) -> SecurityGroupHandle {
        self.sg.clone()
    }
}

impl<'a> LoadBalancer<'a> {
    /// The ALB in the VPC's public subnets.
    pub fn new(stack: &'a mut Stack, vpc: &VpcHandle) -> Self {
        LoadBalancer {
            stack,
            vpc: vpc.clone(),
            certificate_arn: None,
            domain: None,
            test_listener: None,
            default_service: None,
        }
    }
    /// Serve HTTPS on 443 with this ACM certificate; 80 redirects to it.
    pub fn certificate(mut self, arn: Option<String>) -> Self {
        self.certificate_arn = arn;
        self
    }
    /// Serve the public services under a DNS name of yours, over HTTPS: an ACM
    /// certificate for the domain and `*.<domain>` validated by DNS in its Route 53
    /// hosted zone, HTTPS on 443 with HTTP redirected to it, and an alias record per
    /// service behind the ALB ([`FargateService::behind`]; the name is
    /// [`Route::subdomain`], default the service's). Not together with
    /// [`LoadBalancer::certificate`].
    ///
    /// ```
    /// use slipway_cdk::config::DomainConfig;
    /// use slipway_cdk::constructs::l2::{Cluster, FargateService, LoadBalancer, Route, Vpc};
    /// let mut stack = slipway_cdk::scope::Stack::new("demo", "dev");
    /// let vpc = Vpc::new(&mut stack, "10.20.0.0/16").build();
    /// let alb = LoadBalancer::new(&mut stack, &vpc)
    ///     .domain(Some(DomainConfig::new("example.com")))
    ///     .default_service("web")
    ///     .build();
    /// let cluster = Cluster::new(&mut stack, &vpc).build();
    /// FargateService::new(&mut stack, &cluster, "web")
    ///     .behind(&alb, Route::catch_all().subdomain("www"))
    ///     .build();
    /// let record = stack.resource("dns-www.example.com").unwrap().spec_json();
    /// assert_eq!(record["alias_target"], "${alb}");
    /// let https = stack.resource("listener-https").unwrap().spec_json();
    /// assert_eq!(https["certificate_arn"], "${certificate-example.com}");
    /// ```
    pub fn domain(mut self, domain: Option<crate::config::DomainConfig>) -> Self {
        self.domain = domain;
        self
    }
    /// A test listener on `port` for ECS blue/green, reachable from `cidrs` only.
    pub fn test_listener(mut self, port: u16, cidrs: Vec<String>) -> Self {
        self.test_listener = Some((port, cidrs));
        self
    }
    /// The service whose catch-all rule gets what no other rule matches; the listeners'
    /// own default action forwards to it too (without one: an empty group, so 503).
    pub fn default_service(mut self, name: &str) -> Self {
        self.default_service = Some(name.to_owned());
        self
    }
    /// Adds the ALB, its security group, listeners, internal-paths rules and the
    /// blue/green role.
    pub fn build(self) -> LoadBalancerHandle {
        let stack = self.stack;
        stack.description_mut().domain = self.domain.clone();
        let domain = self.domain.as_ref().map(|d| DomainHandle {
            name: d.name.clone(),
            zone: d
                .zone_id
                .as_deref()
                .map(|id| crate::domain::bare_zone_id(id).to_owned())
                .unwrap_or_else(|| crate::domain::zone_lookup(&d.name)),
            certificate: crate::domain::certificate_id(&d.name),
        });
        // With a domain the certificate is the stack's own: listeners name it by reference.
        let certificate_arn = match &domain {
            Some(d) => Some(Ref::to(&d.certificate).0),
            None => self.certificate_arn.clone(),
        };
        if let Some(d) = &domain {
            stack.add(
                Section::EdgeSecurity,
                &d.certificate,
                Spec::Certificate(CertificateSpec {
                    domain_name: d.name.clone(),
                    alternative_names: crate::domain::alternative_names(&d.name),
                    zone: d.zone.clone(),
                    issued: true,
                }),
            );
        }
        stack.description_mut().alb = crate::config::AlbConfig {
            certificate_arn: self.certificate_arn.clone(),
            test_listener_port: self.test_listener.as_ref().map(|(port, _)| *port),
            test_cidrs: self
                .test_listener
                .as_ref()
                .map(|(_, cidrs)| cidrs.clone())
                .unwrap_or_default(),
        };
        let sg = SecurityGroup::new(stack, &self.vpc, "alb", "ALB: HTTP(S) from anywhere")
            .section(Section::EdgeSecurity)
            .build();
        sg.allow_cidr(stack, "0.0.0.0/0", 80);
        if certificate_arn.is_some() {
            sg.allow_cidr(stack, "0.0.0.0/0", 443);
        }
        if let Some((port, cidrs)) = &self.test_listener {
            for cidr in cidrs {
                sg.allow_cidr(stack, cidr, *port);
            }
        }
        let add = |stack: &mut Stack, id: &str, spec| stack.add(Section::LoadBalancer, id, spec);
        add(
            stack,
            "alb",
            Spec::LoadBalancer(LoadBalancerSpec {
                scheme: "internet-facing".into(),
                subnets: self.vpc.public_subnets(),
                security_groups: vec![Ref::to(sg.id())],
                // Malformed header names never reach the services (checkov CKV_AWS_131).
                drop_invalid_headers: true,
            }),
        );
        // Every public service, the default one included, is served by a listener rule
        // (ECS blue/green can only shift a rule's traffic). The listeners' own default
        // action must forward too: ECS blue/green "is not supported when using
        // Application Load Balancer listeners that have multiple action types configured
        // with non-forward actions" ("Application Load Balancer resources for blue/green
        // deployments", ECS developer guide: limitations).
        let unmatched = self
            .default_service
            .as_deref()
            .map_or_else(|| UNMATCHED.to_owned(), ids::target_group);
        let forward = || DefaultAction::Forward(Ref::to(&unmatched));
        let serving_listener = match &certificate_arn {
            Some(arn) => {
                add(
                    stack,
                    "listener-http",
                    listener(80, "HTTP", None, DefaultAction::RedirectHttps),
                );
                add(
                    stack,
                    "listener-https",
                    listener(443, "HTTPS", Some(arn.clone()), forward()),
                );
                "listener-https"
            }
            None => {
                add(
                    stack,
                    "listener-http",
                    listener(80, "HTTP", None, forward()),
                );
                "listener-http"
            }
        };
        if let Some((port, _)) = &self.test_listener {
            // Plain HTTP: test traffic comes from the test CIDRs only (sg-alb).
            add(
                stack,
                TEST_LISTENER,
                listener(*port, "HTTP", None, forward()),
            );
        }
        let empty_group = || {
            Spec::TargetGroup(TargetGroupSpec {
                vpc: Ref::to("vpc"),
                port: 80,
                health_path: "/".into(),
                sticky: false,
            })
        };
        if unmatched == UNMATCHED {
            // Nothing registers in it: requests no rule matches get the ALB's 503.
            add(stack, UNMATCHED, empty_group());
        }
        // `/ready` and `/metrics` stay off the internet: a top-priority rule on every
        // listener that serves forwards them to `tg-internal`, which nothing registers
        // in, so the ALB answers 503 without reaching a task. A forward rather than a
        // fixed-response 404 on purpose (the blue/green limitation above). Target group
        // health checks go straight to each task, so they still ask `/ready`.
        add(stack, INTERNAL_TARGET_GROUP, empty_group());
        let mut listeners = vec![("rule-internal", serving_listener)];
        if self.test_listener.is_some() {
            listeners.push(("rule-internal-test", TEST_LISTENER));
        }
        for (id, listener) in listeners {
            add(stack, id, internal_paths_rule(listener));
        }
        // AWS's managed policy for the blue/green role ("Amazon ECS infrastructure IAM
        // role for load balancers", ECS developer guide), attached rather than copied:
        // AWS updates it when blue/green needs more, a copy would go stale.
        add(
            stack,
            BLUE_GREEN_ROLE,
            Spec::Role(RoleSpec::for_service_with_managed(
                "ecs.amazonaws.com",
                &[ECS_LOAD_BALANCERS_POLICY],
            )),
        );
        LoadBalancerHandle {
            sg,
            serving_listener,
            test_listener: self.test_listener.is_some(),
            certificate_arn,
            domain,
        }
    }
}

/// A listener of the shared ALB (`alb`); HTTPS ones get [`TLS_POLICY`].
pub(super) fn listener(
    port: u16,
    protocol: &str,
    certificate_arn: Option<String>,
    default_action: DefaultAction,
) -> Spec {
    Spec::Listener(ListenerSpec {
        load_balancer: Ref::to("alb"),
        port,
        protocol: protocol.into(),
        certificate_arn,
        default_action,
        ssl_policy: (protocol == "HTTPS").then(|| TLS_POLICY.to_owned()),
    })
}

/// The top-priority rule on `listener` that keeps `/ready` and `/metrics` off the
/// internet (see [`LoadBalancer::build`]).
pub(super) fn internal_paths_rule(listener: &str) -> Spec {
    Spec::ListenerRule(ListenerRuleSpec {
        listener: Ref::to(listener),
        priority: INTERNAL_PATHS_PRIORITY,
        paths: INTERNAL_PATHS.iter().map(|p| (*p).to_owned()).collect(),
        hosts: Vec::new(),
        target_group: Ref::to(INTERNAL_TARGET_GROUP),
        alternate_target_group: None,
    })
}

/// How a service is reached through the shared load balancer.
///
/// ```
/// use slipway_cdk::constructs::l2::Route;
/// let route = Route::hosts(10, &["result.*"]).sticky();
/// assert!(route.sticky && route.priority == Some(10));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// The catch-all `/*` rule every other rule outranks.
    pub default: bool,
    /// Path patterns (`/orders`, `/orders/*`).
    pub paths: Vec<String>,
    /// Host header patterns.
    pub hosts: Vec<String>,
    /// Rule priority (unique per stack, lower wins; 1 is the internal-paths rule's).
    pub priority: Option<i32>,
    /// Target-group stickiness (socket.io long polling).
    pub sticky: bool,
    /// The target groups' health check path: readiness.
    pub health_path: String,
    /// Target tracking on ALB requests per target.
    pub requests_per_target: i32,
    /// The port of a listener of the service's own ([`Route::port`]).
    pub port: Option<u16>,
    /// Its name under the stack's domain ([`Route::subdomain`]).
    pub subdomain: Option<String>,
}

impl Route {
    fn new(default: bool, priority: Option<i32>) -> Self {
        Route {
            default,
            paths: Vec::new(),
            hosts: Vec::new(),
            priority,
            sticky: false,
            health_path: "/ready".into(),
            requests_per_target: 500,
            port: None,
            subdomain: None,
        }
    }
    /// Everything no other rule matches.
    pub fn catch_all() -> Self {
        Route::new(true, None)
    }
    /// Requests whose path matches one of `paths`.
    pub fn paths(priority: i32, paths: &[&str]) -> Self {
        let mut route = Route::new(false, Some(priority));
        route.paths = paths.iter().map(|p| p.to_string()).collect();
        route
    }
    /// Requests whose Host header matches one of `hosts`.
    pub fn hosts(priority: i32, hosts: &[&str]) -> Self {
        let mut route = Route::new(false, Some(priority));
        route.hosts = hosts.iter().map(|h| h.to_string()).collect();
        route
    }
    /// Every request of a client to the same task.
    pub fn sticky(mut self) -> Self {
        self.sticky = true;
        self
    }
    /// A listener of the service's own on `port` of the ALB, so a browser reaches it at
    /// `http://<alb-dns>:<port>/` without a DNS name (a route by [`Route::hosts`] alone
    /// gets one anyway, on the container's port). See [`PublicConfig::listener_port`].
    ///
    /// ```
    /// use slipway_cdk::constructs::l2::{FargateService, LoadBalancer, Route, Vpc};
    /// use slipway_cdk::constructs::l2::Cluster;
    /// let mut stack = slipway_cdk::scope::Stack::new("demo", "dev");
    /// let vpc = Vpc::new(&mut stack, "10.20.0.0/16").build();
    /// let alb = LoadBalancer::new(&mut stack, &vpc).default_service("web").build();
    /// let cluster = Cluster::new(&mut stack, &vpc).build();
    /// FargateService::new(&mut stack, &cluster, "admin")
    ///     .behind(&alb, Route::paths(20, &["/admin/*"]).port(8090))
    ///     .build();
    /// let listener = stack.resource("listener-port-admin").unwrap().spec_json();
    /// assert_eq!(listener["port"], 8090);
    /// ```
    ///
    /// [`PublicConfig::listener_port`]: crate::config::PublicConfig::listener_port
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }
    /// With [`LoadBalancer::domain`]: publish the service at `<subdomain>.<domain>`
    /// (`"@"`: at the domain itself) instead of `<service name>.<domain>`.
    pub fn subdomain(mut self, subdomain: &str) -> Self {
        self.subdomain = Some(subdomain.to_owned());
        self
    }
}

impl Route {
    /// As a stack file writes it.
    pub fn to_config(&self) -> crate::config::PublicConfig {
        crate::config::PublicConfig {
            default: self.default,
            paths: self.paths.clone(),
            hosts: self.hosts.clone(),
            priority: self.priority,
            sticky: self.sticky,
            health_path: self.health_path.clone(),
            requests_per_target: self.requests_per_target,
            port: self.port,
            subdomain: self.subdomain.clone(),
        }
    }
}

impl From<&crate::config::PublicConfig> for Route {
    fn from(public: &crate::config::PublicConfig) -> Self {
        Route {
            default: public.default,
            paths: public.paths.clone(),
            hosts: public.hosts.clone(),
            priority: public.priority,
            sticky: public.sticky,
            health_path: public.health_path.clone(),
            requests_per_target: public.requests_per_target,
            port: public.port,
            subdomain: public.subdomain.clone(),
        }
    }
}
