//! The `timeout_ms` of the routes that hold a request open (a job wait, a queue put or get):
//! any non-negative whole number of milliseconds, cut to the service's `--max-wait`.

use serde::{Deserialize, Deserializer};

/// Reads `timeout_ms`: digits only; a number beyond `u64` saturates (it is cut to the
/// service's maximum anyway), so every value the document allows is accepted.
pub fn millis<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    let text = String::deserialize(deserializer)?;
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(serde::de::Error::custom(format!(
            "timeout_ms `{text}` is not a whole number of milliseconds"
        )));
    }
    Ok(Some(text.parse::<u64>().unwrap_or(u64::MAX)))
}

/// The parameter's schema: an integer from 0, with no upper bound and no `int64` format
/// (which would imply one).
pub fn schema() -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0)).build()
}
