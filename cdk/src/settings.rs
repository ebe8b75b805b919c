//! What the provider layer sends beyond the specs: fixed settings (ownership tags, health
//! check timings, cooldowns, descriptions, the ALB's limits) that every stack gets. They
//! live here, in the core, because two sides must agree on them: the provisioner's
//! `aws/*` modules send them to AWS, and [`crate::synth`] writes the same values into
//! the CloudFormation template. Pure constants and functions: nothing here calls AWS.

/// Ownership tags: how `plan` finds a stack's resources (state lives in AWS, not in a file).
pub mod tags {
    /// The stack (`voting`, `sums`, `shop`).
    pub const STACK: &str = "slipway:stack";
    /// The environment (`dev`, `prod`, …).
    pub const ENV: &str = "slipway:env";
    /// The logical id within the stack.
    pub const ID: &str = "slipway:id";
    /// Marks a resource as Slipway's.
    pub const MANAGED_BY: &str = "managed-by";
    /// The value of [`MANAGED_BY`].
    pub const SLIPWAY: &str = "slipway";

    /// The four ownership tags of resource `id` (what the provider's `Aws::tags` sends).
    ///
    /// ```
    /// let tags = slipway_cdk::settings::tags::ownership("voting", "dev", "vpc");
    /// assert_eq!(tags[2], ("slipway:id", "vpc".to_owned()));
    /// ```
    pub fn ownership(stack: &str, env: &str, id: &str) -> [(&'static str, String); 4] {
        [
            (STACK, stack.to_owned()),
            (ENV, env.to_owned()),
            (ID, id.to_owned()),
            (MANAGED_BY, SLIPWAY.to_owned()),
        ]
    }
}

/// The stack's internet-facing ALB.
pub mod elb {
    /// The load balancer attribute behind `LoadBalancerSpec::drop_invalid_headers`.
    pub const DROP_INVALID_HEADERS: &str = "routing.http.drop_invalid_header_fields.enabled";

    /// The fixed response of a listener with nothing to forward to.
    #[derive(Debug)]
    pub struct FixedResponse {
        /// HTTP status code, as ELB takes it (a string).
        pub status_code: &'static str,
        /// `Content-Type` of the body.
        pub content_type: &'static str,
        /// The body.
        pub body: &'static str,
    }

    /// What listeners answer when no rule matches.
    pub const NOT_FOUND: FixedResponse = FixedResponse {
        status_code: "404",
        content_type: "text/plain",
        body: "not found",
    };

    /// Target group health check timings. The path is readiness (`/ready`), and ECS replaces
    /// a task its target group reports unhealthy (ECS developer guide, "Amazon ECS
    /// services": "replaces tasks determined to be unhealthy after a container health check
    /// or a load balancer target group health check fails"). So a target counts as unhealthy
    /// only after `unhealthy_threshold` × `interval_seconds` = 150 s of failed checks: longer
    /// than an RDS Multi-AZ or ElastiCache failover (60–120 s), during which every task of
    /// the service fails together and the ALB, with no healthy target left, routes to all of
    /// them anyway (fail-open). It comes back after 2 good checks. Ranges (ELB API,
    /// CreateTargetGroup): interval 5–300 s, timeout 2–120 s and below the interval,
    /// thresholds 2–10.
    #[derive(Debug)]
    pub struct TargetHealthCheck {
        /// Seconds between checks.
        pub interval_seconds: i32,
        /// Seconds one check may take.
        pub timeout_seconds: i32,
        /// Good checks before a target counts as healthy.
        pub healthy_threshold: i32,
        /// Failed checks before a target counts as unhealthy.
        pub unhealthy_threshold: i32,
    }

    /// The timings every target group of the stack gets.
    pub const TARGET_HEALTH: TargetHealthCheck = TargetHealthCheck {
        interval_seconds: 30,
        timeout_seconds: 5,
        healthy_threshold: 2,
        unhealthy_threshold: 5,
    };

