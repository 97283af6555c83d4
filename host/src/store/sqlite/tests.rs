//! The SQLite backend's own tests: migrations from older databases, the writer's group commit
//! and what only this backend does.

use std::time::Duration;

use rusqlite::{Connection, params};

use super::*;
use crate::job::ModuleKind;
use crate::store::Running;
use crate::store::backend::{Claims, Jobs, Modules, Queues, Reads, Tenancy};
use crate::store::{JobFilter, NewJob};

/// What sqlx's migrator recorded for migrations 1–3 (checksums: `sha384sum`).
const SQLX_APPLIED: [(i64, &str, &str); 3] = [
    (
        1,
        "init",
        "b0eca35749805bbb7aa234a445ac528025a9c3d7897bc695b377b4a6736cae5548311aeb9778e808e3edba8b1408cb15",
    ),
    (
        2,
        "queues and progress",
        "6e518db7307888fded8da85b10a33fe9dae2b039aba57452e89c9eec4123f52400805dfe02defed38152ba32fa9228a8",
    ),
    (
        3,
        "module index without state",
        "ec2dccecaae2e7b931fa43f8dc49c25e5f3f39f3c9a809709b7048b5797d39e458adb1e36a5b6b35fd548d6a0629f719",
    ),
];

/// A database as a wasmpool that migrated with sqlx left it at version 3, with a module
/// and a job in it.
fn migrated_by_sqlx_to_version_3(path: &Path) {
    let db = Connection::open(path).unwrap();
    db.pragma_update(None, "journal_mode", "WAL").unwrap();
    db.execute_batch(
        "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
            version BIGINT PRIMARY KEY,
            description TEXT NOT NULL,
            installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
            success BOOLEAN NOT NULL,
            checksum BLOB NOT NULL,
            execution_time BIGINT NOT NULL
        );",
    )
    .unwrap();
    for (migration, (version, description, checksum)) in
        migrate::MIGRATIONS.iter().zip(SQLX_APPLIED)
    {
        db.execute_batch(migration.sql).unwrap();
        db.execute(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES (?1, ?2, TRUE, ?3, 1234567)",
            params![version, description, hex::decode(checksum).unwrap()],
        )
        .unwrap();
    }
    db.execute(
        "INSERT INTO modules (hash, kind, size, created_at) VALUES ('ab', 'module', 1, 1)",
        [],
    )
    .unwrap();
    db.execute(
        "INSERT INTO jobs (module_hash, args, env, stdin, priority, timeout_ms, memory_mb,
             max_attempts, state, not_before, submitted_at)
         VALUES ('ab', '[]', '{}', x'', 0, 1000, 64, 1, 'queued', 1, 1)",
        [],
    )
    .unwrap();
}

/// A database sqlx migrated is recognised: only the migration it lacks is applied, and
/// recorded as sqlx records it (so an older wasmpool still opens it).
#[tokio::test]
async fn a_database_sqlx_migrated_opens_and_gains_the_new_migration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wasmpool.db");
    migrated_by_sqlx_to_version_3(&path);

    let store = SqliteStore::open(&path, "a", Announce::new()).await.unwrap();
    assert_eq!(store.counts().await.unwrap()[&JobState::Queued], 1);
    let claimed = store.finish_and_claim(Vec::new(), Vec::new(), "default", 1).await.unwrap();
    assert_eq!(claimed.jobs.len(), 1);
    let job = store.job(claimed.jobs[0].id).await.unwrap().unwrap();
    assert_eq!((job.state, job.node.as_deref()), (JobState::Running, Some("a")));
    // A job from before argv0 and job_env runs as it would have: default argv[0], and
    // (the one change of behaviour) exactly its own environment.
    assert_eq!((job.argv0, job.job_env, job.module_name), (None, false, None));
    assert_eq!(job.lane, "default", "a job from before lanes is in the default lane");
    // Everything from before tenants is the default tenant's.
    assert_eq!(job.tenant, "default");
    assert!(store.owns_module("default", "ab").await.unwrap());
    assert!(!store.owns_module("acme", "ab").await.unwrap());
    assert!(store.token_by_hash("x").await.unwrap().is_none(), "the tokens table is there");
    drop(store);

    let db = Connection::open(&path).unwrap();
    let recorded: Vec<(i64, String, bool, String, i64)> = db
        .prepare(
            "SELECT version, description, success, hex(checksum), execution_time
             FROM _sqlx_migrations ORDER BY version",
        )
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    let versions: Vec<i64> = recorded.iter().map(|row| row.0).collect();
    // Every migration this wasmpool has, numbers and all (they may leave gaps: branches take
    // numbers of their own).
    let ours: Vec<i64> = migrate::MIGRATIONS.iter().map(|m| m.version).collect();
    assert_eq!(versions, ours);
    assert!(versions.contains(&14), "the tenants migration");
    assert_eq!(recorded[4].1, "guest command");
    assert_eq!(recorded[0].4, 1234567, "the rows sqlx wrote are left alone");
    let (_, description, success, checksum, _) = &recorded[3];
    assert_eq!((description.as_str(), *success), ("attempt node", true));
    assert_eq!(
        checksum.to_lowercase(),
        "19fcccfc6d9907618486d1b6282a7121056b8665d264cfa1138c2503d940cb096e129b353a7d9f918590104426743429"
    );

    // Opening again applies nothing.
    let store = SqliteStore::open(&path, "a", Announce::new()).await.unwrap();
    assert_eq!(store.counts().await.unwrap()[&JobState::Running], 1);
}

