//! What a stack costs per month, from its resources and a price table: pure arithmetic,
//! no AWS call. `provision cost` prices the desired stack (before it exists) or the live
//! one (its observed resources); `provision plan` prints the difference a change makes.
//!
//! Prices come from a [`PriceTable`]: the committed, dated offline table
//! (`cost/us-east-1.toml`, [`PriceTable::offline`]) or, in the provisioner, the same table
//! with each price replaced by the AWS Price List API's answer to the query the table
//! records for it ([`PriceTable::with_api_prices`]). [`PriceSource`] says which.
//!
//! What is priced, per resource kind (everything else the stack has is free or billed by
//! traffic this estimate does not guess): NAT gateway hours and data, ALB hours and an LCU
//! baseline, Fargate vCPU and GB hours of each service (at its desired count and at its
//! autoscaling maximum), RDS instance hours and storage, ElastiCache node hours, public
//! IPv4 addresses, Secrets Manager secrets, CloudWatch alarm metrics and the dashboard, and
//! CloudWatch Logs ingestion and storage. A `[domain]` adds two lines at $0: ACM public
//! certificates are free, and so are Route 53 queries of alias records to an ALB; the
//! hosted zone the records go in is the account's own, not the stack's, so its $0.50 a
//! month is not counted here.
//!
//! ```
//! use slipway_cdk::config::{repo_config_dir, StackConfig};
//! use slipway_cdk::cost::{estimate, items_from_resources, PriceTable};
//!
//! let config = StackConfig::load(&repo_config_dir(), "voting", "dev").unwrap();
//! let resources = slipway_cdk::constructs::expand(&config);
//! let estimate = estimate(&items_from_resources(&resources), &PriceTable::offline());
//! assert!(estimate.total() > 100.0);
//! print!("{}", estimate.render());
//! ```

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{Kind, Observed, Resource};
use crate::plan::{normalize, PhysicalIndex};

/// The committed offline table (see its header for what each field means).
const OFFLINE_TABLE: &str = include_str!("cost/us-east-1.toml");

/// Where the prices of an estimate come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum PriceSource {
    /// The committed table, last checked on `date`.
    OfflineTable {
        /// The table's `date` (`YYYY-MM-DD`): when its prices were transcribed.
        date: String,
    },
    /// The AWS Price List API (pricing:GetProducts), asked just now.
    PriceListApi,
}

impl fmt::Display for PriceSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PriceSource::OfflineTable { date } => write!(f, "offline table of {date}"),
            PriceSource::PriceListApi => f.write_str("AWS Price List API"),
        }
    }
}

/// Usage the estimate assumes where the bill depends on traffic.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Assumptions {
    /// Hours in a month (730, as AWS's calculators count).
    pub hours_per_month: f64,
    /// GB processed per NAT gateway per month.
    pub nat_gateway_gb_per_month: f64,
    /// LCUs each ALB uses around the clock.
    pub alb_lcu_baseline: f64,
    /// GB of logs ingested per log group per month.
    pub log_gb_per_group_month: f64,
    /// GB of logs stored per log group.
    pub log_storage_gb_per_group: f64,
}

/// One price of the table and the Price List query it answers.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Price {
    /// What is priced (`nat_gateway_hour`, `rds_instance_hour:<class>:<deployment>`…).
    pub key: String,
    /// USD per `unit`.
    pub usd: f64,
    /// The Price List's unit for it (`Hrs`, `GB`, `GB-Mo`…).
    pub unit: String,
    /// The Price List ServiceCode (`AmazonEC2`…).
    pub service: String,
    /// TERM_MATCH filters (field → value).
    #[serde(default, rename = "match")]
    pub term_match: BTreeMap<String, String>,
    /// CONTAINS filters (field → part of the value).
    #[serde(default)]
    pub contains: BTreeMap<String, String>,
    /// Priced for the whole account, not per region (the Price List has no `regionCode`
    /// for it: CloudWatch dashboards).
    #[serde(default)]
    pub global: bool,
}

/// Prices by key, their region and where they come from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PriceTable {
    /// The region the prices are of (`us-east-1` for the offline table).
    pub region: String,
    /// `USD`.
    pub currency: String,
    /// The offline table (with its date) or the Price List API.
    pub source: PriceSource,
    /// Usage assumed where the bill depends on traffic.
    pub assumptions: Assumptions,
    /// Every price, each with the query it answers.
    pub prices: Vec<Price>,
}

#[derive(Deserialize)]
struct TableFile {
    region: String,
    date: String,
    currency: String,
    assumptions: Assumptions,
    price: Vec<Price>,
}

