//! The gated claim on PostgreSQL (`store/gate.rs` says what it chooses), held across hosts:
//! every gated claim first takes one transaction-level advisory lock (`gate_lock.sql`), then
//! the cap locks of the capped modules with room (as the module-capped claim does, so that
//! claim, which takes no gate lock, is kept out too), and only then counts the running jobs,
//! in a snapshot taken after the locks are held: a claim on another host that took a
//! tenant's last slot has committed and is seen. Gated claims thus take turns across the
//! cluster; claims of a store without tenants' quotas never take the lock.

use sqlx::postgres::PgRow;
use sqlx::{Postgres, Transaction};

use super::PgStore;
use crate::store::gate::{self, After, Candidate, Cap, Gates, RunningCount};
use crate::store::{JobId, Result};

const GATE_LOCK: &str = include_str!("sql/gate_lock.sql");
const CAP_LOCKS: &str = include_str!("sql/cap_locks.sql");
const GATE_RUNNING: &str = include_str!("sql/gate_running.sql");
const GATE_CANDIDATES: &str = include_str!("sql/gate_candidates.sql");
const CLAIM_IDS: &str = include_str!("sql/claim_ids.sql");

/// A row of `capped.sql`: kind, name, cap, whether it had room.
pub(super) type CapRow = (String, String, i64, bool);

/// Whether the claim must go through the gates.
pub(super) fn needed(caps: &[CapRow]) -> bool {
    caps.iter().any(|(kind, ..)| kind == "tenant" || kind == "keyed")
}

impl PgStore {
    /// Claims up to `limit` due jobs of `lane` that the gates admit.
    pub(super) async fn gated_claim(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        lane: &str,
        limit: usize,
        caps: &[CapRow],
    ) -> Result<Vec<PgRow>> {
        sqlx::query(GATE_LOCK).execute(&mut **tx).await?;
        let open: Vec<&str> = caps
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
        let caps: Vec<Cap> = caps
            .iter()
            .map(|(kind, name, cap, _)| Cap { kind: kind.clone(), name: name.clone(), cap: *cap })
            .collect();
        let mut gates = Gates::new(&caps, &running);
        let ids = choose(tx, lane, limit, &mut gates).await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(sqlx::query(CLAIM_IDS)
            .bind(&ids)
            .bind(&self.inner.node.name)
            .bind(self.me())
            .fetch_all(&mut **tx)
            .await?)
    }
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
        let page: Vec<(i64, i64, String, String, Option<String>, Option<i64>)> =
            sqlx::query_as(GATE_CANDIDATES)
                .bind(lane)
                .bind(after.priority)
                .bind(after.id)
                .bind(gates.full_tenants())
                .bind(gates.full_modules())
                .bind(size as i64)
                .bind(gates.full_keys())
                .fetch_all(&mut **tx)
                .await?;
        let page: Vec<Candidate> = page
            .into_iter()
            .map(|(id, priority, tenant, module, key, limit)| Candidate {
                id,
                priority,
                tenant,
                module,
                key: key.map(|key| (key, limit.unwrap_or(1))),
            })
            .collect();
        match gate::take_page(gates, &page, size, limit, &mut chosen) {
            Some(next) => after = next,
            None => break,
        }
    }
    Ok(chosen)
}
