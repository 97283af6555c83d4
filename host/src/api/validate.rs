//! The API's side of checking a submission: the checks themselves live in
//! `wasmpool_protocol::validate` (pure, fuzzed); a refusal becomes a 400 `bad_request` with
//! the same message.

use super::error::ApiError;
use crate::store::NewJob;
use crate::wire::JobRequest;

pub use wasmpool_protocol::validate::ServiceLimits;
use wasmpool_protocol::validate::{self, Refused};

impl From<Refused> for ApiError {
    fn from(refused: Refused) -> Self {
        ApiError::bad_request(refused.0)
    }
}

/// Checks a submission; `module_hash` is the resolved module.
pub fn new_job(
    request: JobRequest,
    module_hash: String,
    idempotency_key: Option<String>,
    limits: &ServiceLimits,
) -> Result<NewJob, ApiError> {
    Ok(validate::new_job(request, module_hash, idempotency_key, limits)?)
}
