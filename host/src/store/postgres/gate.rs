//! The gated claim on PostgreSQL (`store/gate.rs` and `store/fair.rs` say what it chooses).
//! A tenant's running quota and a concurrency key hold across hosts: such a claim first
//! takes one transaction-level advisory lock (`gate_lock.sql`), so these claims take turns
//! across the cluster. Every gated claim then takes the cap locks of the capped modules with
//! room (as the module-capped claim does, which takes no gate lock), and only then counts
//! the running jobs, in a snapshot taken after the locks are held: a claim on another host
//! that took the last slot has committed and is seen. A claim that is gated only for fair
//! shares takes no gate lock: two hosts may choose the same job, and the claim's `UPDATE …
//! WHERE state = 'queued'` gives it to one of them.

use sqlx::postgres::PgRow;
use sqlx::{Postgres, Transaction};

use super::PgStore;
use crate::store::buckets::{Bucket, Buckets, Pacing};
use crate::store::fair::FairWalk;
use crate::store::gate::{self, After, Candidate, Cap, Gates, RunningCount};
use crate::store::{JobId, Result};

const GATE_LOCK: &str = include_str!("sql/gate_lock.sql");
const CAP_LOCKS: &str = include_str!("sql/cap_locks.sql");
const GATE_RUNNING: &str = include_str!("sql/gate_running.sql");
const GATE_CANDIDATES: &str = include_str!("sql/gate_candidates.sql");
const FAIR_PAGE: &str = include_str!("sql/fair_page.sql");
const CLAIM_IDS: &str = include_str!("sql/claim_ids.sql");
const RATE_BUCKETS: &str = include_str!("sql/rate_buckets.sql");
const RATE_SPEND: &str = include_str!("sql/rate_spend.sql");

/// A row of `capped.sql`: kind, name, cap, whether it had room.
pub(super) type CapRow = (String, String, i64, bool);

/// A candidate row: id, priority, tenant, module hash, concurrency key and limit, rate
/// limits.
type CandidateRow = (i64, i64, String, String, Option<String>, Option<i64>, Option<String>);

/// A row of `rate_buckets.sql`.
type BucketRow = (String, i64, i64, i64, f64, i64, i64);

/// The caps of `capped.sql`'s rows.
pub(super) fn caps(rows: &[CapRow]) -> Vec<Cap> {
    rows.iter()
        .map(|(kind, name, cap, _)| Cap { kind: kind.clone(), name: name.clone(), cap: *cap })
        .collect()
}

impl PgStore {
    /// Claims up to `limit` due jobs of `lane` that the gates admit; the rows claimed, in
    /// the order chosen, and what the rate limits say of them (see [`Pacing`]).
    pub(super) async fn gated_claim(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        lane: &str,
        limit: usize,
        rows: &[CapRow],
    ) -> Result<(Vec<PgRow>, Pacing)> {
        let caps = caps(rows);
        if gate::exclusive(&caps) {
            sqlx::query(GATE_LOCK).execute(&mut **tx).await?;
        }
        let open: Vec<&str> = rows
            .iter()
            .filter(|(kind, _, _, room)| kind == "module" && *room)
            .map(|(_, hash, ..)| hash.as_str())
            .collect();
        if !open.is_empty() {
            sqlx::query(CAP_LOCKS).bind(&open).execute(&mut **tx).await?;
        }
        let running: Vec<(String, String, Option<String>, i64)> =
            sqlx::query_as(GATE_RUNNING).fetch_all(&mut **tx).await?;
        let running: Vec<RunningCount> = running
            .into_iter()
            .map(|(tenant, module_hash, key, running)| RunningCount {
                tenant,
                module_hash,
                key,
                running,
            })
            .collect();
        let mut gates = Gates::new(&caps, &running);
        gates.buckets = buckets(tx).await?;
        let shares = gate::shares(&caps);
        let ids = if shares.len() > 1 {
            let per_tenant = Gates::running_per_tenant(&running);
            let rotation = &self.inner.rotation;
            let mut walk = FairWalk::new(&shares, &per_tenant, rotation.last(lane), limit);
            while let Some((tenant, after)) = walk.step(&mut gates) {
                let size = walk.page_size();
                walk.feed(fair_page(tx, (lane, &tenant), after, size, &gates).await?);
            }
            let (chosen, last) = walk.finish();
            rotation.served(lane, last);
            chosen
        } else {
            choose(tx, lane, limit, &mut gates).await?
        };
        spend(tx, &gates.buckets).await?;
        let pacing = gates.pacing(&ids);
        if ids.is_empty() {
            return Ok((Vec::new(), pacing));
        }
        let mut claimed = sqlx::query(CLAIM_IDS)
            .bind(&ids)
            .bind(&self.inner.node.name)
            .bind(self.me())
            .fetch_all(&mut **tx)
            .await?;
        claimed.sort_by_key(|row| {
            let id: i64 = sqlx::Row::get(row, "id");
            ids.iter().position(|chosen| *chosen == id)
        });
        Ok((claimed, pacing))
    }
}

