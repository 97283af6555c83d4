//! What text the API accepts, checked once for every route: a URL whose path and query decode
//! to UTF-8 without NUL, and JSON bodies whose strings hold no NUL (`\u0000`) except a job's
//! text `stdin`, which is bytes, and a call's `params`, values a WIT string may hold NUL in
//! (kept as JSON text, where it stays the escape `\u0000`). Names, filters and search terms end up in text columns,
//! which PostgreSQL refuses NUL in (SQLite would keep it, and a C string would cut it), and a
//! filter decoded lossily would match something other than what was asked.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::Value;

use super::error::ApiError;

/// The JSON members whose strings may hold NUL: a job's standard input, and a call's
/// parameters (never a column's text of their own: stored as JSON, NUL escaped).
const FREE_MEMBERS: [&str; 2] = ["stdin", "params"];

/// The pattern the API document gives a string with no NUL.
const NO_NUL: &str = "^[^\\x00]*$";

/// States this module's rule in the API document: every string a request sends — in a path
/// or query parameter, or in a body (except `stdin`) — matches [`NO_NUL`] unless its schema
/// has a pattern, format or set of values of its own.
pub fn describe(document: &mut Value) {
    let mut carried: Vec<String> = Vec::new();
    for operation in operations(document) {
        let body = &operation["requestBody"]["content"]["application/json"]["schema"];
        references(body, &mut carried);
    }
    let mut next = 0;
    while next < carried.len() {
        let schema = document["components"]["schemas"][&carried[next]].clone();
        references(&schema, &mut carried);
        next += 1;
    }
    for name in &carried {
        if let Some(schema) = document.pointer_mut(&format!("/components/schemas/{name}")) {
            no_nul(schema);
        }
    }
    let paths = document["paths"].as_object_mut().into_iter().flat_map(|paths| paths.values_mut());
    let operations =
        paths.flat_map(|operations| operations.as_object_mut()).flat_map(|o| o.values_mut());
    for operation in operations {
        // Through `pointer_mut`, not indexing: indexing a missing member would add it.
        if let Some(body) = operation.pointer_mut("/requestBody/content/application~1json/schema") {
            no_nul(body);
        }
        let parameters = operation.get_mut("parameters").and_then(Value::as_array_mut);
        for parameter in parameters.into_iter().flatten() {
            if let Some(schema) = parameter.get_mut("schema") {
                no_nul(schema);
            }
        }
    }
}

fn operations(document: &Value) -> impl Iterator<Item = &Value> {
    let paths = document["paths"].as_object().into_iter().flat_map(|paths| paths.values());
    paths.flat_map(|operations| operations.as_object()).flat_map(|operations| operations.values())
}

/// Adds the names of the component schemas `schema` refers to.
fn references(schema: &Value, names: &mut Vec<String>) {
    match schema {
        Value::Object(members) => {
            if let Some(name) = members.get("$ref").and_then(Value::as_str)
                && let Some(name) = name.strip_prefix("#/components/schemas/")
                && !names.iter().any(|known| known == name)
            {
                names.push(name.to_string());
            }
            members.values().for_each(|member| references(member, names));
        }
        Value::Array(items) => items.iter().for_each(|item| references(item, names)),
        _ => {}
    }
}

/// Gives every string in `schema` without a pattern, format or values of its own the
/// [`NO_NUL`] pattern, leaving out the [`FREE_MEMBERS`] properties.
fn no_nul(schema: &mut Value) {
    let Value::Object(members) = schema else { return };
    let string = match &members.get("type") {
        Some(Value::String(kind)) => kind == "string",
        Some(Value::Array(kinds)) => kinds.iter().any(|kind| kind == "string"),
        _ => false,
    };
    let own =
        ["pattern", "format", "enum", "const", "$ref"].iter().any(|key| members.contains_key(*key));
    if string && !own {
        members.insert("pattern".into(), NO_NUL.into());
    }
    for (key, member) in members.iter_mut() {
        match key.as_str() {
            "properties" => {
                let properties = member.as_object_mut().into_iter().flat_map(|p| p.iter_mut());
                properties
                    .filter(|(name, _)| !FREE_MEMBERS.contains(&name.as_str()))
                    .for_each(|(_, p)| no_nul(p));
            }
            "items" | "additionalProperties" | "propertyNames" => no_nul(member),
            "oneOf" | "anyOf" | "allOf" => {
                member.as_array_mut().into_iter().flatten().for_each(no_nul)
            }
            _ => {}
        }
    }
}

