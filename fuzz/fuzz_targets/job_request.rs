//! Arbitrary bytes as the body of `POST /v1/jobs` (parsed as a `JobRequest`, then checked
//! against the default `ServiceLimits`) and as the query string of `POST /v1/run`. Nothing may
//! panic; whatever the checks accept must be within every limit the store and the guest rely
//! on; and a `/v1/run` query that parses reads back the same once written out again.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wasmpool_protocol::run_query::run_request;
use wasmpool_protocol::validate::{
    MAX_ARGS, MAX_KEY, MAX_NAME, MAX_PRIORITY, NewJob, ServiceLimits, new_job,
};
use wasmpool_protocol::wire::JobRequest;

fuzz_target!(|data: &[u8]| {
    let limits = ServiceLimits::default();
    if let Ok(request) = serde_json::from_slice::<JobRequest>(data) {
        // The module field's text doubles as an Idempotency-Key, so the key's checks see
        // arbitrary text too.
        let key = Some(request.module.clone());
        if let Ok(job) = new_job(request.clone(), "hash".into(), key.clone(), &limits) {
            within_limits(&request, key.as_deref(), &job, &limits);
        }
    }
    let query = String::from_utf8_lossy(data);
    if let Ok(request) = run_request(&query) {
        assert_eq!(run_request(&write_query(&request)).as_ref(), Ok(&request), "query round trip");
        if let Ok(job) = new_job(request.clone(), "hash".into(), None, &limits) {
            within_limits(&request, None, &job, &limits);
        }
    }
});

/// What an accepted job promises: the store keeps it as is and a guest can receive it.
fn within_limits(request: &JobRequest, key: Option<&str>, job: &NewJob, limits: &ServiceLimits) {
    assert_eq!(job.module_hash, "hash");
    assert!((-MAX_PRIORITY..=MAX_PRIORITY).contains(&job.priority));
    assert_eq!(job.priority, request.priority.unwrap_or(0));
    assert!(job.timeout_ms >= 1 && u128::from(job.timeout_ms) <= limits.max_timeout.as_millis());
    assert!((1..=limits.max_memory_mb).contains(&job.memory_mb));
    assert_eq!(job.fuel, request.fuel);
    if let Some(fuel) = job.fuel {
        assert!(fuel >= 1 && i64::try_from(fuel).is_ok(), "fuel {fuel} does not fit the store");
    }
    assert!((1..=limits.max_attempts).contains(&job.max_attempts));
    assert!(job.delay <= limits.max_delay);
    assert_eq!(job.name, request.name);
    let name = job.name.as_deref().unwrap_or("");
    assert!(name.len() <= MAX_NAME && !name.contains('\0'));
    assert_eq!(job.idempotency_key.as_deref(), key);
    let key = key.unwrap_or("");
    assert!(key.len() <= MAX_KEY && !key.contains('\0'));
    assert_eq!(job.args, request.args);
    assert!(job.args.len() <= MAX_ARGS);
    assert!(job.args.iter().all(|arg| !arg.contains('\0')), "a NUL cannot reach a guest");
    assert_eq!(job.env, request.env);
    for (name, value) in &job.env {
        assert!(!name.is_empty() && !name.contains('=') && !name.contains('\0'), "env `{name}`");
        assert!(!value.contains('\0'));
    }
    match (&request.stdin, &request.stdin_base64) {
        (Some(text), None) => assert_eq!(job.stdin, text.as_bytes()),
        (None, Some(_)) => {}
        (None, None) => assert!(job.stdin.is_empty()),
        (Some(_), Some(_)) => panic!("stdin and stdin_base64 together were accepted"),
    }
}

/// A `/v1/run` query that asks for `request`, every byte outside the unreserved set escaped.
fn write_query(request: &JobRequest) -> String {
    let mut pairs: Vec<String> =
        request.args.iter().map(|arg| format!("args={}", escape(arg))).collect();
    let numbers = [
        ("timeout_ms", request.timeout_ms),
        ("memory_mb", request.memory_mb),
        ("fuel", request.fuel),
    ];
    pairs.extend(numbers.iter().filter_map(|(key, value)| Some(format!("{key}={}", (*value)?))));
    if let Some(lane) = &request.lane {
        pairs.push(format!("lane={}", escape(lane)));
    }
    pairs.join("&")
}

fn escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
