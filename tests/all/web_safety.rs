//! A web page cannot drive a token-less service on loopback: bodies a browser may send
//! cross-site without a preflight are refused (415), a foreign `Host` (DNS rebinding) is
//! refused (421), and so is a state-changing call from another origin (403). Nothing changes.

use serde_json::{Value, json};

use super::server::Server;

async fn state_of(server: &Server) -> (Value, Value, Value) {
    let (_, modules) = server.get("/v1/modules").await;
    let (_, jobs) = server.get("/v1/jobs?limit=1000").await;
    let (_, pool) = server.get("/v1/pool").await;
    (modules, jobs, json!([pool["counts"], pool["paused"]]))
}

async fn answer(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn port(server: &Server) -> &str {
    server.url.rsplit(':').next().expect("a port")
}

#[tokio::test(flavor = "multi_thread")]
async fn cross_site_requests_and_foreign_hosts_are_refused_and_change_nothing() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &[]);
    server.upload(artifacts::HELLO, "hello").await;
    let hello = std::fs::read(artifacts::HELLO).unwrap();
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", server.url);
    let job = r#"{"module":"hello"}"#;
    let before = state_of(&server).await;

    // What a page may send anywhere without asking: text/plain, form and multipart bodies.
    let simple_bodies = [
        ("/v1/jobs", "text/plain;charset=UTF-8", job.as_bytes().to_vec()),
        ("/v1/jobs", "application/x-www-form-urlencoded", job.as_bytes().to_vec()),
        ("/v1/jobs/batch", "multipart/form-data; boundary=x", b"{\"jobs\":[]}".to_vec()),
        ("/v1/modules?name=evil", "text/plain", hello.clone()),
        ("/v1/run", "application/x-www-form-urlencoded", hello.clone()),
        ("/v1/queues/evil", "text/plain", b"item".to_vec()),
        ("/v1/pool/pause", "application/x-www-form-urlencoded", Vec::new()),
        ("/v1/pool/pause", "text/plain", b"x".to_vec()),
    ];
    for (path, content_type, body) in simple_bodies {
        let request = client.post(url(path)).header("content-type", content_type).body(body);
        let (status, body) = answer(request).await;
        assert_eq!(status, 415, "{content_type} to {path}: {body}");
        assert_eq!(body["error"]["code"], "unsupported_media_type", "{path}: {body}");
    }
    // A body with no type at all is just as simple.
    for path in ["/v1/jobs", "/v1/modules", "/v1/queues/evil"] {
        let (status, body) = answer(client.post(url(path)).body(job)).await;
        assert_eq!((status, &body["error"]["code"]), (415, &json!("unsupported_media_type")));
    }

    // DNS rebinding: the page's own name points at 127.0.0.1, so `Host` names it.
    let foreign = format!("evil.example:{}", port(&server));
    for request in [
        client.get(url("/v1/jobs")),
        client.get(url("/v1/modules")),
        client.get(url("/metrics")),
        client.post(url("/v1/jobs")).header("content-type", "application/json").body(job),
        client.post(url("/v1/pool/pause")),
    ] {
        let (status, body) = answer(request.header("host", &foreign)).await;
        assert_eq!(status, 421, "{body}");
        assert_eq!(body["error"]["code"], "misdirected_request", "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("--allowed-host"), "{body}");
    }
    let wrong_port = format!("localhost:{}", port(&server).parse::<u16>().unwrap() ^ 1);
    assert_eq!(answer(client.get(url("/v1/jobs")).header("host", wrong_port)).await.0, 421);

    // A page on another origin that sends JSON gets no preflight past CORS, but a POST
    // without a body needs none: the Origin check stops both.
    for origin in ["http://evil.example", "null", "http://127.0.0.1:1"] {
        for request in [
            client.post(url("/v1/jobs")).header("content-type", "application/json").body(job),
            client.post(url("/v1/pool/pause")),
            client.delete(url("/v1/modules/hello")),
        ] {
            let (status, body) = answer(request.header("origin", origin)).await;
            assert_eq!(status, 403, "Origin {origin}: {body}");
            assert_eq!(body["error"]["code"], "forbidden", "{body}");
        }
    }
    assert_eq!(state_of(&server).await, before, "a refused request changed something");

    // The service's own page, the CLI's way and the loopback names pass.
    let own = client
        .post(url("/v1/jobs"))
        .header("content-type", "application/json; charset=utf-8")
        .header("origin", &server.url)
        .body(job);
    assert_eq!(answer(own).await.0, 202, "a same-origin submission");
    let host = format!("localhost:{}", port(&server));
    assert_eq!(answer(client.get(url("/healthz")).header("host", host)).await.0, 200);
    let (status, body) = answer(
        client
            .post(url("/v1/queues/fine"))
            .header("content-type", "application/octet-stream")
            .header("origin", &server.url)
            .body("item"),
    )
    .await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn allowed_hosts_are_answered_and_their_pages_are_same_origin() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        1,
        data.path(),
        &["--allowed-host", "pool.example", "--allowed-host", "other.example:9000"],
    );
    let client = reqwest::Client::new();
    let pause = || client.post(format!("{}/v1/pool/pause", server.url));
    for host in ["pool.example", "pool.example:443", "other.example:9000"] {
        let (status, body) =
            answer(client.get(format!("{}/v1/pool", server.url)).header("host", host)).await;
        assert_eq!(status, 200, "{host}: {body}");
    }
    assert_eq!(
        answer(client.get(format!("{}/v1/pool", server.url)).header("host", "other.example"))
            .await
            .0,
        421
    );
    // Behind a proxy that rewrites Host, the page's origin is still the allowed name.
    let (status, body) = answer(pause().header("origin", "https://pool.example")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["paused"], true);
    assert_eq!(answer(pause().header("origin", "https://evil.example")).await.0, 403);
}
