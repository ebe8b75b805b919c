//! `provision cost` and its prices: the exact Price List API requests (moto does not
//! implement the Price List API, `pricing`, so they are checked with aws-smithy-mocks),
//! how answers become prices, the fallback to the offline table when the API cannot be
//! reached (an endpoint on a closed loopback port), `plan`'s monthly difference and
//! `provision policy`'s output. No test here reaches anything but loopback.

mod common;

use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use aws_sdk_pricing::operation::get_products::{GetProductsInput, GetProductsOutput};
use aws_sdk_pricing::types::FilterType;
use aws_smithy_mocks::mock;
use provisioner::pricing::{api_table, price_in_answer, query, PRICE_LIST_REGION};
use slipway_cdk::cost::{PriceSource, PriceTable};

use common::mocks::client;

/// One product of a GetProducts answer with one on-demand price dimension per
/// `(unit, usd)`.
fn product(dimensions: &[(&str, &str)]) -> String {
    let dimensions: serde_json::Map<String, serde_json::Value> = dimensions
        .iter()
        .enumerate()
        .map(|(i, (unit, usd))| {
            (
                format!("SKU.TERM.{i}"),
                serde_json::json!({"unit": unit, "pricePerUnit": {"USD": usd}, "beginRange": "0"}),
            )
        })
        .collect();
    serde_json::json!({
        "product": {"productFamily": "NAT Gateway", "attributes": {"regionCode": "us-east-1"}},
        "terms": {"OnDemand": {"SKU.TERM": {"priceDimensions": dimensions}}},
    })
    .to_string()
}

