//! The SDK clients a simulated process calls AWS with: the real
//! `aws-sdk-dynamodb` and `aws-sdk-sqs`, their requests and answers
//! serialised and parsed as they are against AWS, with the work the
//! models never look at left out.
//!
//! - Requests go unsigned: the models check no signature. The SDK's
//!   no-auth scheme, with no credentials to sign with, spares each call
//!   the SigV4 work, a fifth of the SDK's own time per call.
//! - The endpoint is the network's one address, not the outcome of the
//!   SDK's endpoint rules (which, given an endpoint URL, pick it anyway).
//! - The interceptors that only write headers the models never read are
//!   off: the user agent, the invocation id and the request's attempt and
//!   deadline (`amz-sdk-request`); so is the one that measures the clock
//!   skew from an answer's `Date` header (for signing, and to retry an
//!   error caused by a skew over four minutes), which has nothing to
//!   measure: the network's answers carry no `Date`.
//!
//! Retries, timeouts, the retry token bucket, serialisation and parsing
//! are the SDK's own, as configured by the library.

use aws_config::SdkConfig;
use aws_runtime::invocation_id::InvocationIdInterceptor;
use aws_runtime::request_info::RequestInfoInterceptor;
use aws_runtime::service_clock_skew::ServiceClockSkewInterceptor;
use aws_runtime::user_agent::UserAgentInterceptor;
use aws_smithy_runtime::client::retries::RetryPartition;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::endpoint::EndpointFuture;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::{Intercept, disable_interceptor};
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::endpoint::Endpoint;
use aws_smithy_types::retry::RetryConfig;

use crate::net::ENDPOINT;

/// How a process's clients retry: the library's configuration, and the
/// partition whose token bucket they share.
pub struct Retries {
    pub config: RetryConfig,
    pub partition: RetryPartition,
}

/// A process's DynamoDB and SQS clients on `sdk`, retrying as `retries`
/// says (the SDK's defaults when `None`).
pub fn clients(
    sdk: &SdkConfig,
    retries: Option<Retries>,
) -> (aws_sdk_dynamodb::Client, aws_sdk_sqs::Client) {
    let mut unsigned = sdk.to_builder();
    unsigned.set_credentials_provider(None);
    let sdk = &unsigned.build();

    let mut ddb = aws_sdk_dynamodb::config::Builder::from(sdk)
        .allow_no_auth()
        .endpoint_resolver(Fixed)
        .interceptor(HeadersOff);
    let mut sqs = aws_sdk_sqs::config::Builder::from(sdk)
        .allow_no_auth()
        .endpoint_resolver(Fixed)
        .interceptor(HeadersOff);
    if let Some(r) = retries {
        ddb = ddb
            .retry_config(r.config.clone())
            .retry_partition(r.partition.clone());
        sqs = sqs.retry_config(r.config).retry_partition(r.partition);
    }
    (
        aws_sdk_dynamodb::Client::from_conf(ddb.build()),
        aws_sdk_sqs::Client::from_conf(sqs.build()),
    )
}

/// Turns off, before each call, the interceptors that only write headers
/// no model reads. (The SDK turns an interceptor off for a call when its
/// configuration holds a `DisableInterceptor` for it; a client's own
/// runtime plugins are not public, so this interceptor puts them there.)
#[derive(Debug)]
struct HeadersOff;

impl Intercept for HeadersOff {
    fn name(&self) -> &'static str {
        "HeadersOff"
    }

    fn read_before_execution(
        &self,
        _: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let layer = cfg.interceptor_state();
        layer.store_put(disable_interceptor::<UserAgentInterceptor>(
            "the models read no user agent",
        ));
        layer.store_put(disable_interceptor::<InvocationIdInterceptor>(
            "the models read no invocation id",
        ));
        layer.store_put(disable_interceptor::<RequestInfoInterceptor>(
            "the models read no amz-sdk-request",
        ));
        layer.store_put(disable_interceptor::<ServiceClockSkewInterceptor>(
            "the network's answers carry no Date",
        ));
        Ok(())
    }
}

/// The network's one address, for every operation of both services.
#[derive(Debug)]
struct Fixed;

impl Fixed {
    fn endpoint<'a>() -> EndpointFuture<'a> {
        EndpointFuture::ready(Ok(Endpoint::builder().url(ENDPOINT).build()))
    }
}

impl aws_sdk_dynamodb::config::endpoint::ResolveEndpoint for Fixed {
    fn resolve_endpoint<'a>(
        &'a self,
        _: &'a aws_sdk_dynamodb::config::endpoint::Params,
    ) -> EndpointFuture<'a> {
        Self::endpoint()
    }
}

impl aws_sdk_sqs::config::endpoint::ResolveEndpoint for Fixed {
    fn resolve_endpoint<'a>(
        &'a self,
        _: &'a aws_sdk_sqs::config::endpoint::Params,
    ) -> EndpointFuture<'a> {
        Self::endpoint()
    }
}