    /// Why ALB would refuse `paths` as one rule's path-pattern condition, if it would.
    /// Limits from the ALB guide ("Listener rules", condition types): at most three match
    /// values per condition and five per rule, at most five wildcards per rule, each value
    /// at most 128 characters (CloudFormation `PathPatternConfig`).
    ///
    /// ```
    /// use slipway_cdk::settings::elb::path_condition_problem;
    /// assert_eq!(path_condition_problem(&["/api/*".to_owned()]), None);
    /// let four = ["/a", "/b", "/c", "/d"].map(String::from);
    /// assert!(path_condition_problem(&four).unwrap().contains("at most 3"));
    /// ```
    pub fn path_condition_problem(paths: &[String]) -> Option<String> {
        const VALUES_PER_CONDITION: usize = 3;
        const WILDCARDS_PER_RULE: usize = 5;
        const MAX_LENGTH: usize = 128;
        if paths.len() > VALUES_PER_CONDITION {
            return Some(format!(
                "{} path patterns in one rule; ALB allows at most {VALUES_PER_CONDITION} per condition",
                paths.len()
            ));
        }
        let wildcards: usize = paths.iter().map(|p| p.matches(['*', '?']).count()).sum();
        if wildcards > WILDCARDS_PER_RULE {
            return Some(format!(
                "{wildcards} wildcards (`*`, `?`) in one rule's path patterns; ALB allows at most {WILDCARDS_PER_RULE}"
            ));
        }
        paths.iter().find(|p| p.len() > MAX_LENGTH).map(|p| {
            format!(
                "path pattern `{p}` is {} characters; ALB allows at most {MAX_LENGTH}",
                p.len()
            )
        })
    }
}

/// ECS services and task definitions.
pub mod ecs {
    /// Records the desired count the config asked for. Autoscaling moves the live count, so
    /// plans compare the config with this tag rather than the live value, and `up` leaves an
    /// autoscaled count alone unless the configured count itself changed.
    pub const CONFIGURED_DESIRED_TAG: &str = "slipway:desired-count";

    /// Marks a service `up` created before its image existed (desired 0, autoscaling
    /// 0-0, value `true`); the first `provision deploy` starts it at its configured
    /// counts and removes the tag, so no later `up` holds it again.
    pub const AWAITING_RELEASE_TAG: &str = "slipway:awaiting-release";

    /// Container health check timings, in seconds (and attempts).
    #[derive(Debug)]
    pub struct HealthCheckTimings {
        /// Seconds between checks.
        pub interval: i32,
        /// Seconds one check may take.
        pub timeout: i32,
        /// Failed checks before the container counts as unhealthy.
        pub retries: i32,
        /// Seconds after start during which failures do not count.
        pub start_period: i32,
    }

    /// Every container health check the stack registers.
    pub const HEALTH_CHECK: HealthCheckTimings = HealthCheckTimings {
        interval: 15,
        timeout: 5,
        retries: 3,
        start_period: 30,
    };
    /// Rolling deployments start new tasks before stopping old ones.
    pub const MAXIMUM_PERCENT: i32 = 200;
    /// See [`MAXIMUM_PERCENT`].
    pub const MINIMUM_HEALTHY_PERCENT: i32 = 100;
    /// Seconds a new task behind the load balancer has before health checks count.
    pub const HEALTH_CHECK_GRACE_SECONDS: i32 = 60;
}

/// ElastiCache and RDS.
pub mod rds {
    /// Description of the Redis subnet group.
    pub const CACHE_SUBNET_GROUP_DESCRIPTION: &str = "Redis: private subnets";
    /// Description of the Postgres subnet group.
    pub const DB_SUBNET_GROUP_DESCRIPTION: &str = "PostgreSQL: private subnets";
}

/// Secrets Manager.
pub mod secrets {
    /// Length of a random token (ElastiCache AUTH tokens: 16-128 characters, no punctuation).
    pub const RANDOM_TOKEN_LENGTH: i64 = 64;
    /// Length of a service role's Postgres password. Postgres itself limits nothing that
    /// matters here (SCRAM hashes any length); letters and digits only, so the password
    /// survives URLs and shells unescaped. GetRandomPassword takes 1-4096 (Secrets Manager
    /// API reference, GetRandomPassword `PasswordLength`).
    pub const DATABASE_PASSWORD_LENGTH: i64 = 48;
}

/// ECR repositories and IAM roles.
pub mod registry {
    use serde_json::json;

    /// Name of the single inline policy every stack role carries.
    pub const POLICY_NAME: &str = crate::names::INLINE_POLICY_NAME;

    /// The ECR lifecycle policy keeping the newest `keep_images` images (also what
    /// `provision synth` puts in the template).
    ///
    /// ```
    /// let policy = slipway_cdk::settings::registry::lifecycle_policy(10);
    /// assert!(policy.contains("\"countNumber\":10"));
    /// ```
    pub fn lifecycle_policy(keep_images: u32) -> String {
        json!({"rules": [{
            "rulePriority": 1,
            "description": format!("keep the newest {keep_images} images"),
            "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep_images},
            "action": {"type": "expire"}
        }]})
        .to_string()
    }
}

/// Application Auto Scaling.
pub mod autoscaling {
    /// Target tracking scales in slowly and out quickly.
    pub const SCALE_IN_COOLDOWN_SECONDS: i32 = 120;
    /// See [`SCALE_IN_COOLDOWN_SECONDS`].
    pub const SCALE_OUT_COOLDOWN_SECONDS: i32 = 60;
}
