//! The gated claim on SQLite (`store/gate.rs` says what it chooses): the caps and running
//! counts, then the lane's queue a page at a time. One writer means no other claim can
//! interleave.

use rusqlite::{Connection, params};

use crate::store::fair::{FairWalk, Rotation};
use crate::store::gate::{self, After, Candidate, Cap, Gates, RunningCount};
use crate::store::{JobId, Result};

const GATE_CAPS: &str = include_str!("sql/gate_caps.sql");
const GATE_RUNNING: &str = include_str!("sql/gate_running.sql");
const GATE_CANDIDATES: &str = include_str!("sql/gate_candidates.sql");
const FAIR_PAGE: &str = include_str!("sql/fair_page.sql");

/// The caps a claim of `lane` keeps to; with no tenant's among them, and no `keyed` row (no
/// queued job of the lane has a concurrency key), the claim needs no gate.
pub(super) fn caps(db: &Connection, lane: &str) -> Result<Vec<Cap>> {
    let caps = db
        .prepare_cached(GATE_CAPS)?
        .query_map([lane], |row| {
            Ok(Cap { kind: row.get(0)?, name: row.get(1)?, cap: row.get(2)? })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(caps)
}

/// The ids of up to `limit` due jobs of `lane` the gates admit: in queue order, or by fair
/// shares while two or more tenants have queued jobs in the lane.
pub(super) fn choose(
    db: &Connection,
    (lane, at, limit): (&str, i64, usize),
    caps: &[Cap],
    rotation: &Rotation,
) -> Result<Vec<JobId>> {
    let running = db
        .prepare_cached(GATE_RUNNING)?
        .query_map([], |row| {
            Ok(RunningCount {
                tenant: row.get(0)?,
                module_hash: row.get(1)?,
                key: row.get(2)?,
                running: row.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut gates = Gates::new(caps, &running);
    let shares = gate::shares(caps);
    if shares.len() > 1 {
        let per_tenant = Gates::running_per_tenant(&running);
        let mut walk = FairWalk::new(&shares, &per_tenant, rotation.last(lane), limit);
        while let Some((tenant, after)) = walk.step(&mut gates) {
            let size = walk.page_size();
            walk.feed(fair_page(db, (lane, &tenant, at), after, size, &gates)?);
        }
        let (chosen, last) = walk.finish();
        rotation.served(lane, last);
        return Ok(chosen);
    }
    let size = gate::page_size(limit);
    let mut chosen = Vec::with_capacity(limit);
    let mut after = After::START;
    for _ in 0..gate::MAX_PAGES {
        let page = page(db, lane, at, after, size, &gates)?;
        match gate::take_page(&mut gates, &page, size, limit, &mut chosen) {
            Some(next) => after = next,
            None => break,
        }
    }
    Ok(chosen)
}

/// One page of the walk, leaving out what is full.
fn page(
    db: &Connection,
    lane: &str,
    at: i64,
    after: After,
    size: usize,
    gates: &Gates,
) -> Result<Vec<Candidate>> {
    let tenants = serde_json::to_string(&gates.full_tenants()).expect("strings serialise");
    let modules = serde_json::to_string(&gates.full_modules()).expect("strings serialise");
    let keys = serde_json::to_string(&gates.full_keys()).expect("strings serialise");
    let page = db
        .prepare_cached(GATE_CANDIDATES)?
        .query_map(
            params![lane, at, after.priority, after.id, tenants, modules, size as i64, keys],
            candidate,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(page)
}

/// One page of one tenant's jobs for the fair walk, leaving out what is full.
fn fair_page(
    db: &Connection,
    (lane, tenant, at): (&str, &str, i64),
    after: After,
    size: usize,
    gates: &Gates,
) -> Result<Vec<Candidate>> {
    let modules = serde_json::to_string(&gates.full_modules()).expect("strings serialise");
    let keys = serde_json::to_string(&gates.full_keys()).expect("strings serialise");
    let page = db
        .prepare_cached(FAIR_PAGE)?
        .query_map(
            params![lane, tenant, at, after.priority, after.id, modules, keys, size as i64],
            candidate,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(page)
}

/// A candidate row (`id, priority, tenant, module_hash, concurrency_key, concurrency_limit`).
fn candidate(row: &rusqlite::Row<'_>) -> rusqlite::Result<Candidate> {
    Ok(Candidate {
        id: row.get(0)?,
        priority: row.get(1)?,
        tenant: row.get(2)?,
        module: row.get(3)?,
        key: keyed(row.get(4)?, row.get(5)?),
    })
}

/// A candidate's key and limit (1 when none is stored).
fn keyed(key: Option<String>, limit: Option<i64>) -> Option<(String, i64)> {
    key.map(|key| (key, limit.unwrap_or(1)))
}
