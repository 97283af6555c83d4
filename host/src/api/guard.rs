//! What keeps web pages out: the `Host` check (against DNS rebinding), the `Origin` check
//! (against cross-site requests) and the content types (a browser sends `text/plain`, form
//! and multipart bodies cross-site without asking first; every other type needs a preflight,
//! which this service never grants).

use std::net::SocketAddr;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{CONTENT_TYPE, HOST, ORIGIN};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;
use super::error::ApiError;

/// Which `Host` names the service answers to.
#[derive(Clone, Debug)]
pub struct HostRules {
    /// Where the service listens (its port, and whether it is loopback only).
    pub listen: SocketAddr,
    /// Names given with `--allowed-host`: `NAME` (any port) or `NAME:PORT`.
    pub allowed: Vec<String>,
}

impl HostRules {
    /// Whether a request with this `Host` header is for this service. On a loopback address
    /// only the loopback names with the listen port and the allowed names pass; on any other
    /// address (where a token is mandatory) every name does.
    pub fn permits(&self, host: &str) -> bool {
        if !self.listen.ip().is_loopback() {
            return true;
        }
        let host = host.to_ascii_lowercase();
        let port = self.listen.port();
        let listen_ip = match self.listen {
            SocketAddr::V4(v4) => v4.ip().to_string(),
            SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
        };
        let (name, host_port) = split_port(&host);
        let port_matches = match host_port {
            Some(p) => p == port.to_string(),
            None => port == 80,
        };
        if port_matches && [listen_ip.as_str(), "localhost", "127.0.0.1", "[::1]"].contains(&name) {
            return true;
        }
        self.allowed.iter().any(|allowed| {
            let allowed = allowed.to_ascii_lowercase();
            match split_port(&allowed) {
                (allowed_name, None) => allowed_name == name,
                (_, Some(_)) => allowed == host,
            }
        })
    }

    /// Whether an allowed name (not a loopback one) is `name`, whatever its port.
    fn lists(&self, name: &str) -> bool {
        self.allowed.iter().any(|allowed| split_port(&allowed.to_ascii_lowercase()).0 == name)
    }
}

/// `name:port` into its parts; a bracketed IPv6 address keeps its brackets.
fn split_port(host: &str) -> (&str, Option<&str>) {
    match host.rfind(':') {
        Some(colon) if !host[colon..].contains(']') && host.starts_with('[') => {
            (&host[..colon], Some(&host[colon + 1..]))
        }
        Some(colon) if !host.starts_with('[') && host[..colon].find(':').is_none() => {
            (&host[..colon], Some(&host[colon + 1..]))
        }
        _ => (host, None),
    }
}

/// The `Host` and `Origin` checks, in front of every route.
pub async fn check_host_and_origin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let headers = request.headers();
    // A browser always sends `Host`; a client without one is not a web page.
    let host = match headers.get(HOST) {
        Some(value) => Some(value.to_str().map_err(|_| misdirected("unreadable"))?),
        None => None,
    };
    if let Some(host) = host
        && !state.hosts.permits(host)
    {
        return Err(misdirected(host));
    }
    if changes_state(request.method())
        && let Some(origin) = headers.get(ORIGIN)
    {
        let origin = origin.to_str().unwrap_or("");
        if !same_origin(origin, host, &state.hosts) {
            return Err(ApiError::forbidden(format!(
                "cross-site request refused: Origin `{origin}` is not this service's"
            )));
        }
    }
    Ok(next.run(request).await)
}

fn misdirected(host: &str) -> ApiError {
    ApiError::misdirected(format!(
        "this service does not answer to Host `{host}`; add it with --allowed-host"
    ))
}

fn changes_state(method: &Method) -> bool {
    matches!(*method, Method::POST | Method::PUT | Method::PATCH | Method::DELETE)
}

/// Whether `origin` (`scheme://host[:port]`) is this service itself: the host the request
/// was sent to, or an allowed name (behind a proxy that rewrites `Host`).
fn same_origin(origin: &str, host: Option<&str>, rules: &HostRules) -> bool {
    let Some(authority) =
        origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://"))
    else {
        return false; // `null`, or another scheme
    };
    let authority = authority.to_ascii_lowercase();
    if host.is_some_and(|host| host.eq_ignore_ascii_case(&authority)) {
        return true;
    }
    rules.lists(split_port(&authority).0)
}

