//! Mounts through a real `wasmpool serve`: a job sees a directory only when it names one the
//! service declares (`serve --mount NAME=DIR[:ro]`), at the path it asks for, read-only when
//! either side says so; an unknown mount is refused at submission and writes nothing; a job
//! whose host lacks the mount when its turn comes ends `failed` saying so, and the host
//! carries on.

use serde_json::json;

use super::harness::stderr;
use super::server::{Server, ok, verb};

#[tokio::test(flavor = "multi_thread")]
async fn a_job_sees_only_the_mounts_it_names_and_only_as_granted() {
    let data = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    std::fs::write(files.path().join("notes.txt"), "from the host").unwrap();
    let rw = format!("files={}", files.path().display());
    let ro = format!("files-ro={}:ro", files.path().display());
    let server = Server::start(1, data.path(), &["--mount", &rw, "--mount", &ro]);
    server.upload(artifacts::PROBE, "probe").await;
    let probe = |args: &[&str], mounts: serde_json::Value| json!({ "module": "probe", "args": args, "mounts": mounts });

    let read = server
        .submit(probe(&["read", "/data/notes.txt"], json!([{"name": "files", "path": "/data"}])))
        .await;
    let job = server.wait(read).await;
    assert_eq!(
        (job["state"].as_str(), job["stdout"].as_str()),
        (Some("succeeded"), Some("from the host")),
        "{job}"
    );
    assert_eq!(job["mounts"], json!([{"name": "files", "path": "/data", "read_only": false}]));

    let write = server
        .submit(probe(
            &["write", "/out/made.txt", "by the guest"],
            json!([{"name": "files", "path": "/out"}]),
        ))
        .await;
    assert_eq!(server.wait(write).await["state"], "succeeded");
    assert_eq!(std::fs::read_to_string(files.path().join("made.txt")).unwrap(), "by the guest");

    // Read-only as the service declares it, and as the job asks for it.
    for mount in [
        json!({"name": "files-ro", "path": "/in"}),
        json!({"name": "files", "path": "/in", "read_only": true}),
    ] {
        let id = server.submit(probe(&["read", "/in/notes.txt"], json!([mount.clone()]))).await;
        assert_eq!(server.wait(id).await["stdout"], "from the host");
        let id = server.submit(probe(&["write", "/in/sneaky.txt", "no"], json!([mount]))).await;
        let job = server.wait(id).await;
        assert_eq!(job["state"], "failed", "{job}");
    }
    assert!(!files.path().join("sneaky.txt").exists());

    // No mount named: no file system.
    let bare = server.submit(probe(&["read", "/data/notes.txt"], json!([]))).await;
    assert_eq!(server.wait(bare).await["state"], "failed");

    // Refused whole at submission, by name, with nothing written: single and batch.
    let (_, before) = server.get("/v1/jobs?limit=1000").await;
    let unknown = probe(&["ls", "/"], json!([{"name": "etc", "path": "/etc"}]));
    let (status, body) = server.post("/v1/jobs", unknown.clone()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("unknown_mount")), "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("mounts: files, files-ro"),
        "{body}"
    );
    let (status, body) = server
        .post("/v1/jobs/batch", json!({ "jobs": [probe(&["ls", "/"], json!([])), unknown] }))
        .await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("unknown_mount")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().starts_with("jobs[1]: "), "{body}");
    for (mounts, says) in [
        (json!([{"name": "files", "path": "data"}]), "must be absolute"),
        (json!([{"name": "files", "path": "/a/../etc"}]), "`..`"),
        (
            json!([{"name": "files", "path": "/a"}, {"name": "files-ro", "path": "/a"}]),
            "two mounts at `/a`",
        ),
        (json!([{"name": "files", "path": "/a", "host": "/etc"}]), "unknown field"),
        (json!([{"name": "../etc", "path": "/a"}]), "mount name"),
    ] {
        let (status, body) = server.post("/v1/jobs", probe(&["ls", "/"], mounts.clone())).await;
        assert_eq!(status, 400, "{mounts}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains(says), "{mounts}: {body}");
    }
    let (_, after) = server.get("/v1/jobs?limit=1000").await;
    assert_eq!(before["jobs"].as_array().unwrap().len(), after["jobs"].as_array().unwrap().len());

    // The CLI: `submit --mount`, and `status` shows it.
    let id = ok(verb(
        &server,
        &["submit", "--wait", "--mount", "files=/d:ro", "probe", "read", "/d/notes.txt"],
    ));
    assert_eq!(id, "from the host");
    let (_, page) = server.get("/v1/jobs?limit=1").await;
    let newest = page["jobs"][0]["id"].as_i64().unwrap().to_string();
    assert!(ok(verb(&server, &["status", &newest])).contains("files=/d:ro"));
    let refused = verb(&server, &["submit", "--mount", "nope=/d", "probe", "ls", "/"]);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("no mount `nope`"), "{}", stderr(&refused));
}

/// A job that waits while its host restarts without the mount it names ends `failed` with
/// a reason, and the next job runs.
#[tokio::test(flavor = "multi_thread")]
async fn a_job_whose_host_lacks_its_mount_fails_saying_so() {
    let data = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let mount = format!("files={}", files.path().display());
    let server = Server::start(1, data.path(), &["--mount", &mount]);
    server.upload(artifacts::PROBE, "probe").await;
    let delayed = json!({ "module": "probe", "args": ["ls", "/d"], "delay_ms": 5_000,
                          "mounts": [{"name": "files", "path": "/d"}] });
    let id = server.submit(delayed).await;
    assert!(server.terminate().success());
    let server = Server::start(1, data.path(), &[]);
    let job = server.wait(id).await;
    assert_eq!(job["state"], "failed", "{job}");
    assert_eq!(job["error"], "cannot run: this host declares no mount `files` (serve --mount)");
    let next = server.submit(json!({ "module": "probe", "args": ["args"] })).await;
    assert_eq!(server.wait(next).await["state"], "succeeded");
}
