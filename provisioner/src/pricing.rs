//! Prices from the AWS Price List Query API (`pricing:GetProducts`), with the committed
//! offline table ([`PriceTable::offline`]) when the API cannot be reached or answers
//! something the table does not expect.
//!
//! Every price of the table names the query it answers (ServiceCode, TERM_MATCH and
//! CONTAINS filters); [`query`] sends exactly that, with `regionCode` set to the stack's
//! region. The API itself is served from us-east-1 (also ap-south-1 and eu-central-1;
//! "Using the AWS Price List Query API", AWS Billing User Guide), whatever region the
//! stack is in. moto does not implement the Price List API, so the requests are tested
//! with aws-smithy-mocks (`tests/pricing.rs`).

use std::collections::BTreeMap;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_pricing::operation::get_products::builders::GetProductsFluentBuilder;
use aws_sdk_pricing::types::{Filter, FilterType};
use futures::future::try_join_all;
use slipway_cdk::cost::{Price, PriceTable};

use crate::aws::{self, Connection};

/// The region whose endpoint serves the Price List Query API.
pub const PRICE_LIST_REGION: &str = "us-east-1";

/// Why the Price List API's prices were not used.
#[derive(Debug, thiserror::Error)]
pub enum PricingError {
    #[error("pricing:GetProducts for {key} failed: {message}")]
    Call { key: String, message: String },
    #[error("the Price List API's answer for {key} is unusable: {message}")]
    Answer { key: String, message: String },
    #[error("{0}")]
    Table(String),
}

/// A price table and, when it is the offline one, why the API's was not used.
#[derive(Debug, Clone)]
pub struct Prices {
    pub table: PriceTable,
    /// `None`: the table is the API's. Otherwise why the offline table is used.
    pub fallback: Option<String>,
    /// The stack's region, when the AWS configuration names one.
    pub region: Option<String>,
}

/// A Price List client on the API's endpoint (an endpoint override, e.g. for tests, is
/// kept), quick to give up: an unreachable API means the offline table, not a long wait.
pub fn client(sdk: &SdkConfig) -> aws_sdk_pricing::Client {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_timeout(Duration::from_secs(20))
        .build();
    let config = aws_sdk_pricing::config::Builder::from(sdk)
        .region(aws_config::Region::new(PRICE_LIST_REGION))
        .timeout_config(timeouts)
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(2))
        .build();
    aws_sdk_pricing::Client::from_conf(config)
}

fn filter(kind: FilterType, field: &str, value: &str) -> Filter {
    Filter::builder()
        .r#type(kind)
        .field(field)
        .value(value)
        .build()
        .expect("type, field and value are set")
}

/// The GetProducts request for `price` in `region`: the table's filters plus
/// `regionCode` (unless the price is account-wide).
pub fn query(
    client: &aws_sdk_pricing::Client,
    price: &Price,
    region: &str,
) -> GetProductsFluentBuilder {
    let mut request = client
        .get_products()
        .service_code(&price.service)
        .format_version("aws_v1")
        .max_results(100);
    if !price.global {
        request = request.filters(filter(FilterType::TermMatch, "regionCode", region));
    }
    for (field, value) in &price.term_match {
        request = request.filters(filter(FilterType::TermMatch, field, value));
    }
    for (field, value) in &price.contains {
        request = request.filters(filter(FilterType::Contains, field, value));
    }
    request
}

/// The on-demand USD price per `unit` in a GetProducts answer (`PriceList`: one JSON
/// document per product). Tiered prices count by their first paid tier; products that
/// disagree make the answer ambiguous.
pub fn price_in_answer(price_list: &[String], unit: &str) -> Result<f64, String> {
    let mut found: Vec<f64> = Vec::new();
    for product in price_list {
        let product: serde_json::Value =
            serde_json::from_str(product).map_err(|e| format!("a product is not JSON: {e}"))?;
        let dimensions = product["terms"]["OnDemand"]
            .as_object()
            .into_iter()
            .flat_map(|terms| terms.values())
            .filter_map(|term| term["priceDimensions"].as_object())
            .flat_map(|dimensions| dimensions.values());
        let paid = dimensions
            .filter(|d| d["unit"].as_str() == Some(unit))
            .filter_map(|d| d["pricePerUnit"]["USD"].as_str()?.parse::<f64>().ok())
            .filter(|usd| *usd > 0.0)
            .fold(None, |best: Option<f64>, usd| {
                Some(best.map_or(usd, |b| b.max(usd)))
            });
        if let Some(usd) = paid {
            if !found.iter().any(|f| (f - usd).abs() < 1e-12) {
                found.push(usd);
            }
        }
    }
    match found.as_slice() {
        [usd] => Ok(*usd),
        [] => Err(format!(
            "no on-demand price per {unit} among {} products",
            price_list.len()
        )),
        several => Err(format!("several prices per {unit}: {several:?}")),
    }
}

/// Why a call failed, in a line: AWS's error code and message, or that the endpoint could
/// not be reached in time.
fn call_failure<E, R>(err: &aws_sdk_pricing::error::SdkError<E, R>) -> String
where
    E: aws_sdk_pricing::error::ProvideErrorMetadata,
{
    use aws_sdk_pricing::error::SdkError;
    match err {
        SdkError::ServiceError(service) => {
            let error = service.err();
            format!(
                "{}: {} (the caller needs pricing:GetProducts)",
                error.code().unwrap_or("error"),
                error.message().unwrap_or("no message")
            )
        }
        SdkError::DispatchFailure(_) => {
            "cannot reach the Price List API endpoint (network, proxy or --endpoint-url)".into()
        }
        SdkError::TimeoutError(_) => "no answer from the Price List API in time".into(),
        other => other.to_string(),
    }
}

/// Every price of the offline table as the API answers it for `region`.
pub async fn api_table(
    client: &aws_sdk_pricing::Client,
    region: &str,
) -> Result<PriceTable, PricingError> {
    let offline = PriceTable::offline();
    let answers = try_join_all(offline.prices.iter().map(|price| async move {
        let answer = query(client, price, region)
            .send()
            .await
            .map_err(|e| PricingError::Call {
                key: price.key.clone(),
                message: call_failure(&e),
            })?;
        let usd = price_in_answer(answer.price_list(), &price.unit).map_err(|message| {
            PricingError::Answer {
                key: price.key.clone(),
                message,
            }
        })?;
        Ok::<_, PricingError>((price.key.clone(), usd))
    }))
    .await?;
    let answers: BTreeMap<String, f64> = answers.into_iter().collect();
    offline
        .with_api_prices(region, &answers)
        .map_err(PricingError::Table)
}

/// The API's prices for the stack's region, or the offline table with the reason
/// (`offline`: don't ask the API).
pub async fn prices(connection: &Connection, offline: bool) -> Prices {
    let offline_table = |reason: String, region: Option<String>| Prices {
        table: PriceTable::offline(),
        fallback: Some(reason),
        region,
    };
    if offline {
        return offline_table("--offline was given".into(), connection.region.clone());
    }
    let sdk = match aws::sdk_config(connection).await {
        Ok(sdk) => sdk,
        Err(err) => return offline_table(err.to_string(), connection.region.clone()),
    };
    let Some(region) = sdk.region().map(|r| r.to_string()) else {
        return offline_table(aws::AwsError::NoRegion.to_string(), None);
    };
    match api_table(&client(&sdk), &region).await {
        Ok(table) => Prices {
            table,
            fallback: None,
            region: Some(region),
        },
        Err(err) => offline_table(err.to_string(), Some(region)),
    }
}
