//! Turns tonic's answer to an oversized request into the one gRPC clients
//! expect, naming the setting that bounds it.
//!
//! tonic refuses a request above its decoding limit with `OUT_OF_RANGE`
//! ("decoded message length too large"). gRPC's own implementations answer
//! `RESOURCE_EXHAUSTED` for a message over the receive limit, and an operator
//! who sees the refusal needs to know which setting raises it. This layer
//! rewrites exactly that answer and lets every other one through untouched.

use super::counters::{IngestCounters, IngestResult};
use futures::future::BoxFuture;
use std::sync::Arc;
use std::task::{Context, Poll};
use tonic::codegen::http;
use tonic::{Code, Status};
use tower::{Layer, Service};

/// The phrase tonic's decoder puts in its refusal.
const TONIC_DECODE_LIMIT: &str = "decoded message length too large";

/// Wraps the ingestion routes; `limit` is `engine.ingest_max_message_bytes`.
#[derive(Clone)]
pub struct SizeLimitLayer {
    pub limit: usize,
    /// Where a refusal is counted (`too_large`).
    pub counters: Arc<IngestCounters>,
}

impl<S> Layer<S> for SizeLimitLayer {
    type Service = SizeLimitStatus<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SizeLimitStatus {
            inner,
            limit: self.limit,
            counters: self.counters.clone(),
        }
    }
}

#[derive(Clone)]
pub struct SizeLimitStatus<S> {
    inner: S,
    limit: usize,
    counters: Arc<IngestCounters>,
}

impl<S, Req, ResBody> Service<Req> for SizeLimitStatus<S>
where
    S: Service<Req, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let limit = self.limit;
        let counters = self.counters.clone();
        let response = self.inner.call(request);
        Box::pin(async move {
            let mut response = response.await?;
            if name_the_limit(response.headers_mut(), limit) {
                counters.count(IngestResult::TooLarge);
            }
            Ok(response)
        })
    }
}

/// Rewrites a trailers-only refusal of an oversized message in place;
/// whether the answer was one.
fn name_the_limit(headers: &mut http::HeaderMap, limit: usize) -> bool {
    let Some(status) = Status::from_header_map(headers) else {
        return false;
    };
    if status.code() != Code::OutOfRange || !status.message().contains(TONIC_DECODE_LIMIT) {
        return false;
    }
    let found = status
        .message()
        .split("found ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or("more");
    let clearer = Status::resource_exhausted(format!(
        "the request is {found} bytes, over the limit of {limit} bytes \
         (split the batch, or raise engine.ingest_max_message_bytes)"
    ));
    // Both values are plain ASCII the encoder accepts; if it refused, the
    // original answer (still a refusal) stays.
    let _ = clearer.add_header(headers);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers_of(status: Status) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        status.add_header(&mut headers).unwrap();
        headers
    }

    #[test]
    fn the_decoders_refusal_becomes_resource_exhausted_naming_the_setting() {
        let mut headers = headers_of(Status::out_of_range(
            "Error, decoded message length too large: found 107651 bytes, the limit is: 65536 bytes",
        ));
        assert!(name_the_limit(&mut headers, 65536));
        let status = Status::from_header_map(&headers).unwrap();
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert_eq!(
            status.message(),
            "the request is 107651 bytes, over the limit of 65536 bytes \
             (split the batch, or raise engine.ingest_max_message_bytes)"
        );
    }

    #[test]
    fn other_answers_pass_untouched() {
        for status in [
            Status::out_of_range("something else"),
            Status::invalid_argument("decoded message length too large"),
            Status::ok(""),
        ] {
            let mut headers = headers_of(status.clone());
            assert!(!name_the_limit(&mut headers, 1));
            let after = Status::from_header_map(&headers).unwrap();
            assert_eq!(after.code(), status.code());
            assert_eq!(after.message(), status.message());
        }
        let mut empty = http::HeaderMap::new();
        name_the_limit(&mut empty, 1);
        assert!(empty.is_empty());
    }
}