impl PriceTable {
    /// The committed offline table (`cdk/src/cost/us-east-1.toml`).
    pub fn offline() -> PriceTable {
        let file: TableFile =
            toml::from_str(OFFLINE_TABLE).expect("the committed price table parses (tested)");
        PriceTable {
            region: file.region,
            currency: file.currency,
            source: PriceSource::OfflineTable { date: file.date },
            assumptions: file.assumptions,
            prices: file.price,
        }
    }

    /// USD per unit of `key`, if the table has it.
    pub fn usd(&self, key: &str) -> Option<f64> {
        self.prices.iter().find(|p| p.key == key).map(|p| p.usd)
    }

    /// The same table with every price as the Price List API answered it for `region`
    /// (`answers`: key → USD; every key of the table must be answered).
    pub fn with_api_prices(
        mut self,
        region: &str,
        answers: &BTreeMap<String, f64>,
    ) -> Result<PriceTable, String> {
        for price in &mut self.prices {
            price.usd = *answers
                .get(&price.key)
                .ok_or_else(|| format!("the Price List API gave no price for {}", price.key))?;
        }
        self.region = region.to_owned();
        self.source = PriceSource::PriceListApi;
        Ok(self)
    }
}

/// A resource as the estimate sees it: its kind and its spec as JSON with `${id}` refs.
#[derive(Debug, Clone, PartialEq)]
pub struct CostItem {
    /// Logical id.
    pub id: String,
    /// Its kind.
    pub kind: Kind,
    /// The spec's fields, other resources as `${id}`.
    pub spec: Value,
}

/// The desired resources (an expanded stack).
pub fn items_from_resources(resources: &[Resource]) -> Vec<CostItem> {
    resources
        .iter()
        .map(|r| CostItem {
            id: r.id.clone(),
            kind: r.kind(),
            spec: r.spec_json(),
        })
        .collect()
}

/// The live resources (as observed), their physical ids mapped back to `${id}` refs.
pub fn items_from_observed(observed: &[Observed]) -> Vec<CostItem> {
    let index = PhysicalIndex::new(observed);
    observed
        .iter()
        .map(|o| CostItem {
            id: o.id.clone(),
            kind: o.kind,
            spec: normalize(&o.spec, &index),
        })
        .collect()
}

/// One line of an estimate: a priced quantity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    /// What is billed (`NAT gateway hours`…).
    pub item: String,
    /// The arithmetic, e.g. `1 × 730 h × $0.045/h`.
    pub quantity: String,
    /// USD per month at the desired size.
    pub monthly: f64,
    /// USD per month with every service at its autoscaling maximum.
    pub monthly_at_max: f64,
}

/// A stack's estimated monthly cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    /// Where the prices come from.
    pub source: PriceSource,
    /// The prices' region.
    pub region: String,
    /// `USD`.
    pub currency: String,
    /// One line per billed item.
    pub lines: Vec<Line>,
    /// Resources the table has no price for (left out of the totals), and why.
    pub unpriced: Vec<String>,
    /// The usage assumed.
    pub assumptions: Assumptions,
}

impl Estimate {
    /// USD per month at the desired size.
    pub fn total(&self) -> f64 {
        self.lines.iter().map(|l| l.monthly).sum()
    }

    /// USD per month with every service at its autoscaling maximum.
    pub fn total_at_max(&self) -> f64 {
        self.lines.iter().map(|l| l.monthly_at_max).sum()
    }

    /// The estimate as printed by `provision cost`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "prices: {} ({}, {}, on-demand list prices)",
            self.source, self.region, self.currency
        );
        for line in &self.lines {
            let at_max = if (line.monthly_at_max - line.monthly).abs() >= 0.005 {
                format!("   (at max {})", dollars(line.monthly_at_max))
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "  {:<28} {:<46} {:>10}{at_max}",
                line.item,
                line.quantity,
                dollars(line.monthly)
            );
        }
        let _ = writeln!(
            out,
            "  {:<28} {:<46} {:>10}/month",
            "total",
            "",
            dollars(self.total())
        );
        let _ = writeln!(
            out,
            "  {:<28} {:<46} {:>10}/month",
            "total at max scale",
            "(every service at its autoscaling max)",
            dollars(self.total_at_max())
        );
        for unpriced in &self.unpriced {
            let _ = writeln!(out, "not priced: {unpriced}");
        }
        let a = &self.assumptions;
        let _ = writeln!(
            out,
            "assumes {} h/month, {} GB/month through each NAT gateway, {} ALB LCU around the \
             clock,\n  {} GB of logs ingested and {} GB stored per log group",
            a.hours_per_month,
            a.nat_gateway_gb_per_month,
            a.alb_lcu_baseline,
            a.log_gb_per_group_month,
            a.log_storage_gb_per_group
        );
        let _ = writeln!(
            out,
            "leaves out data transfer out, ECR storage, snapshots, custom metrics and free tiers"
        );
        out
    }
}