/// What a route's body must be.
enum Accepts {
    /// A JSON document: `application/json`.
    Json,
    /// A module: `application/wasm` or `application/octet-stream`.
    Module,
    /// Raw bytes: `application/octet-stream` (`text/plain` is refused: a page could send it).
    Bytes,
    /// Nothing: no `Content-Type`, or `application/json`.
    Nothing,
}

/// The content type check of `/v1` routes (after the token check).
pub async fn check_content_type(request: Request, next: Next) -> Result<Response, ApiError> {
    if changes_state(request.method()) {
        let route = request.extensions().get::<MatchedPath>().map_or("", MatchedPath::as_str);
        let accepts = match (request.method(), route) {
            (
                &Method::POST,
                "/v1/jobs" | "/v1/jobs/batch" | "/v1/jobs/retry" | "/v1/jobs/cancel",
            ) => Accepts::Json,
            (&Method::POST, "/v1/schedules" | "/v1/tokens") => Accepts::Json,
            (&Method::PATCH, "/v1/schedules/{name}") => Accepts::Json,
            (&Method::PATCH, "/v1/modules/{id}") => Accepts::Json,
            (&Method::PUT, "/v1/tenants/{name}/quotas") => Accepts::Json,
            (&Method::POST, "/v1/modules" | "/v1/run") => Accepts::Module,
            (&Method::POST, "/v1/queues/{name}") => Accepts::Bytes,
            _ => Accepts::Nothing,
        };
        check(request.headers(), &accepts)?;
    }
    Ok(next.run(request).await)
}

fn check(headers: &HeaderMap, accepts: &Accepts) -> Result<(), ApiError> {
    let given = headers.get(CONTENT_TYPE).map(|value| {
        value
            .to_str()
            .ok()
            .and_then(|text| text.split(';').next())
            .map(|essence| essence.trim().to_ascii_lowercase())
            .unwrap_or_default()
    });
    let (fine, wanted): (&[&str], &str) = match accepts {
        Accepts::Json => (&["application/json"], "`application/json`"),
        Accepts::Module => (
            &["application/wasm", "application/octet-stream"],
            "`application/wasm` or `application/octet-stream`",
        ),
        Accepts::Bytes => (&["application/octet-stream"], "`application/octet-stream`"),
        Accepts::Nothing => match given {
            None => return Ok(()),
            Some(_) => (&["application/json"], "no body (or `application/json`)"),
        },
    };
    match given {
        Some(given) if fine.contains(&given.as_str()) => Ok(()),
        Some(given) => Err(ApiError::unsupported_media_type(format!(
            "Content-Type `{given}` is not accepted here: send {wanted}"
        ))),
        None => Err(ApiError::unsupported_media_type(format!("no Content-Type: send {wanted}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::{HostRules, split_port};

    fn rules(listen: &str, allowed: &[&str]) -> HostRules {
        HostRules {
            listen: listen.parse().unwrap(),
            allowed: allowed.iter().map(|name| name.to_string()).collect(),
        }
    }

    #[test]
    fn ports_split_off_names_and_addresses() {
        assert_eq!(split_port("a.example:80"), ("a.example", Some("80")));
        assert_eq!(split_port("a.example"), ("a.example", None));
        assert_eq!(split_port("[::1]:8080"), ("[::1]", Some("8080")));
        assert_eq!(split_port("[::1]"), ("[::1]", None));
    }

    #[test]
    fn loopback_services_answer_to_loopback_names_and_listed_ones() {
        let local = rules("127.0.0.1:8080", &["pool.example", "other.example:9000"]);
        for host in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST:8080",
            "[::1]:8080",
            "pool.example",
            "pool.example:443",
            "other.example:9000",
        ] {
            assert!(local.permits(host), "{host}");
        }
        for host in
            ["evil.example:8080", "localhost:8081", "localhost", "other.example", "127.0.0.1"]
        {
            assert!(!local.permits(host), "{host}");
        }
        assert!(rules("127.0.0.1:80", &[]).permits("localhost"));
        assert!(rules("[::1]:8080", &[]).permits("[::1]:8080"));
        assert!(rules("127.0.0.2:8080", &[]).permits("127.0.0.2:8080"));
        assert!(rules("0.0.0.0:8080", &[]).permits("anything.example"));
    }
}
