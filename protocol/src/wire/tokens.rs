//! Tenants' tokens: what a token may do (its [`Scope`]), a request to make one, and the views
//! of one made and of one listed (never with its secret, which is shown once).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a token may do; each scope may do everything the ones before it may.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// The dashboard and every `GET` route, on its tenant's jobs, modules, schedules, queues.
    Read,
    /// Plus submitting, cancelling, retrying and deleting its tenant's jobs, and its queues.
    Submit,
    /// Plus modules, schedules, caps, pause and resume; the default tenant's admin (the
    /// service's admin, `serve --token`) also tenants and tokens.
    Admin,
}

impl Scope {
    /// As stored and written in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Submit => "submit",
            Scope::Admin => "admin",
        }
    }

    /// From its text (`read`, `submit`, `admin`).
    pub fn parse(text: &str) -> Option<Scope> {
        match text {
            "read" => Some(Scope::Read),
            "submit" => Some(Scope::Submit),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `POST /v1/tokens`: a token to make.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// The tenant the token acts for (made if new; a name of 1 to 64 letters, digits, `_`,
    /// `.` or `-`). Only the service's admin may name a tenant other than its own.
    #[serde(default)]
    #[schema(schema_with = crate::validate::optional_name_schema)]
    pub tenant: Option<String>,
    /// What the token may do.
    pub scope: Scope,
    /// How long the token lasts: a whole number of seconds, minutes, hours or days, e.g.
    /// `30d`, `12h`, `90m` (`null`: until revoked).
    #[serde(default)]
    #[schema(pattern = "^[1-9][0-9]{0,5}[smhd]$")]
    pub expires_in: Option<String>,
}

/// A token as listed: everything but its secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    /// The token's id (`DELETE /v1/tokens/{id}` revokes it).
    pub id: i64,
    /// The tenant it acts for.
    pub tenant: String,
    /// What it may do.
    pub scope: Scope,
    /// When it was made (RFC 3339).
    pub created_at: String,
    /// When it stops working (RFC 3339; `null`: never).
    pub expires_at: Option<String>,
    /// When it was revoked (RFC 3339; `null`: in force).
    pub revoked_at: Option<String>,
}

/// A token just made: its view and its secret, shown this once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenCreated {
    /// The token's id.
    pub id: i64,
    /// The secret to send as `Authorization: Bearer TOKEN`; it is stored only hashed.
    pub token: String,
    /// The tenant it acts for.
    pub tenant: String,
    /// What it may do.
    pub scope: Scope,
    /// When it was made (RFC 3339).
    pub created_at: String,
    /// When it stops working (RFC 3339; `null`: never).
    pub expires_at: Option<String>,
}

/// `GET /v1/me`: who the caller's token acts for and what it may do (the dashboard hides the
/// controls its scope does not allow).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CallerView {
    /// The tenant whose things the caller sees.
    pub tenant: String,
    /// What it may do.
    pub scope: Scope,
    /// Whether it is the service's admin (the default tenant's admin): every tenant's tokens,
    /// pausing and resuming the shared pool.
    pub service_admin: bool,
}

/// `GET`/`PUT /v1/tenants/{name}/quotas`: a tenant's quotas, each `null` for none. Over one, a
/// submission (or, for `max_module_bytes`, an upload) is refused with 429 `quota_exceeded`
/// naming it (with `Retry-After` for `max_queued`, which frees as jobs start);
/// `max_running` holds jobs queued instead.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantQuotas {
    /// Most jobs the tenant may have queued at once.
    #[serde(default, deserialize_with = "super::integral::option")]
    #[schema(minimum = 1)]
    pub max_queued: Option<u64>,
    /// Largest `timeout_ms` one of its jobs may ask for.
    #[serde(default, deserialize_with = "super::integral::option")]
    #[schema(minimum = 1)]
    pub max_timeout_ms: Option<u64>,
    /// Largest `memory_mb` one of its jobs may ask for.
    #[serde(default, deserialize_with = "super::integral::option")]
    #[schema(minimum = 1)]
    pub max_memory_mb: Option<u64>,
    /// Largest `fuel` one of its jobs may ask for (a job without fuel then gets this much).
    #[serde(default, deserialize_with = "super::integral::option")]
    #[schema(minimum = 1)]
    pub max_fuel: Option<u64>,
    /// Most of its jobs running at once, across every host: a claim passes over its jobs
    /// while it has this many running (they stay queued, no attempt counted).
    #[serde(default, deserialize_with = "super::integral::option")]
    #[schema(minimum = 1)]
    pub max_running: Option<u64>,
    /// Most bytes of modules it may own (each module it uploaded counted whole, even if
    /// another tenant uploaded the same bytes); an upload past it is refused.
    #[serde(default, deserialize_with = "super::integral::option")]
    #[schema(minimum = 1)]
    pub max_module_bytes: Option<u64>,
    /// Its share of a lane's workers while other tenants have queued jobs there too (`null`:
    /// 1): picks go to the tenant with the fewest running jobs per unit of weight.
    #[serde(default, deserialize_with = "super::integral::option")]
    #[schema(minimum = 1, maximum = 1000000)]
    pub weight: Option<u64>,
}

/// How long a token lasts, as `expires_in` gives it: `N` (1 to 999999) and a unit, `s`, `m`,
/// `h` or `d`.
pub fn token_lifetime(text: &str) -> Option<std::time::Duration> {
    let unit = match text.chars().last()? {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    let number = &text[..text.len() - 1];
    let fine = (1..=6).contains(&number.len())
        && number.bytes().all(|b| b.is_ascii_digit())
        && !number.starts_with('0');
    if !fine {
        return None;
    }
    Some(std::time::Duration::from_secs(number.parse::<u64>().ok()? * unit))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn lifetimes_are_a_number_and_a_unit() {
        assert_eq!(super::token_lifetime("30d"), Some(Duration::from_secs(30 * 86_400)));
        assert_eq!(super::token_lifetime("90m"), Some(Duration::from_secs(5400)));
        for bad in ["", "d", "0s", "01h", "1w", "1.5h", "1234567s", "-1h", " 1h"] {
            assert_eq!(super::token_lifetime(bad), None, "{bad}");
        }
    }
}
