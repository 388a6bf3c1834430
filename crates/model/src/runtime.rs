//! Lambda runtime identifiers: which ones may be used for new functions, which are deprecated.

use crate::error::LambdaError;

/// AWS compat: the runtime ids Lambda accepts for creating or updating functions (2026 list,
/// spec/lambda-compat.md §2), in the order Nimbus lists them in its messages.
pub const SUPPORTED_RUNTIMES: &[&str] = &[
    "nodejs24.x",
    "nodejs22.x",
    "nodejs20.x",
    "nodejs18.x",
    "nodejs16.x",
    "python3.14",
    "python3.13",
    "python3.12",
    "python3.11",
    "python3.10",
    "python3.9",
    "python3.8",
    "java25",
    "java21",
    "java17",
    "java11",
    "java8.al2",
    "dotnet10",
    "dotnet8",
    "dotnet6",
    "ruby3.4",
    "ruby3.3",
    "ruby3.2",
    "provided.al2023",
    "provided.al2",
];

/// AWS compat: ids in the model that Lambda rejects as deprecated, with the deprecation message.
pub const DEPRECATED_RUNTIMES: &[&str] = &[
    "nodejs",
    "nodejs4.3",
    "nodejs4.3-edge",
    "nodejs6.10",
    "nodejs8.10",
    "nodejs10.x",
    "nodejs12.x",
    "nodejs14.x",
    "java8",
    "python2.7",
    "python3.6",
    "python3.7",
    "dotnetcore1.0",
    "dotnetcore2.0",
    "dotnetcore2.1",
    "dotnetcore3.1",
    "go1.x",
    "ruby2.5",
    "ruby2.7",
    "provided",
];

/// Checks a runtime id for CreateFunction/UpdateFunctionConfiguration.
pub fn validate_runtime(runtime: &str) -> Result<(), LambdaError> {
    if SUPPORTED_RUNTIMES.contains(&runtime) {
        return Ok(());
    }
    if DEPRECATED_RUNTIMES.contains(&runtime) {
        return Err(LambdaError::invalid_parameter(format!(
            "The runtime parameter of {runtime} is no longer supported for creating or updating AWS Lambda functions. We recommend you use a supported runtime while creating or updating functions."
        )));
    }
    Err(LambdaError::invalid_parameter(format!(
        "Value {runtime} at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [{}] or be a valid ARN",
        SUPPORTED_RUNTIMES.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supported_deprecated_and_unknown() {
        assert!(validate_runtime("python3.12").is_ok());
        assert!(validate_runtime("provided.al2023").is_ok());
        let e = validate_runtime("python3.7").expect_err("deprecated");
        assert!(e
            .message
            .starts_with("The runtime parameter of python3.7 is no longer supported"));
        let e = validate_runtime("Python3.12").expect_err("case matters");
        assert!(e
            .message
            .starts_with("Value Python3.12 at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [nodejs24.x,"));
        assert!(e.message.ends_with("] or be a valid ARN"));
    }
}
