//! The client's own tests: URLs, routes, queries, error bodies.

use super::*;

#[test]
fn server_urls() {
    assert!(parse_server("http://127.0.0.1:8080").is_ok());
    assert!(parse_server("http://127.0.0.1:8080/").is_ok());
    assert!(parse_server("http://pool.internal/wasmpool/").is_ok());
    for bad in [
        "127.0.0.1:8080",
        "localhost:8080",
        "https://pool.example",
        "ftp://pool.example",
        "http://",
        "http://host/?x=1",
        "http://user:secret@host",
        "",
    ] {
        assert!(
            matches!(parse_server(bad), Err(ClientError::InvalidServer { .. })),
            "accepted {bad:?}"
        );
    }
}

#[test]
fn routes_tolerate_trailing_slashes_and_encode_names() {
    for server in ["http://h:1", "http://h:1/"] {
        let client = Client::new(server, None).expect("valid URL");
        assert_eq!(client.url(&["jobs", "7", "wait"]).as_str(), "http://h:1/v1/jobs/7/wait");
    }
    let client = Client::new("http://h/prefix/", None).expect("valid URL");
    assert_eq!(
        client.url(&["modules", "my mod/1?"]).as_str(),
        "http://h/prefix/v1/modules/my%20mod%2F1%3F"
    );
}

#[test]
fn job_filters_become_a_query() {
    let client = Client::new("http://h", None).expect("valid URL");
    let select = JobSelector {
        state: Some(JobState::TimedOut),
        module: Some("a&b".into()),
        lane: Some("slow".into()),
        schedule: Some("nightly".into()),
        q: Some("night ly".into()),
        submitted_after: Some("2025-01-02T03:04:05+01:00".into()),
        ..JobSelector::default()
    };
    let filter = JobFilter { select, limit: Some(5), cursor: None };
    let url = client.jobs_url(&filter);
    assert_eq!(
        url.as_str(),
        "http://h/v1/jobs?state=timed_out&module=a%26b&lane=slow&schedule=nightly&q=night+ly\
         &submitted_after=2025-01-02T03%3A04%3A05%2B01%3A00&limit=5"
    );
    assert_eq!(client.jobs_url(&JobFilter::default()).as_str(), "http://h/v1/jobs");
}

#[test]
fn debug_hides_the_token() {
    let client = Client::new("http://h", Some("s3cret".into())).expect("valid URL");
    assert!(!format!("{client:?}").contains("s3cret"));
}

#[test]
fn error_bodies() {
    let body = br#"{"error":{"code":"not_found","message":"no job 7"}}"#;
    let error = api_error(StatusCode::NOT_FOUND, body);
    assert!(matches!(&error, ClientError::Api { status: 404, code, .. } if code == "not_found"));
    assert_eq!(error.to_string(), "no job 7 (not_found)");

    let error = api_error(StatusCode::BAD_GATEWAY, b"  <html>bad gateway</html>\n");
    assert_eq!(error.to_string(), "<html>bad gateway</html> (http_502)");

    let error = api_error(StatusCode::SERVICE_UNAVAILABLE, b"");
    assert_eq!(error.to_string(), "Service Unavailable (http_503)");
}

#[test]
fn loopback_hosts() {
    let loopback = |text: &str| is_loopback(&parse_server(text).expect("valid URL"));
    assert!(loopback("http://localhost:8080"));
    assert!(loopback("http://127.0.0.2"));
    assert!(loopback("http://[::1]:8080"));
    assert!(!loopback("http://10.0.0.1"));
    assert!(!loopback("http://pool.internal"));
}