/// A database a newer wasmpool migrated, or one whose recorded migration differs from
/// ours, is refused rather than used.
#[tokio::test]
async fn a_database_with_unknown_or_changed_migrations_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("newer.db");
    drop(SqliteStore::open(&path, "a", Announce::new()).await.unwrap());
    Connection::open(&path)
        .unwrap()
        .execute(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES (99, 'from the future', TRUE, x'00', 1)",
            [],
        )
        .unwrap();
    let refused = SqliteStore::open(&path, "a", Announce::new()).await.err().expect("refused");
    assert!(matches!(&refused, StoreError::Schema(m) if m.contains("migration 99")), "{refused}");

    let path = dir.path().join("changed.db");
    drop(SqliteStore::open(&path, "a", Announce::new()).await.unwrap());
    Connection::open(&path)
        .unwrap()
        .execute("UPDATE _sqlx_migrations SET checksum = x'00' WHERE version = 2", [])
        .unwrap();
    let refused = SqliteStore::open(&path, "a", Announce::new()).await.err().expect("refused");
    assert!(matches!(&refused, StoreError::Schema(m) if m.contains("migration 2")), "{refused}");
}

/// Reads hold their connection to the end even when the caller stops waiting; the
/// connection then serves the next read.
#[tokio::test]
async fn reads_outlive_callers_that_stop_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("db"), "a", Announce::new()).await.unwrap();
    store.put_module("ab".into(), ModuleKind::Module, b"\0", Some("m".into()), None).await.unwrap();
    let job = NewJob { module_hash: "ab".into(), max_attempts: 1, ..NewJob::default() };
    store.submit(vec![job]).await.unwrap();
    let filter = JobFilter { limit: 10, ..JobFilter::default() };
    for _ in 0..(READERS * 4) {
        // Polled once, then dropped.
        let _ = futures_util::FutureExt::now_or_never(store.jobs(&filter));
    }
    let reads = (0..(READERS * 4)).map(|_| store.module("m"));
    for module in futures_util::future::join_all(reads).await {
        assert_eq!(module.unwrap().unwrap().names, ["m"]);
    }
}

/// A submission naming an unknown module is refused alone: the submissions committed in
/// the same group go ahead, whole.
#[tokio::test]
async fn an_unknown_module_refuses_its_submission_and_no_other_in_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("db"), "a", Announce::new()).await.unwrap();
    store.put_module("ab".into(), ModuleKind::Module, b"\0", None, None).await.unwrap();
    let job =
        |module: &str| NewJob { module_hash: module.into(), max_attempts: 1, ..NewJob::default() };
    let submissions = (0..20).map(|n| {
        let module = if n == 10 { "zz" } else { "ab" };
        store.submit(vec![job(module), job(module)])
    });
    let answers = futures_util::future::join_all(submissions).await;
    for (n, answer) in answers.iter().enumerate() {
        match (n, answer) {
            (10, Err(StoreError::UnknownModule(module))) => assert_eq!(module, "zz"),
            (10, other) => panic!("the unknown module's submission: {other:?}"),
            (_, Ok(accepted)) => assert_eq!(accepted.len(), 2),
            (_, Err(e)) => panic!("submission {n} failed: {e}"),
        }
    }
    let filter = JobFilter { limit: 100, ..JobFilter::default() };
    assert_eq!(store.jobs(&filter).await.unwrap().len(), 38);
}

/// The writer never checkpoints the log itself: the checkpoint thread copies it into the
/// database file while the store is open, so the log does not grow without bound.
#[tokio::test]
async fn the_log_is_checkpointed_into_the_database_while_the_store_is_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let store = SqliteStore::open(&path, "a", Announce::new()).await.unwrap();
    store.put_module("ab".into(), ModuleKind::Module, b"\0", None, None).await.unwrap();
    let before = std::fs::metadata(&path).unwrap().len();
    let stdin = vec![7u8; 64 << 10];
    let jobs = (0..64).map(|_| NewJob {
        module_hash: "ab".into(),
        max_attempts: 1,
        stdin: stdin.clone(),
        ..NewJob::default()
    });
    store.submit(jobs.collect()).await.unwrap();
    let grown = (0..1000).any(|_| {
        std::thread::sleep(Duration::from_millis(10));
        std::fs::metadata(&path).unwrap().len() > before + (4 << 20)
    });
    assert!(grown, "4 MiB of jobs reached the database file within 10 s");
}

/// A stale attempt's queue put is refused alone: it refuses before it writes, so the changes
/// committed in the same group go ahead (it used to fail the whole group).
#[tokio::test]
async fn a_stale_queue_put_refuses_itself_and_no_other_in_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("db"), "a", Announce::new()).await.unwrap();
    store.put_module("ab".into(), ModuleKind::Module, b"\0", None, None).await.unwrap();
    let job = || NewJob { module_hash: "ab".into(), max_attempts: 1, ..NewJob::default() };
    let stale = Running { id: 1 << 40, attempt: 1 };
    let puts = (0..20).map(|n| {
        let by = (n == 10).then_some(stale);
        store.queue_put("q".into(), vec![n], 100, by)
    });
    let submissions = (0..20).map(|_| store.submit(vec![job()]));
    let (puts, submissions) = futures_util::future::join(
        futures_util::future::join_all(puts),
        futures_util::future::join_all(submissions),
    )
    .await;
    for (n, put) in puts.into_iter().enumerate() {
        match (n, put) {
            (10, Err(StoreError::NotRunning(id))) => assert_eq!(id, stale.id),
            (10, other) => panic!("the stale put: {other:?}"),
            (_, Ok(true)) => {}
            (_, other) => panic!("put {n}: {other:?}"),
        }
    }
    assert!(submissions.iter().all(Result::is_ok), "{submissions:?}");
    assert_eq!(store.queue_len("q").await.unwrap(), 19);
}