#[tokio::test]
async fn each_price_is_asked_for_with_the_tables_filters_and_the_stacks_region() {
    let table = PriceTable::offline();
    let nat = table
        .prices
        .iter()
        .find(|p| p.key == "nat_gateway_hour")
        .unwrap();
    let captured: Arc<Mutex<Vec<GetProductsInput>>> = Arc::default();
    let sink = captured.clone();
    let rule = mock!(aws_sdk_pricing::Client::get_products)
        .match_requests(move |input| {
            sink.lock().unwrap().push(input.clone());
            true
        })
        .then_output(|| {
            GetProductsOutput::builder()
                .price_list(product(&[("Hrs", "0.0480000000")]))
                .build()
        });
    let pricing = client!(aws_sdk_pricing, PRICE_LIST_REGION, [&rule]);
    let answer = query(&pricing, nat, "eu-west-1").send().await.unwrap();
    assert_eq!(price_in_answer(answer.price_list(), "Hrs"), Ok(0.048));

    let input = captured.lock().unwrap().pop().unwrap();
    assert_eq!(input.service_code(), Some("AmazonEC2"));
    assert_eq!(input.format_version(), Some("aws_v1"));
    let filters: Vec<(FilterType, &str, &str)> = input
        .filters()
        .iter()
        .map(|f| (f.r#type().clone(), f.field(), f.value()))
        .collect();
    assert_eq!(
        filters,
        [
            (FilterType::TermMatch, "regionCode", "eu-west-1"),
            (FilterType::TermMatch, "productFamily", "NAT Gateway"),
            // Usage types carry a region prefix outside us-east-1 (EUW1-NatGateway-Hours).
            (FilterType::Contains, "usagetype", "NatGateway-Hours"),
        ]
    );

    // Dashboards are priced account-wide: no regionCode (the Price List has none).
    let dashboard = table
        .prices
        .iter()
        .find(|p| p.key == "dashboard_month")
        .unwrap();
    query(&pricing, dashboard, "eu-west-1")
        .send()
        .await
        .unwrap();
    let input = captured.lock().unwrap().pop().unwrap();
    assert_eq!(input.service_code(), Some("AmazonCloudWatch"));
    let fields: Vec<&str> = input.filters().iter().map(|f| f.field()).collect();
    assert_eq!(fields, ["usagetype"]);
}

#[tokio::test]
async fn the_apis_answers_replace_every_price_of_the_table() {
    // Each query answered with twice the offline price, in the table's unit; which
    // price was asked for is told by its filters.
    let offline = PriceTable::offline();
    let prices = offline.prices.clone();
    let rule = mock!(aws_sdk_pricing::Client::get_products)
        .match_requests(|_| true)
        .then_compute_output(move |input| {
            let asked = prices
                .iter()
                .find(|p| {
                    p.service == input.service_code().unwrap_or_default()
                        && input.filters().len()
                            == usize::from(!p.global) + p.term_match.len() + p.contains.len()
                        && p.term_match
                            .iter()
                            .chain(&p.contains)
                            .all(|(field, value)| {
                                input
                                    .filters()
                                    .iter()
                                    .any(|f| f.field() == field && f.value() == value)
                            })
                })
                .expect("a query of the table");
            let doubled = format!("{:.10}", asked.usd * 2.0);
            GetProductsOutput::builder()
                // A free tier and the paid price, as CloudWatch's tiers come.
                .price_list(product(&[
                    (&asked.unit, "0.0000000000"),
                    (&asked.unit, &doubled),
                ]))
                .build()
        });
    let pricing = client!(aws_sdk_pricing, PRICE_LIST_REGION, [&rule]);
    let table = api_table(&pricing, "us-east-1").await.unwrap();
    assert_eq!(rule.num_calls(), offline.prices.len());
    assert_eq!(table.source, PriceSource::PriceListApi);
    for (api, offline) in table.prices.iter().zip(&offline.prices) {
        assert!((api.usd - offline.usd * 2.0).abs() < 1e-9, "{}", api.key);
    }
}

#[test]
fn answers_in_another_unit_or_with_several_prices_are_refused() {
    assert!(price_in_answer(&[product(&[("GB", "0.045")])], "Hrs")
        .unwrap_err()
        .contains("no on-demand price per Hrs"));
    let several = [product(&[("Hrs", "0.045")]), product(&[("Hrs", "0.050")])];
    assert!(price_in_answer(&several, "Hrs")
        .unwrap_err()
        .contains("several prices"));
    // The same price twice (two SKUs of one usage type) is one price.
    let same = [product(&[("Hrs", "0.045")]), product(&[("Hrs", "0.045")])];
    assert_eq!(price_in_answer(&same, "Hrs"), Ok(0.045));
}

/// `provision ARGS` with AWS pointed at `endpoint`, test credentials and no profile.
fn provision(args: &[&str], endpoint: &str) -> (i32, String, String) {
    let out = common::bare_command(args)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_MAX_ATTEMPTS", "1")
        .output()
        .expect("provision runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

/// An endpoint nothing listens on: a loopback port bound and released.
fn closed_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

#[test]
fn cost_falls_back_to_the_offline_table_when_the_api_is_unreachable() {
    let endpoint = closed_endpoint();
    let started = std::time::Instant::now();
    let (code, stdout, stderr) =
        provision(&["--stack", "voting", "--env", "dev", "cost"], &endpoint);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    assert!(
        stdout.contains("voting-dev (desired): estimated monthly cost"),
        "{stdout}"
    );
    assert!(
        stdout.contains("prices: offline table of 2026-12-06 (us-east-1, USD"),
        "{stdout}"
    );
    assert!(
        stdout.contains("AWS Price List API not used: pricing:GetProducts"),
        "{stdout}"
    );
    // The hand-checked figure (cdk/src/cost/tests.rs) and per-kind lines.
    assert!(stdout.contains("$147.85/month"), "{stdout}");
    for line in [
        "NAT gateway hours",
        "ALB hours",
        "Fargate vCPU",
        "RDS db.t4g.micro",
    ] {
        assert!(stdout.contains(line), "{line}: {stdout}");
    }

    let (code, stdout, _) = provision(
        &["--stack", "voting", "--output", "json", "cost", "--offline"],
        &endpoint,
    );
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["total"], 147.85);
    assert_eq!(json["estimate"]["source"]["source"], "offline_table");
    assert_eq!(json["fallback_reason"], "--offline was given");
}

#[test]
fn plan_prints_the_monthly_difference_of_the_change() {
    let (code, stdout, stderr) = provision(
        &["--stack", "voting", "plan", "--offline"],
        &closed_endpoint(),
    );
    assert_eq!(code, 0, "{stderr}");
    // An empty account: the whole stack is the difference.
    assert!(
        stdout.contains("Monthly cost: +$147.85/month (prices: offline table of 2026-12-06"),
        "{stdout}"
    );
}

#[test]
fn policy_prints_a_document_iam_takes_and_a_summary() {
    let endpoint = closed_endpoint();
    let (code, stdout, _) = provision(&["--stack", "voting", "policy", "--json"], &endpoint);
    assert_eq!(code, 0);
    let document: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(document["Version"], "2012-10-17");
    assert!(document["Statement"].as_array().unwrap().len() > 10);
    let (code, stdout, _) = provision(&["--stack", "voting", "policy"], &endpoint);
    assert_eq!(code, 0);
    assert!(
        stdout.starts_with("IAM policy for `provision up` and `provision down` of voting-dev"),
        "{stdout}"
    );
    assert!(
        stdout.contains("when StringEquals aws:RequestTag/slipway:stack = voting"),
        "{stdout}"
    );
    let (_, help, _) = provision(&["--help"], &endpoint);
    for command in ["cost", "policy"] {
        assert!(
            help.lines()
                .any(|l| l.trim_start().starts_with(&format!("{command} "))),
            "{help}"
        );
    }
}
