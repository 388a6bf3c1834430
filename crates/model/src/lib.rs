//! Lambda's types and rules for Nimbus: function configurations, names and ARNs, limits, and
//! validation that answers with AWS's exact error types and messages.
//!
//! This crate does no I/O and knows nothing of HTTP, storage or execution.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod alias;
pub mod arn;
pub mod error;
pub mod esm;
pub mod event_invoke;
pub mod filter;
pub mod function;
pub mod limits;
pub mod log_filter;
pub mod policy;
pub mod runtime;
pub mod schedule;
pub mod scheduler;
pub mod url;

pub use alias::{Alias, AliasConfiguration};
pub use arn::{function_arn, FunctionRef, NameShape, ResourceArn};
pub use error::{ErrorCode, LambdaError, ValidationErrors};
pub use function::{
    CodeRef, CodeSource, CreateFunctionRequest, Function, FunctionConfiguration, LastUpdateStatus,
    ProvisionedConfig, Settings, State, UpdateFunctionCodeRequest,
    UpdateFunctionConfigurationRequest,
};