/// Every rate limit's bucket, refilled to the database's time.
async fn buckets(tx: &mut Transaction<'_, Postgres>) -> Result<Buckets> {
    let rows: Vec<BucketRow> = sqlx::query_as(RATE_BUCKETS).fetch_all(&mut **tx).await?;
    let now = rows.first().map_or(0, |row| row.6);
    let buckets = rows
        .into_iter()
        .map(|(name, per, window_us, burst, tokens, refilled_at, _)| Bucket {
            name,
            per,
            window_us,
            burst,
            tokens,
            refilled_at,
        })
        .collect();
    Ok(Buckets::new(buckets, now))
}

/// Writes back the buckets the claim took tokens of.
async fn spend(tx: &mut Transaction<'_, Postgres>, buckets: &Buckets) -> Result<()> {
    let spent = buckets.spent();
    if spent.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = spent.iter().map(|bucket| bucket.name.as_str()).collect();
    let tokens: Vec<f64> = spent.iter().map(|bucket| bucket.tokens).collect();
    let at: Vec<i64> = spent.iter().map(|bucket| bucket.refilled_at).collect();
    sqlx::query(RATE_SPEND).bind(names).bind(tokens).bind(at).execute(&mut **tx).await?;
    Ok(())
}

fn candidates(page: Vec<CandidateRow>) -> Vec<Candidate> {
    page.into_iter()
        .map(|(id, priority, tenant, module, key, limit, limits)| Candidate {
            id,
            priority,
            tenant,
            module,
            key: key.map(|key| (key, limit.unwrap_or(1))),
            limits: gate::limits(limits.as_deref()),
        })
        .collect()
}

/// The ids of the jobs the gates admit, walking the lane's queue a page at a time.
async fn choose(
    tx: &mut Transaction<'_, Postgres>,
    lane: &str,
    limit: usize,
    gates: &mut Gates,
) -> Result<Vec<JobId>> {
    let size = gate::page_size(limit);
    let mut chosen = Vec::with_capacity(limit);
    let mut after = After::START;
    for _ in 0..gate::MAX_PAGES {
        let page: Vec<CandidateRow> = sqlx::query_as(GATE_CANDIDATES)
            .bind(lane)
            .bind(after.priority)
            .bind(after.id)
            .bind(gates.full_tenants())
            .bind(gates.full_modules())
            .bind(size as i64)
            .bind(gates.full_keys())
            .bind(gates.buckets.empty())
            .fetch_all(&mut **tx)
            .await?;
        match gate::take_page(gates, &candidates(page), size, limit, &mut chosen) {
            Some(next) => after = next,
            None => break,
        }
    }
    Ok(chosen)
}

/// One page of one tenant's jobs for the fair walk, leaving out what is full.
async fn fair_page(
    tx: &mut Transaction<'_, Postgres>,
    (lane, tenant): (&str, &str),
    after: After,
    size: usize,
    gates: &Gates,
) -> Result<Vec<Candidate>> {
    let page: Vec<CandidateRow> = sqlx::query_as(FAIR_PAGE)
        .bind(lane)
        .bind(tenant)
        .bind(after.priority)
        .bind(after.id)
        .bind(gates.full_modules())
        .bind(gates.full_keys())
        .bind(size as i64)
        .bind(gates.buckets.empty())
        .fetch_all(&mut **tx)
        .await?;
    Ok(candidates(page))
}
