//! A job's mounts: the service's declared directories it is granted.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::validate::{self, described};

/// One of the service's declared directories, granted to a job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Mount {
    /// The directory's name, as `serve --mount NAME=DIR` declared it.
    #[schema(schema_with = validate::name_schema)]
    pub name: String,
    /// Where the guest finds it: an absolute path without `.` or `..` parts.
    #[schema(schema_with = mount_path_schema)]
    pub path: String,
    /// Grant it read-only (a directory the service declares read-only is so anyway).
    #[serde(default)]
    pub read_only: bool,
}

/// A mount's `path`: absolute, no NUL (the rest of the rule, no `.` or `..` parts, is
/// [`validate::check_mount_path`]'s).
fn mount_path_schema() -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let text = "Where the guest finds the directory: an absolute path without `.` or `..` parts.";
    let schema = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^/[^\\x00]*$"))
        .max_length(Some(validate::MAX_MOUNT_PATH))
        .build();
    described(schema, text)
}
