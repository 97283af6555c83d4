//! What can go wrong talking to the service, and the checks of what the client is given:
//! the server URL, the error bodies that come back.

use reqwest::{StatusCode, Url};

use crate::wire::ErrorBody;

/// What can go wrong talking to the service.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server URL is unusable.
    #[error("invalid server URL `{server}`: {reason}")]
    InvalidServer {
        /// The URL as given.
        server: String,
        /// Why it was refused.
        reason: String,
    },
    /// No answer: connection refused, unknown host, timed out, connection dropped.
    #[error(
        "the wasmpool service is not reachable at {server} ({}); check --server or WASMPOOL_SERVER",
        root_cause(source)
    )]
    Unreachable {
        /// The server URL.
        server: String,
        /// The transport error.
        source: reqwest::Error,
    },
    /// The service answered with an error status.
    #[error("{message} ({code})")]
    Api {
        /// HTTP status.
        status: u16,
        /// The error body's code, or `http_<status>` when the body was not the error JSON.
        code: String,
        /// The error body's message, or the body's text.
        message: String,
    },
    /// The service answered with a success status but a body this client cannot read.
    #[error("cannot read the server's answer from {url}: {source}")]
    Decode {
        /// The URL that answered.
        url: String,
        /// What did not parse.
        source: serde_json::Error,
    },
}

/// The innermost error: reqwest's own message only names the URL, its cause says what failed.
pub fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// Checks a server URL (`http://HOST[:PORT][/PREFIX]`, trailing slash tolerated).
pub fn parse_server(server: &str) -> Result<Url, ClientError> {
    let invalid = |reason: &str| ClientError::InvalidServer {
        server: server.to_string(),
        reason: reason.to_string(),
    };
    const EXPECTED: &str = "expected http://HOST:PORT, e.g. http://127.0.0.1:8080";
    if !server.contains("://") {
        return Err(invalid(EXPECTED));
    }
    let url = Url::parse(server.trim()).map_err(|error| invalid(&error.to_string()))?;
    match url.scheme() {
        "http" => {}
        "https" => return Err(invalid("https is not supported by this build; use http://")),
        _ => return Err(invalid(EXPECTED)),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("no query or fragment allowed"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("put credentials in --token, not in the URL"));
    }
    Ok(url)
}

/// The error a failed response stands for: the error JSON when the body is one, else the
/// status and whatever text came back (a proxy's page, say).
pub(super) fn api_error(status: StatusCode, body: &[u8]) -> ClientError {
    if let Ok(ErrorBody { error }) = serde_json::from_slice::<ErrorBody>(body) {
        return ClientError::Api {
            status: status.as_u16(),
            code: error.code,
            message: error.message,
        };
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("no reason given").to_string()
    } else {
        text.chars().take(500).collect()
    };
    ClientError::Api { status: status.as_u16(), code: format!("http_{}", status.as_u16()), message }
}

pub(super) fn is_loopback(url: &Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    // IPv6 hosts come bracketed: `[::1]`.
    let ip = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || ip.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}
