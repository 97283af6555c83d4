//! Throwaway PostgreSQL for the tests: one server shared by the whole test process (or the one
//! `WASMPOOL_TEST_POSTGRES` names), a fresh database per caller, and a private cluster for a
//! test that stops and restarts its server. The clusters come from the `throwaway-postgres`
//! crate (shared with the benchmarks) and die with the test process, however it ends.

use std::net::TcpStream;
use std::sync::OnceLock;

use throwaway_postgres::{Cluster, create_database, with_database};

/// A PostgreSQL server the tests may create databases on.
pub struct Postgres {
    /// URL of the database admin statements run in.
    admin: String,
    // The throwaway cluster behind `admin`, if this process started one.
    _cluster: Option<Cluster>,
}

/// The server shared by all tests of this process: the one `WASMPOOL_TEST_POSTGRES` names
/// (a URL whose database admin statements run in), else a throwaway cluster started on first
/// use. (It lives in a static, which is never dropped: its watchdog removes it at exit.)
pub fn shared() -> &'static Postgres {
    static SHARED: OnceLock<Postgres> = OnceLock::new();
    SHARED.get_or_init(|| match std::env::var("WASMPOOL_TEST_POSTGRES") {
        Ok(admin) if !admin.is_empty() => Postgres { admin, _cluster: None },
        _ => {
            let cluster = start();
            Postgres { admin: cluster.url("postgres"), _cluster: Some(cluster) }
        }
    })
}

fn start() -> Cluster {
    Cluster::start().unwrap_or_else(|e| panic!("{e}; or set WASMPOOL_TEST_POSTGRES"))
}

/// Runs one SQL command through `psql`; its bare output. Panics if it fails.
pub fn psql(url: &str, sql: &str) -> String {
    throwaway_postgres::psql(url, sql).unwrap_or_else(|e| panic!("{e}"))
}

fn fresh(admin: &str) -> String {
    create_database(admin, "wasmpool_test").unwrap_or_else(|e| panic!("{e}")).1
}

impl Postgres {
    /// A private throwaway cluster for one test, always, even when `WASMPOOL_TEST_POSTGRES`
    /// is set: for tests that stop and restart the server.
    pub fn own() -> OwnCluster {
        OwnCluster { cluster: start() }
    }

    /// Creates a fresh, uniquely named database and returns its URL.
    pub fn database(&self) -> String {
        fresh(&self.admin)
    }

    /// The URL of `database` on this server.
    pub fn url(&self, database: &str) -> String {
        with_database(&self.admin, database)
    }
}

/// A throwaway cluster of one test's own, stopped and removed on drop.
pub struct OwnCluster {
    cluster: Cluster,
}

impl OwnCluster {
    /// Creates a fresh, uniquely named database and returns its URL.
    pub fn database(&self) -> String {
        fresh(&self.cluster.url("postgres"))
    }

    /// The URL of `database` on this cluster.
    pub fn url(&self, database: &str) -> String {
        self.cluster.url(database)
    }

    /// The cluster's TCP port on 127.0.0.1 (the same across stop and start).
    pub fn port(&self) -> u16 {
        self.cluster.port()
    }

    /// Stops the server (fast shutdown: clients are disconnected) and waits until it is gone.
    pub fn stop(&self) {
        self.cluster.stop().unwrap_or_else(|e| panic!("pg_ctl stop: {e}"));
    }

    /// Starts the server again on the same port and data, and waits until it accepts
    /// connections.
    pub fn start(&self) {
        self.cluster.restart().unwrap_or_else(|e| panic!("PostgreSQL did not start again: {e}"));
    }
}

#[test]
fn shared_databases_are_fresh_and_reachable() {
    let postgres = shared();
    let first = postgres.database();
    let second = postgres.database();
    assert_ne!(first, second);
    for url in [&first, &second] {
        let name = url.rsplit('/').next().expect("a database name");
        assert_eq!(&postgres.url(name), url);
        assert_eq!(psql(url, "SELECT current_database()"), name);
        assert_eq!(psql(url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"), "0");
    }
}

#[test]
fn own_cluster_stops_restarts_and_cleans_up() {
    let cluster = Postgres::own();
    let url = cluster.database();
    assert!(url.starts_with(&cluster.url("wasmpool_test_")));
    psql(&url, "CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)");

    cluster.stop();
    let refused = TcpStream::connect(("127.0.0.1", cluster.port())).expect_err("server stopped");
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    assert!(throwaway_postgres::psql(&url, "SELECT 1").is_err());

    cluster.start();
    assert_eq!(psql(&url, "SELECT n FROM kept"), "7");

    let dir = cluster.cluster.dir().to_path_buf();
    let port = cluster.port();
    drop(cluster);
    assert!(!dir.exists(), "{} outlived its cluster", dir.display());
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "the server outlived its cluster");
}

#[test]
fn with_database_replaces_only_the_database() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgresql://u:p%2Fq@db.example:6543/admin?sslmode=disable", "x"),
        "postgresql://u:p%2Fq@db.example:6543/x?sslmode=disable"
    );
    assert_eq!(
        with_database("postgres://postgres@localhost", "x"),
        "postgres://postgres@localhost/x"
    );
    assert_eq!(
        with_database("postgres:///postgres?host=/run/postgresql", "x"),
        "postgres:///x?host=/run/postgresql"
    );
}