/// Refuses a request whose path or query does not decode to UTF-8 without NUL.
pub async fn check_url(request: Request, next: Next) -> Result<Response, ApiError> {
    let uri = request.uri();
    check_component("path", uri.path())?;
    if let Some(query) = uri.query() {
        check_component("query", query)?;
    }
    Ok(next.run(request).await)
}

fn check_component(what: &str, text: &str) -> Result<(), ApiError> {
    let decoded = percent_decode(text.as_bytes());
    match std::str::from_utf8(&decoded) {
        Err(_) => Err(ApiError::bad_request(format!(
            "the URL's {what} is not UTF-8 once decoded: percent-encode text as UTF-8"
        ))),
        Ok(text) if text.contains('\0') => Err(ApiError::bad_request(format!(
            "the URL's {what} holds a NUL byte (%00), which no name or filter may contain"
        ))),
        Ok(_) => Ok(()),
    }
}

/// `%XX` decoded (a `%` not followed by two hex digits stays as it is).
fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(high), Some(low)) =
                (bytes.get(i + 1).and_then(|&b| hex(b)), bytes.get(i + 2).and_then(|&b| hex(b)))
        {
            decoded.push(high << 4 | low);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    decoded
}

/// Refuses a JSON body with a NUL in any string outside the [`FREE_MEMBERS`], naming where.
/// Cheap for the usual body: only one with a `\u0000` escape is looked at closer.
pub fn check_json(body: &[u8]) -> Result<(), ApiError> {
    if !has_nul_escape(body) {
        return Ok(());
    }
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return Ok(()); // the caller reports the syntax error
    };
    match nul_at(&value, "") {
        Some(path) => Err(ApiError::bad_request(format!(
            "`{path}` holds a NUL character (\\u0000), which no name, filter or argument may \
             contain"
        ))),
        None => Ok(()),
    }
}

/// Whether the JSON text has a `\u0000` escape (its backslash not itself escaped).
fn has_nul_escape(body: &[u8]) -> bool {
    let needle = b"u0000";
    body.windows(needle.len()).enumerate().any(|(at, window)| {
        window == needle && {
            let backslashes = body[..at].iter().rev().take_while(|&&b| b == b'\\').count();
            backslashes % 2 == 1
        }
    })
}

/// Where in `value` a string with a NUL is (a JSON-path-like name), skipping the
/// [`FREE_MEMBERS`].
fn nul_at(value: &Value, path: &str) -> Option<String> {
    let name = |path: &str| if path.is_empty() { "the body".to_string() } else { path.into() };
    match value {
        Value::String(text) if text.contains('\0') => Some(name(path)),
        Value::Array(items) => {
            items.iter().enumerate().find_map(|(i, item)| nul_at(item, &format!("{path}[{i}]")))
        }
        Value::Object(members) => members.iter().find_map(|(key, member)| {
            let here = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
            if key.contains('\0') {
                return Some(name(path));
            }
            if FREE_MEMBERS.contains(&key.as_str()) { None } else { nul_at(member, &here) }
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_decoded_before_they_are_judged() {
        assert_eq!(percent_decode(b"a%00b%zz%4"), b"a\0b%zz%4");
        assert!(check_component("query", "name=caf%C3%A9&q=%25").is_ok());
        assert!(check_component("query", "name=%00").is_err());
        assert!(check_component("query", "name=%ff%fe").is_err());
        assert!(check_component("path", "/v1/schedules/a%00").is_err());
    }

    #[test]
    fn json_with_a_nul_is_refused_with_where_except_in_stdin() {
        assert!(check_json(br#"{"module":"hello","args":["a"]}"#).is_ok());
        assert!(check_json(br#"{"module":"a\\u0000"}"#).is_ok(), "an escaped backslash");
        assert!(check_json(br#"{"module":"hello","stdin":"a\u0000b"}"#).is_ok());
        let call = br#"{"module":"m","call":"f","params":{"k\u0000":["a\u0000b"]}}"#;
        assert!(check_json(call).is_ok());
        let refused = check_json(br#"{"jobs":[{"module":"m"},{"module":"a\u0000"}]}"#);
        assert!(format!("{:?}", refused.unwrap_err()).contains("`jobs[1].module`"));
        let refused = check_json(br#"{"job":{"args":["x","\u0000"]}}"#);
        assert!(format!("{:?}", refused.unwrap_err()).contains("`job.args[1]`"));
    }
}
