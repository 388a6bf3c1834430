//! A Rust function on the official `lambda_runtime` crate, unmodified: the compatibility tests
//! package it as a `provided.al2023` bootstrap and invoke it through Nimbus.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let (payload, context) = event.into_parts();
    if payload.get("fail").is_some() {
        return Err("asked to fail".into());
    }
    Ok(json!({
        "message": "hello from rust",
        "echo": payload,
        "request_id": context.request_id,
        "function": std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default(),
        "invoked_arn": context.invoked_function_arn,
    }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handler)).await
}
