//! No client holds the service's connections (and file descriptors) for ever: idle, slow
//! header and slow body connections are closed, a connection beyond the cap gets 503 at once,
//! the open file limit is raised, and event streams outlive the idle timeout.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{Value, json};

use super::server::Server;

/// Far longer than any timeout the tests set: a read that waits this long failed.
const BOUND: Duration = Duration::from_secs(30);

fn connect(server: &Server) -> TcpStream {
    let address = server.url.strip_prefix("http://").expect("an http URL");
    let stream = TcpStream::connect(address).expect("connects");
    stream.set_read_timeout(Some(BOUND)).unwrap();
    stream
}

/// Reads until the server closes the connection; panics if it is still open after [`BOUND`].
fn read_until_closed(mut stream: TcpStream, what: &str) -> String {
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => seen.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("{what}: the server kept the connection open ({e})"),
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

fn host_of(server: &Server) -> &str {
    server.url.strip_prefix("http://").unwrap()
}

/// A client that opens a connection per request (the server closes idle ones quickly here).
fn fresh_client() -> reqwest::Client {
    reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap()
}

#[test]
fn idle_slow_header_and_slow_body_connections_are_closed() {
    let data = tempfile::tempdir().unwrap();
    let server =
        Server::start(1, data.path(), &["--header-timeout", "500ms", "--body-timeout", "500ms"]);
    let host = host_of(&server).to_string();

    let idle = connect(&server);
    let mut slow_header = connect(&server);
    write!(slow_header, "GET /healthz HTTP/1.1\r\nHost: {host}\r\nX-Slow: ").unwrap();
    let mut slow_body = connect(&server);
    write!(
        slow_body,
        "POST /v1/jobs HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n{{\"module\":"
    )
    .unwrap();
    // A keep-alive connection that served one request and then says nothing.
    let mut kept_alive = connect(&server);
    write!(kept_alive, "GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n").unwrap();

    read_until_closed(idle, "an idle connection");
    read_until_closed(slow_header, "a slow header");
    let answer = read_until_closed(slow_body, "a slow body");
    assert!(answer.starts_with("HTTP/1.1 408"), "a slow body gets 408: {answer:?}");
    assert!(answer.contains("request_timeout"), "{answer:?}");
    let answer = read_until_closed(kept_alive, "an idle keep-alive connection");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
}

/// The number of sockets the process holds open.
fn sockets_of(pid: u32) -> usize {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return 0 };
    entries
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("socket:"))
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_answers_while_300_idle_connections_are_held() {
    let data = tempfile::tempdir().unwrap();
    // A soft open file limit below 300 sockets: serve raises it to the hard limit.
    let server =
        Server::start_after("ulimit -S -n 256", 1, data.path(), &["--header-timeout", "10m"]);
    let idle: Vec<TcpStream> = (0..300).map(|_| connect(&server)).collect();
    let mut accepted = 0;
    for _ in 0..1000 {
        accepted = sockets_of(server.pid());
        if accepted > idle.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(accepted > idle.len(), "the server took only {accepted} of 300 connections");

    let (status, health) = server.get("/healthz").await;
    assert_eq!((status, &health["status"]), (200, &json!("ok")), "{health}");
    server.upload(artifacts::HELLO, "hello").await;
    let id = server.submit(Server::job("hello", &[])).await;
    assert_eq!(server.wait(id).await["state"], "succeeded");
    drop(idle);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_beyond_the_cap_gets_503_at_once() {
    let data = tempfile::tempdir().unwrap();
    let server =
        Server::start(1, data.path(), &["--max-connections", "4", "--header-timeout", "10m"]);
    let host = host_of(&server).to_string();
    // Connected first, so accepted first: they take every slot.
    let mut idle: Vec<TcpStream> = (0..4).map(|_| connect(&server)).collect();
    let mut extra = connect(&server);
    write!(extra, "GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n").unwrap();
    let answer = read_until_closed(extra, "a connection beyond the cap");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");
    let body: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "unavailable", "{body}");

    // Once a slot is free, requests are served again.
    idle.pop();
    let client = fresh_client();
    let mut status = 0;
    for _ in 0..1000 {
        status = match client.get(format!("{}/healthz", server.url)).send().await {
            Ok(response) => response.status().as_u16(),
            Err(_) => 0,
        };
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(status, 200, "a freed slot is used again");
}

#[tokio::test(flavor = "multi_thread")]
async fn event_streams_outlive_the_idle_timeout() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(1, data.path(), &["--header-timeout", "300ms"]);
    let client = fresh_client();
    let mut events = client.get(format!("{}/v1/events", server.url)).send().await.unwrap();
    assert_eq!(events.status(), 200);
    // An idle connection opened after the stream: once it is closed, the stream has been
    // quiet for longer than the idle timeout.
    let idle = connect(&server);
    tokio::task::spawn_blocking(move || read_until_closed(idle, "an idle connection"))
        .await
        .unwrap();

    let hello = std::fs::read(artifacts::HELLO).unwrap();
    let upload = client
        .post(format!("{}/v1/modules?name=hello", server.url))
        .header("content-type", "application/wasm")
        .body(hello);
    assert!(upload.send().await.unwrap().status().is_success());
    let submit = client.post(format!("{}/v1/jobs", server.url)).json(&Server::job("hello", &[]));
    let accepted: Value = submit.send().await.unwrap().json().await.unwrap();
    let id = accepted["id"].as_i64().unwrap();

    let mut text = String::new();
    while !text.contains(&format!("{{\"id\":{id},\"state\":\"succeeded\"}}")) {
        let chunk = tokio::time::timeout(BOUND, events.chunk())
            .await
            .expect("the stream goes on")
            .expect("the stream is still open")
            .expect("the stream did not end");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
}
