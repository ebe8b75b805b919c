//! `provision cost`: the stack's estimated monthly cost, before it exists (its expansion)
//! or as it runs (`--live`: the resources `status` sees), at the AWS Price List API's
//! prices or, when the API cannot be reached, the committed offline table's
//! ([`crate::pricing`]); and the monthly difference `plan` prints.

use std::io::Write;

use anyhow::Result;
use clap::Args;
use serde_json::json;
use slipway_cdk::cost::{
    estimate, format_difference, items_from_observed, items_from_resources, monthly_difference,
    PriceSource, PriceTable,
};

use crate::model::{Observed, Resource};
use crate::pricing::{self, Prices};
use crate::session::Session;

/// `provision cost` options.
#[derive(Debug, Args)]
pub struct CostArgs {
    /// Price the live stack (the resources AWS has now) instead of the config.
    #[arg(long)]
    pub live: bool,
    /// Use the committed offline price table; don't ask the AWS Price List API.
    #[arg(long)]
    pub offline: bool,
}

/// Runs `provision cost`.
pub async fn run(session: &Session, args: &CostArgs) -> Result<u8> {
    let (_, graph) = session.desired()?;
    let (items, what) = if args.live {
        let aws = session.connect().await?;
        let observed = crate::resources::observe(&aws).await?;
        (items_from_observed(&observed), "live")
    } else {
        (items_from_resources(graph.resources()), "desired")
    };
    let Prices {
        table,
        fallback,
        region,
    } = pricing::prices(&session.connection, args.offline).await;
    let estimate = estimate(&items, &table);
    let note = region_note(&table, region.as_deref());
    if session.json() {
        let value = json!({
            "stack": session.stack, "env": session.env, "of": what,
            "total": round(estimate.total()), "total_at_max": round(estimate.total_at_max()),
            "estimate": estimate, "fallback_reason": fallback, "region_note": note,
        });
        let _ = writeln!(
            std::io::stdout().lock(),
            "{}",
            serde_json::to_string_pretty(&value)?
        );
    } else {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "{}-{} ({what}): estimated monthly cost",
            session.stack, session.env
        );
        let _ = out.write_all(estimate.render().as_bytes());
        if let Some(reason) = &fallback {
            let _ = writeln!(out, "AWS Price List API not used: {reason}");
        }
        if let Some(note) = &note {
            let _ = writeln!(out, "{note}");
        }
    }
    Ok(0)
}

/// Says when offline prices are another region's than the stack's.
fn region_note(table: &PriceTable, region: Option<&str>) -> Option<String> {
    let region = region?;
    (matches!(table.source, PriceSource::OfflineTable { .. }) && region != table.region).then(
        || {
            format!(
            "note: the offline table has {} prices; {region}'s differ (usually by a few percent)",
            table.region
        )
        },
    )
}

fn round(usd: f64) -> f64 {
    (usd * 100.0).round() / 100.0
}

/// What `plan` prints under a plan: the monthly difference between the desired stack and
/// the live one, at the offline table's prices (`plan` makes no extra AWS call for it).
pub fn plan_difference(desired: &[Resource], observed: &[Observed]) -> (String, String) {
    let table = PriceTable::offline();
    let difference = monthly_difference(
        &items_from_resources(desired),
        &items_from_observed(observed),
        &table,
    );
    (format_difference(difference), table.source.to_string())
}