/// `$12.34`.
pub fn dollars(usd: f64) -> String {
    format!("${usd:.2}")
}

/// A monthly difference as `plan` prints it: `+$12.34/month`, `-$3.00/month`.
pub fn format_difference(usd: f64) -> String {
    let cents = (usd * 100.0).round();
    let sign = if cents < 0.0 { "-" } else { "+" };
    format!("{sign}${:.2}/month", cents.abs() / 100.0)
}

/// What a change costs per month: the desired stack's total minus the live one's.
pub fn monthly_difference(desired: &[CostItem], live: &[CostItem], table: &PriceTable) -> f64 {
    estimate(desired, table).total() - estimate(live, table).total()
}

fn field<'a>(item: &'a CostItem, name: &str) -> &'a Value {
    &item.spec[name]
}

fn number(item: &CostItem, name: &str) -> f64 {
    field(item, name).as_f64().unwrap_or_default()
}

fn refers_to(value: &Value, id: &str) -> bool {
    value.as_str().and_then(crate::model::parse_ref) == Some(id)
}

/// Accumulates lines, one per billed item, summing quantities of the same item.
struct Lines<'t> {
    table: &'t PriceTable,
    lines: Vec<Line>,
    unpriced: Vec<String>,
}

impl Lines<'_> {
    /// `count` (and `count_at_max`) × `per` units of `key`, shown as `what`.
    fn add(&mut self, item: &str, key: &str, count: f64, count_at_max: f64, per: (f64, &str)) {
        if count_at_max == 0.0 {
            return;
        }
        let Some(usd) = self.table.usd(key) else {
            self.unpriced.push(format!(
                "{item}: no price for `{key}` in the {} table; add it to cdk/src/cost/us-east-1.toml",
                self.table.source
            ));
            return;
        };
        let (amount, unit) = per;
        let unit_price = if unit.is_empty() {
            format!("${usd}")
        } else {
            format!("{amount} {unit} × ${usd}/{unit}")
        };
        self.lines.push(Line {
            item: item.to_owned(),
            quantity: format!("{count} × {unit_price}"),
            monthly: count * amount * usd,
            monthly_at_max: count_at_max * amount * usd,
        });
    }
}

