//! The gated claim's choice (issue 23): which of a lane's due jobs a claim may take while
//! some tenant has a running quota (`tenants.max_running`) or the lane has queued jobs with
//! a concurrency key. Both backends read the caps (modules' and tenants') and the running
//! jobs they count (per key too), then walk the lane's queue in queue order, a page at a
//! time, each page leaving out the tenants, modules and keys already full, and ask
//! [`Gates::admit`] for each job: it is taken only while every gate it passes has room, so a
//! batch claim never takes a tenant, a module or a key past its cap. A job passed over stays
//! queued with its attempt uncounted.

use std::collections::{BTreeSet, HashMap};

use super::JobId;
use super::buckets::Pacing;

/// Most pages one claim walks: a bound on its work when the head of the queue is full of
/// jobs it may not take (each page leaves out what filled up on the one before).
pub const MAX_PAGES: usize = 8;

/// Jobs read per page, for a claim of `limit`.
pub fn page_size(limit: usize) -> usize {
    (limit * 2).max(32)
}

/// What the gates need of one queued job.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub id: JobId,
    pub priority: i64,
    pub tenant: String,
    pub module: String,
    /// Its concurrency key (stored: per tenant) and the most jobs with it to run at once.
    pub key: Option<(String, i64)>,
    /// The rate limits it uses (stored names).
    pub limits: Vec<String>,
}

/// A cap as the claim reads it: `kind` is `module` (name: a hash) or `tenant`.
#[derive(Clone, Debug)]
pub struct Cap {
    pub kind: String,
    pub name: String,
    pub cap: i64,
}

/// Whether a claim with these caps must go through the gates: some tenant has a running
/// quota, some queued job of the lane has a concurrency key, or two or more tenants have
/// queued jobs in the lane (fair shares, `fair.rs`).
pub fn needed(caps: &[Cap]) -> bool {
    caps.iter().any(|cap| cap.kind == "tenant" || cap.kind == "keyed") || shares(caps).len() > 1
}

/// Whether the claim's counts must hold across hosts (a tenant's quota or a key): the gated
/// claim then takes its turn (PostgreSQL's `gate_lock.sql`).
pub fn exclusive(caps: &[Cap]) -> bool {
    caps.iter().any(|cap| cap.kind == "tenant" || cap.kind == "keyed")
}

/// The tenants with queued jobs in the lane, with their weights.
pub fn shares(caps: &[Cap]) -> Vec<super::fair::Share> {
    caps.iter()
        .filter(|cap| cap.kind == "queued")
        .map(|cap| super::fair::Share { tenant: cap.name.clone(), weight: cap.cap })
        .collect()
}

/// The rate limits of a job's `rate_limits` column (a JSON array; unreadable: none).
pub fn limits(column: Option<&str>) -> Vec<String> {
    column.and_then(|text| serde_json::from_str(text).ok()).unwrap_or_default()
}

/// Running jobs, counted per tenant, module and concurrency key.
#[derive(Clone, Debug)]
pub struct RunningCount {
    pub tenant: String,
    pub module_hash: String,
    pub key: Option<String>,
    pub running: i64,
}

/// Room left under each cap, as the claim takes jobs.
#[derive(Debug, Default)]
pub struct Gates {
    modules: HashMap<String, i64>,
    tenants: HashMap<String, i64>,
    /// Running jobs per concurrency key.
    keys: HashMap<String, i64>,
    /// Keys a job was passed over for: at its limit.
    full_keys: BTreeSet<String>,
    /// The rate limits' buckets.
    pub buckets: super::buckets::Buckets,
    /// Jobs admitted ahead of their rate limits' tokens, and when each may start (µs).
    starts: Vec<(JobId, i64)>,
}

impl Gates {
    /// The room under each of `caps` with `running` counted against it.
    pub fn new(caps: &[Cap], running: &[RunningCount]) -> Gates {
        let mut gates = Gates::default();
        for cap in caps {
            let room = match cap.kind.as_str() {
                "module" => gates.modules.entry(cap.name.clone()),
                "tenant" => gates.tenants.entry(cap.name.clone()),
                _ => continue,
            };
            *room.or_default() += cap.cap;
        }
        for count in running {
            if let Some(room) = gates.modules.get_mut(&count.module_hash) {
                *room -= count.running;
            }
            if let Some(room) = gates.tenants.get_mut(&count.tenant) {
                *room -= count.running;
            }
            if let Some(key) = &count.key {
                *gates.keys.entry(key.clone()).or_default() += count.running;
            }
        }
        gates
    }

    /// Whether `job` may be taken; if so, its room is used.
    pub fn admit(&mut self, job: &Candidate) -> bool {
        let module = self.modules.get(&job.module).copied();
        let tenant = self.tenants.get(&job.tenant).copied();
        if module.is_some_and(|room| room <= 0) || tenant.is_some_and(|room| room <= 0) {
            return false;
        }
        if let Some((key, limit)) = &job.key
            && self.keys.get(key).copied().unwrap_or(0) >= *limit
        {
            self.full_keys.insert(key.clone());
            return false;
        }
        if !self.buckets.allow(&job.limits) {
            return false;
        }
        if let Some((key, _)) = &job.key {
            *self.keys.entry(key.clone()).or_default() += 1;
        }
        if let Some(at) = self.buckets.take(&job.limits) {
            self.starts.push((job.id, at));
        }
        if let Some(room) = self.modules.get_mut(&job.module) {
            *room -= 1;
        }
        if let Some(room) = self.tenants.get_mut(&job.tenant) {
            *room -= 1;
        }
        true
    }

