//! The gated claim on SQLite (`store/gate.rs`, `store/fair.rs` and `store/buckets.rs` say
//! what it chooses): the caps, running counts and rate limits' buckets, then the lane's
//! queue a page at a time (a page per tenant for fair shares), then the buckets it spent.
//! One writer means no other claim can interleave.

use rusqlite::{Connection, params};

use crate::store::buckets::{Bucket, Buckets, Pacing};
use crate::store::fair::{FairWalk, Rotation};
use crate::store::gate::{self, After, Candidate, Cap, Gates, RunningCount};
use crate::store::{JobId, Result};

const GATE_CAPS: &str = include_str!("sql/gate_caps.sql");
const GATE_RUNNING: &str = include_str!("sql/gate_running.sql");
const GATE_CANDIDATES: &str = include_str!("sql/gate_candidates.sql");
const FAIR_PAGE: &str = include_str!("sql/fair_page.sql");
const RATE_BUCKETS: &str = include_str!("sql/rate_buckets.sql");
const RATE_SPEND: &str = include_str!("sql/rate_spend.sql");

/// The caps a claim of `lane` keeps to (see `gate::needed` for when it needs the gates).
pub(super) fn caps(db: &Connection, lane: &str) -> Result<Vec<Cap>> {
    let caps = db
        .prepare_cached(GATE_CAPS)?
        .query_map([lane], |row| {
            Ok(Cap { kind: row.get(0)?, name: row.get(1)?, cap: row.get(2)? })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(caps)
}

/// The ids of up to `limit` due jobs of `lane` the gates admit (in queue order, or by fair
/// shares while two or more tenants have queued jobs in the lane), and what the rate limits
/// say of them (see [`Pacing`]).
pub(super) fn choose(
    db: &Connection,
    (lane, at, limit): (&str, i64, usize),
    caps: &[Cap],
    rotation: &Rotation,
) -> Result<(Vec<JobId>, Pacing)> {
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
    gates.buckets = Buckets::new(buckets(db)?, at);
    let shares = gate::shares(caps);
    let chosen = if shares.len() > 1 {
        let per_tenant = Gates::running_per_tenant(&running);
        let mut walk = FairWalk::new(&shares, &per_tenant, rotation.last(lane), limit);
        while let Some((tenant, after)) = walk.step(&mut gates) {
            let size = walk.page_size();
            walk.feed(fair_page(db, (lane, &tenant, at), after, size, &gates)?);
        }
        let (chosen, last) = walk.finish();
        rotation.served(lane, last);
        chosen
    } else {
        in_queue_order(db, (lane, at, limit), &mut gates)?
    };
    for bucket in gates.buckets.spent() {
        db.prepare_cached(RATE_SPEND)?.execute(params![
            bucket.name,
            bucket.tokens,
            bucket.refilled_at
        ])?;
    }
    let pacing = gates.pacing(&chosen);
    Ok((chosen, pacing))
}

fn buckets(db: &Connection) -> Result<Vec<Bucket>> {
    let buckets = db
        .prepare_cached(RATE_BUCKETS)?
        .query_map([], |row| {
            Ok(Bucket {
                name: row.get(0)?,
                per: row.get(1)?,
                window_us: row.get(2)?,
                burst: row.get(3)?,
                tokens: row.get(4)?,
                refilled_at: row.get(5)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(buckets)
}

/// The lane's queue in queue order, a page at a time.
fn in_queue_order(
    db: &Connection,
    (lane, at, limit): (&str, i64, usize),
    gates: &mut Gates,
) -> Result<Vec<JobId>> {
    let size = gate::page_size(limit);
    let mut chosen = Vec::with_capacity(limit);
    let mut after = After::START;
    for _ in 0..gate::MAX_PAGES {
        let page = page(db, (lane, at), after, size, gates)?;
        match gate::take_page(gates, &page, size, limit, &mut chosen) {
            Some(next) => after = next,
            None => break,
        }
    }
    Ok(chosen)
}

/// What is full or empty, as the JSON arrays the pages leave out.
fn left_out(gates: &Gates) -> [String; 4] {
    let json = |names: Vec<String>| serde_json::to_string(&names).expect("strings serialise");
    [
        json(gates.full_tenants()),
        json(gates.full_modules()),
        json(gates.full_keys()),
        json(gates.buckets.empty()),
    ]
}

/// One page of the walk in queue order.
fn page(
    db: &Connection,
    (lane, at): (&str, i64),
    after: After,
    size: usize,
    gates: &Gates,
) -> Result<Vec<Candidate>> {
    let [tenants, modules, keys, limits] = left_out(gates);
    let values =
        params![lane, at, after.priority, after.id, tenants, modules, size as i64, keys, limits];
    let page = db
        .prepare_cached(GATE_CANDIDATES)?
        .query_map(values, candidate)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(page)
}

/// One page of one tenant's jobs for the fair walk.
fn fair_page(
    db: &Connection,
    (lane, tenant, at): (&str, &str, i64),
    after: After,
    size: usize,
    gates: &Gates,
) -> Result<Vec<Candidate>> {
    let [_, modules, keys, limits] = left_out(gates);
    let values =
        params![lane, tenant, at, after.priority, after.id, modules, keys, size as i64, limits];
    let page = db
        .prepare_cached(FAIR_PAGE)?
        .query_map(values, candidate)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(page)
}

/// A candidate row (`id, priority, tenant, module_hash, concurrency_key, concurrency_limit,
/// rate_limits`).
fn candidate(row: &rusqlite::Row<'_>) -> rusqlite::Result<Candidate> {
    let key: Option<String> = row.get(4)?;
    let limit: Option<i64> = row.get(5)?;
    let limits: Option<String> = row.get(6)?;
    Ok(Candidate {
        id: row.get(0)?,
        priority: row.get(1)?,
        tenant: row.get(2)?,
        module: row.get(3)?,
        key: key.map(|key| (key, limit.unwrap_or(1))),
        limits: gate::limits(limits.as_deref()),
    })
}