/// The monthly estimate of `items` at `table`'s prices (see the module docs for what is
/// priced and how).
pub fn estimate(items: &[CostItem], table: &PriceTable) -> Estimate {
    let a = &table.assumptions;
    let hours = a.hours_per_month;
    let mut lines = Lines {
        table,
        lines: Vec::new(),
        unpriced: Vec::new(),
    };
    let of = |kind: Kind| items.iter().filter(move |i| i.kind == kind);
    let count = |kind: Kind| of(kind).count() as f64;

    let nat = count(Kind::NatGateway);
    lines.add(
        "NAT gateway hours",
        "nat_gateway_hour",
        nat,
        nat,
        (hours, "h"),
    );
    let nat_gb = (a.nat_gateway_gb_per_month, "GB");
    lines.add("NAT gateway data", "nat_gateway_gb", nat, nat, nat_gb);

    let albs = count(Kind::LoadBalancer);
    lines.add("ALB hours", "alb_hour", albs, albs, (hours, "h"));
    let lcu_hours = (a.alb_lcu_baseline * hours, "LCU-h");
    lines.add("ALB LCU baseline", "alb_lcu_hour", albs, albs, lcu_hours);

    // Fargate: each service's task size × its desired count (and its autoscaling max).
    let (mut vcpus, mut vcpus_max, mut gbs, mut gbs_max) = (0.0, 0.0, 0.0, 0.0);
    let mut public_tasks = (0.0, 0.0);
    for service in of(Kind::Service) {
        let desired = number(service, "desired_count");
        let max = of(Kind::ScalableTarget)
            .find(|t| refers_to(field(t, "service"), &service.id))
            .map_or(desired, |t| number(t, "max").max(desired));
        let definition = items.iter().find(|d| {
            d.kind == Kind::TaskDefinition && refers_to(field(service, "task_definition"), &d.id)
        });
        if let Some(definition) = definition {
            let vcpu = number(definition, "cpu") / 1024.0;
            let gb = number(definition, "memory") / 1024.0;
            vcpus += desired * vcpu;
            vcpus_max += max * vcpu;
            gbs += desired * gb;
            gbs_max += max * gb;
        } else {
            lines.unpriced.push(format!(
                "{}: its task definition is not part of the stack (its size is unknown)",
                service.id
            ));
        }
        if field(service, "assign_public_ip").as_bool() == Some(true) {
            public_tasks.0 += desired;
            public_tasks.1 += max;
        }
    }
    let vcpu_hours = (hours, "vCPU-h");
    lines.add(
        "Fargate vCPU",
        "fargate_vcpu_hour",
        vcpus,
        vcpus_max,
        vcpu_hours,
    );
    let gb_hours = (hours, "GB-h");
    lines.add("Fargate memory", "fargate_gb_hour", gbs, gbs_max, gb_hours);

    for db in of(Kind::DbInstance) {
        let class = field(db, "instance_class").as_str().unwrap_or_default();
        let deployment = if field(db, "multi_az").as_bool() == Some(true) {
            "Multi-AZ"
        } else {
            "Single-AZ"
        };
        let key = format!("rds_instance_hour:{class}:{deployment}");
        let label = format!("RDS {class} {deployment}");
        lines.add(&label, &key, 1.0, 1.0, (hours, "h"));
        let storage = (number(db, "allocated_storage_gb"), "GB-month");
        let key = format!("rds_storage_gb_month:{deployment}");
        lines.add("RDS storage", &key, 1.0, 1.0, storage);
    }

    for redis in of(Kind::ReplicationGroup) {
        let node_type = field(redis, "node_type").as_str().unwrap_or_default();
        let nodes = 1.0 + number(redis, "replicas");
        let key = format!("cache_node_hour:{node_type}");
        let label = format!("ElastiCache {node_type}");
        lines.add(&label, &key, nodes, nodes, (hours, "h"));
    }

    // Public IPv4: each NAT gateway's Elastic IP, one per subnet of an internet-facing
    // ALB (a node per zone), and tasks that get a public IP.
    let alb_addresses: f64 = of(Kind::LoadBalancer)
        .filter(|lb| field(lb, "scheme").as_str() == Some("internet-facing"))
        .map(|lb| field(lb, "subnets").as_array().map_or(0, Vec::len) as f64)
        .sum();
    let addresses = nat + alb_addresses + public_tasks.0;
    let addresses_max = nat + alb_addresses + public_tasks.1;
    let ip_hours = (hours, "h");
    lines.add(
        "public IPv4 addresses",
        "public_ipv4_hour",
        addresses,
        addresses_max,
        ip_hours,
    );

    // RDS keeps a managed master password in a secret of its own.
    let managed = of(Kind::DbInstance)
        .filter(|db| field(db, "managed_master_password").as_bool() == Some(true))
        .count() as f64;
    let secrets = count(Kind::Secret) + managed;
    lines.add(
        "Secrets Manager secrets",
        "secret_month",
        secrets,
        secrets,
        (1.0, ""),
    );

    // Standard-resolution alarms are billed per metric they read (not per expression).
    let alarm_metrics: f64 = of(Kind::Alarm)
        .map(|alarm| {
            let queries = field(alarm, "queries").as_array();
            queries.map_or(0, |q| q.iter().filter(|q| !q["metric"].is_null()).count()) as f64
        })
        .sum();
    let alarm_label = "CloudWatch alarm metrics";
    lines.add(
        alarm_label,
        "alarm_metric_month",
        alarm_metrics,
        alarm_metrics,
        (1.0, ""),
    );
    let dashboards = count(Kind::Dashboard);
    lines.add(
        "CloudWatch dashboard",
        "dashboard_month",
        dashboards,
        dashboards,
        (1.0, ""),
    );

    let groups = count(Kind::LogGroup);
    let ingest = (a.log_gb_per_group_month, "GB");
    lines.add(
        "CloudWatch Logs ingestion",
        "log_ingest_gb",
        groups,
        groups,
        ingest,
    );
    let stored = (a.log_storage_gb_per_group, "GB-month");
    lines.add(
        "CloudWatch Logs storage",
        "log_storage_gb_month",
        groups,
        groups,
        stored,
    );

    // Free, and listed so the estimate says so rather than leave them out silently
    // (ACM pricing: "Public SSL/TLS certificates provisioned through AWS Certificate
    // Manager are free"; Route 53 pricing: "Alias queries to … Elastic Load Balancers …
    // are free").
    let certificates = count(Kind::Certificate);
    if certificates > 0.0 {
        lines.lines.push(Line {
            item: "ACM public certificate".into(),
            quantity: format!("{certificates} × $0 (public certificates are free)"),
            monthly: 0.0,
            monthly_at_max: 0.0,
        });
    }
    let records = count(Kind::DnsRecord);
    if records > 0.0 {
        lines.lines.push(Line {
            item: "Route 53 alias records".into(),
            quantity: format!(
                "{records} × $0 (alias queries to an ALB are free; the hosted zone is yours, not counted)"
            ),
            monthly: 0.0,
            monthly_at_max: 0.0,
        });
    }

    Estimate {
        source: table.source.clone(),
        region: table.region.clone(),
        currency: table.currency.clone(),
        lines: lines.lines,
        unpriced: lines.unpriced,
        assumptions: a.clone(),
    }
}

#[cfg(test)]
mod tests;