    /// What the rate limits say of the claim of `chosen` (see [`Pacing`]).
    pub fn pacing(&self, chosen: &[JobId]) -> Pacing {
        let starts = self.starts.iter().filter(|(id, _)| chosen.contains(id)).copied().collect();
        Pacing { wake_at: self.buckets.wake_at(), starts }
    }

    /// Whether `tenant` has no room left.
    pub fn tenant_full(&self, tenant: &str) -> bool {
        self.tenants.get(tenant).is_some_and(|room| *room <= 0)
    }

    /// The running jobs per tenant, as counted when the claim began.
    pub fn running_per_tenant(running: &[RunningCount]) -> HashMap<String, i64> {
        let mut per_tenant = HashMap::new();
        for count in running {
            *per_tenant.entry(count.tenant.clone()).or_default() += count.running;
        }
        per_tenant
    }

    /// The tenants with no room left (a page leaves their jobs out).
    pub fn full_tenants(&self) -> Vec<String> {
        full(&self.tenants)
    }

    /// The modules with no room left.
    pub fn full_modules(&self) -> Vec<String> {
        full(&self.modules)
    }

    /// The concurrency keys a job was passed over for.
    pub fn full_keys(&self) -> Vec<String> {
        self.full_keys.iter().cloned().collect()
    }
}

fn full(rooms: &HashMap<String, i64>) -> Vec<String> {
    let mut names: Vec<String> =
        rooms.iter().filter(|(_, room)| **room <= 0).map(|(name, _)| name.clone()).collect();
    names.sort_unstable();
    names
}

/// Where the next page starts: after this job in queue order (priority descending, then id).
#[derive(Clone, Copy, Debug)]
pub struct After {
    pub priority: i64,
    pub id: JobId,
}

impl After {
    /// Before the first job.
    pub const START: After = After { priority: i64::MAX, id: 0 };
}

/// Takes what `gates` admit of one page, in order, until `chosen` holds `limit`; where the
/// next page starts, or `None` when this one was the queue's last.
pub fn take_page(
    gates: &mut Gates,
    page: &[Candidate],
    size: usize,
    limit: usize,
    chosen: &mut Vec<JobId>,
) -> Option<After> {
    for job in page {
        if chosen.len() == limit {
            return None;
        }
        if gates.admit(job) {
            chosen.push(job.id);
        }
    }
    let last = page.last()?;
    (page.len() == size && chosen.len() < limit)
        .then_some(After { priority: last.priority, id: last.id })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: JobId, tenant: &str, module: &str) -> Candidate {
        let (tenant, module) = (tenant.into(), module.into());
        Candidate { id, priority: 0, tenant, module, key: None, limits: Vec::new() }
    }

    #[test]
    fn a_tenant_at_its_cap_is_passed_over_and_others_go_on() {
        let caps = [Cap { kind: "tenant".into(), name: "acme".into(), cap: 2 }];
        let running = [RunningCount {
            tenant: "acme".into(),
            module_hash: "m".into(),
            key: None,
            running: 1,
        }];
        let mut gates = Gates::new(&caps, &running);
        let page = [job(1, "acme", "m"), job(2, "acme", "m"), job(3, "globex", "m")];
        let mut chosen = Vec::new();
        assert!(take_page(&mut gates, &page, 3, 10, &mut chosen).is_some());
        assert_eq!(chosen, [1, 3]);
        assert_eq!(gates.full_tenants(), ["acme"]);
        assert!(gates.full_modules().is_empty());
    }

    #[test]
    fn a_module_cap_and_a_tenant_cap_both_hold() {
        let caps = [
            Cap { kind: "tenant".into(), name: "acme".into(), cap: 5 },
            Cap { kind: "module".into(), name: "m".into(), cap: 1 },
        ];
        let mut gates = Gates::new(&caps, &[]);
        let page = [job(1, "acme", "m"), job(2, "acme", "m"), job(3, "acme", "n")];
        let mut chosen = Vec::new();
        assert!(take_page(&mut gates, &page, 4, 10, &mut chosen).is_none(), "the last page");
        assert_eq!(chosen, [1, 3]);
    }

    #[test]
    fn a_key_at_its_limit_is_passed_over_and_other_keys_go_on() {
        let running = [RunningCount {
            tenant: "acme".into(),
            module_hash: "m".into(),
            key: Some("acme:c1".into()),
            running: 1,
        }];
        let mut gates = Gates::new(&[], &running);
        let keyed = |id, key: &str, limit| Candidate {
            key: Some((key.to_string(), limit)),
            ..job(id, "acme", "m")
        };
        let page = [keyed(1, "acme:c1", 2), keyed(2, "acme:c1", 2), keyed(3, "acme:c2", 1)];
        let mut chosen = Vec::new();
        take_page(&mut gates, &page, 10, 10, &mut chosen);
        assert_eq!(chosen, [1, 3]);
        assert_eq!(gates.full_keys(), ["acme:c1"]);
    }
}
