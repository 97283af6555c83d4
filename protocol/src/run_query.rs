//! The query string of `POST /v1/run` (`args=a&args=b&timeout_ms=500`) read into a
//! [`JobRequest`]. Strict: an unknown key, a number that is not one, or a part that is not
//! UTF-8 once percent-decoded is refused, never guessed at.

use crate::validate::Refused;
use crate::wire::JobRequest;

/// Reads a `/v1/run` query (without the `?`) into a request with no module yet.
pub fn run_request(query: &str) -> Result<JobRequest, Refused> {
    let mut request = JobRequest::default();
    let number = |key: &str, value: &str| {
        value.parse::<u64>().map_err(|_| Refused(format!("{key} must be a non-negative integer")))
    };
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (key, value) = (query_text(key)?, query_text(value)?);
        match key.as_str() {
            "args" => request.args.push(value),
            "timeout_ms" => request.timeout_ms = Some(number(&key, &value)?),
            "memory_mb" => request.memory_mb = Some(number(&key, &value)?),
            "fuel" => request.fuel = Some(number(&key, &value)?),
            "lane" => request.lane = Some(value),
            other => return Err(Refused(format!("unknown query parameter `{other}`"))),
        }
    }
    Ok(request)
}

/// One percent-encoded part of a query (`+` is a space), refused unless it is UTF-8: a guest
/// gets its arguments exactly as sent, or not at all.
fn query_text(part: &str) -> Result<String, Refused> {
    let bytes: Vec<u8> = part.bytes().map(|b| if b == b'+' { b' ' } else { b }).collect();
    let decoded: Vec<u8> = percent_decode(&bytes);
    String::from_utf8(decoded)
        .map_err(|_| Refused(format!("the query part `{part}` is not UTF-8 once decoded")))
}

/// `%XX` escapes decoded; a `%` not followed by two hex digits stays as it is.
fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) =
                (bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex))
        {
            out.push((hi << 4) | lo);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn run_queries_decode_strictly() {
        let request = super::run_request("args=a+b&args=%C3%A9&args=100%25&args=%zz").unwrap();
        assert_eq!(request.args, ["a b", "é", "100%", "%zz"]);
        assert!(super::run_request("args=%ff").is_err());
        assert!(super::run_request("%ff=1").is_err());
    }
}
