//! aws-smithy-mocks: SDK clients that answer from rules and never reach the network (a
//! request no rule matches fails the call).

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_smithy_mocks::{create_mock_http_client, MockResponseInterceptor, Rule, RuleMode};
use provisioner::aws::Aws;

/// Static test credentials: the requests are signed, never sent.
pub fn credentials() -> Credentials {
    Credentials::new("testing", "testing", None, None, "test")
}

/// An interceptor answering with `rules`, matched as `mode` says.
pub fn interceptor<'a>(
    rules: impl IntoIterator<Item = &'a Rule>,
    mode: RuleMode,
) -> MockResponseInterceptor {
    rules
        .into_iter()
        .fold(MockResponseInterceptor::new().rule_mode(mode), |i, rule| {
            i.with_rule(rule)
        })
}

/// SDK settings in `region` with [`credentials`] and the mock HTTP client.
pub fn sdk_config(region: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .credentials_provider(SharedCredentialsProvider::new(credentials()))
        .http_client(create_mock_http_client())
        .build()
}

/// `Aws` for `stack`-`env` in `region` on [`sdk_config`]; a test swaps in the clients it
/// mocks (those it leaves answer nothing).
pub fn aws(region: &str, stack: &str, env: &str) -> Aws {
    Aws::new(&sdk_config(region), stack, env)
}

/// A client of SDK crate `$krate` in `$region` answering from `$rules` (anything iterating
/// over `&Rule`), matched `RuleMode::MatchAny` unless a mode is given.
#[allow(unused_macros)] // each test binary uses its own subset
macro_rules! client {
    ($krate:ident, $region:expr, $rules:expr) => {
        $crate::common::mocks::client!(
            $krate,
            $region,
            $rules,
            aws_smithy_mocks::RuleMode::MatchAny
        )
    };
    ($krate:ident, $region:expr, $rules:expr, $mode:expr) => {
        $krate::Client::from_conf(
            $krate::Config::builder()
                .behavior_version_latest()
                .region(aws_config::Region::new($region))
                .credentials_provider($crate::common::mocks::credentials())
                .http_client(aws_smithy_mocks::create_mock_http_client())
                .interceptor($crate::common::mocks::interceptor($rules, $mode))
                .build(),
        )
    };
}

#[allow(unused_imports)]
pub(crate) use client;
