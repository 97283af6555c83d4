//! Fair shares (issue 23): while two or more tenants have queued jobs in a lane, a claim
//! takes their jobs by share instead of in one queue order. Each pick goes to the tenant with
//! the fewest jobs running (on every host, as the claim counted them, plus those this claim
//! took) per unit of weight (`tenants.weight`, default 1), ties going round in name order
//! after the tenant this host served last in the lane; within a tenant, jobs go in queue
//! order (highest priority, then oldest). Each tenant's jobs are read a page at a time from
//! the index `jobs_fair (lane, tenant, priority DESC, id)`, only when it is picked, so a
//! tenant with 100,000 queued jobs costs a claim one page, not a walk of its backlog.
//!
//! The walk is a state machine ([`FairWalk::step`] says which page it needs next, the backend
//! reads it and [`FairWalk::feed`]s it), so both backends, one synchronous and one not, run
//! the same choice.

use std::cmp::Ordering;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use super::JobId;
use super::gate::{self, After, Candidate, Gates};

/// A tenant with queued jobs in the lane, and its weight.
#[derive(Clone, Debug)]
pub struct Share {
    pub tenant: String,
    pub weight: i64,
}

/// The tenant each lane's claims served last, on this host: where ties go round from.
#[derive(Clone, Debug, Default)]
pub struct Rotation(Arc<Mutex<HashMap<String, String>>>);

impl Rotation {
    /// The tenant served last in `lane`.
    pub fn last(&self, lane: &str) -> Option<String> {
        self.0.lock().expect("the rotation's lock").get(lane).cloned()
    }

    /// Notes the tenant served last in `lane`.
    pub fn served(&self, lane: &str, tenant: Option<String>) {
        if let Some(tenant) = tenant {
            self.0.lock().expect("the rotation's lock").insert(lane.to_string(), tenant);
        }
    }
}

/// One tenant's place in the walk.
#[derive(Debug)]
struct Turn {
    tenant: String,
    weight: i64,
    /// Running before this claim, plus taken by it.
    running: i64,
    page: VecDeque<Candidate>,
    after: After,
    pages: usize,
    /// Nothing more to take from it (its queue is read to the end, or it is full).
    done: bool,
}

/// A claim's fair walk over the tenants with queued jobs in its lane.
#[derive(Debug)]
pub struct FairWalk {
    turns: Vec<Turn>,
    last: Option<String>,
    limit: usize,
    size: usize,
    chosen: Vec<JobId>,
    /// The turn whose page was asked for.
    asked: Option<usize>,
}

impl FairWalk {
    /// A walk for a claim of `limit` over `shares`, `running` counted per tenant, ties going
    /// round after `last`.
    pub fn new(
        shares: &[Share],
        running: &HashMap<String, i64>,
        last: Option<String>,
        limit: usize,
    ) -> FairWalk {
        let mut turns: Vec<Turn> = shares
            .iter()
            .map(|share| Turn {
                tenant: share.tenant.clone(),
                weight: share.weight.max(1),
                running: running.get(&share.tenant).copied().unwrap_or(0),
                page: VecDeque::new(),
                after: After::START,
                pages: 0,
                done: false,
            })
            .collect();
        turns.sort_by(|a, b| a.tenant.cmp(&b.tenant));
        FairWalk {
            turns,
            last,
            limit,
            size: gate::page_size(limit),
            chosen: Vec::new(),
            asked: None,
        }
    }

    /// Rows per page.
    pub fn page_size(&self) -> usize {
        self.size
    }

    /// Takes what it can; the tenant (and where) whose next page it needs, or `None` when the
    /// claim is complete.
    pub fn step(&mut self, gates: &mut Gates) -> Option<(String, After)> {
        while self.chosen.len() < self.limit {
            let index = self.next()?;
            let turn = &mut self.turns[index];
            if gates.tenant_full(&turn.tenant) {
                turn.done = true;
                continue;
            }
            let Some(job) = turn.page.pop_front() else {
                if turn.pages == gate::MAX_PAGES {
                    turn.done = true;
                    continue;
                }
                self.asked = Some(index);
                return Some((turn.tenant.clone(), turn.after));
            };
            if gates.admit(&job) {
                self.chosen.push(job.id);
                turn.running += 1;
                self.last = Some(turn.tenant.clone());
            }
        }
        None
    }

    /// The page [`FairWalk::step`] asked for.
    pub fn feed(&mut self, page: Vec<Candidate>) {
        let Some(index) = self.asked.take() else { return };
        let turn = &mut self.turns[index];
        turn.pages += 1;
        if let Some(last) = page.last() {
            turn.after = After { priority: last.priority, id: last.id };
        }
        if page.len() < self.size {
            // The tenant's last page: nothing more to read after it.
            turn.pages = gate::MAX_PAGES;
        }
        turn.done = page.is_empty();
        turn.page = page.into();
    }

    /// The jobs chosen, in the order taken, and the tenant served last.
    pub fn finish(self) -> (Vec<JobId>, Option<String>) {
        (self.chosen, self.last)
    }

    /// The turn to pick from: fewest running per weight, ties round after the last served.
    fn next(&self) -> Option<usize> {
        let open = self.turns.iter().enumerate().filter(|(_, turn)| !turn.done);
        open.min_by(|(_, a), (_, b)| self.order(a, b)).map(|(index, _)| index)
    }

    fn order(&self, a: &Turn, b: &Turn) -> Ordering {
        let share = (a.running * b.weight).cmp(&(b.running * a.weight));
        share.then_with(|| self.round(a).cmp(&self.round(b)))
    }

    /// Where a tenant comes in the round after the last served: those after it by name
    /// first, then from the start.
    fn round<'a>(&self, turn: &'a Turn) -> (bool, &'a str) {
        let wrapped = self.last.as_deref().is_some_and(|last| turn.tenant.as_str() <= last);
        (wrapped, turn.tenant.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: JobId, tenant: &str) -> Candidate {
        let tenant = tenant.into();
        Candidate { id, priority: 0, tenant, module: "m".into(), key: None, limits: Vec::new() }
    }

    fn shares(names: &[(&str, i64)]) -> Vec<Share> {
        names
            .iter()
            .map(|(tenant, weight)| Share { tenant: tenant.to_string(), weight: *weight })
            .collect()
    }

    /// Runs a walk against `queues` (each tenant's queued jobs in order).
    fn walk(mut walk: FairWalk, queues: &HashMap<&str, Vec<Candidate>>) -> Vec<JobId> {
        let mut gates = Gates::default();
        while let Some((tenant, after)) = walk.step(&mut gates) {
            let size = walk.page_size();
            let page: Vec<Candidate> = queues[tenant.as_str()]
                .iter()
                .filter(|job| job.id > after.id)
                .take(size)
                .cloned()
                .collect();
            walk.feed(page);
        }
        walk.finish().0
    }

    #[test]
    fn a_big_backlog_does_not_starve_a_small_tenant() {
        let mut queues = HashMap::new();
        queues.insert("big", (1..=1000).map(|id| job(id, "big")).collect::<Vec<_>>());
        queues.insert("small", vec![job(5000, "small"), job(5001, "small")]);
        let fair = FairWalk::new(&shares(&[("big", 1), ("small", 1)]), &HashMap::new(), None, 4);
        assert_eq!(walk(fair, &queues), [1, 5000, 2, 5001]);
        // With one worker and nothing running, ties go round: the last served goes after.
        let one = FairWalk::new(
            &shares(&[("big", 1), ("small", 1)]),
            &HashMap::new(),
            Some("big".into()),
            1,
        );
        assert_eq!(walk(one, &queues), [5000]);
    }

    #[test]
    fn weights_and_running_jobs_set_the_shares() {
        let mut queues = HashMap::new();
        queues.insert("a", (1..=100).map(|id| job(id, "a")).collect::<Vec<_>>());
        queues.insert("b", (101..=200).map(|id| job(id, "b")).collect::<Vec<_>>());
        let fair = FairWalk::new(&shares(&[("a", 3), ("b", 1)]), &HashMap::new(), None, 8);
        let taken = walk(fair, &queues);
        assert_eq!(taken.iter().filter(|id| **id <= 100).count(), 6, "{taken:?}");
        let running = HashMap::from([("a".to_string(), 4)]);
        let fair = FairWalk::new(&shares(&[("a", 1), ("b", 1)]), &running, None, 4);
        assert!(walk(fair, &queues).iter().all(|id| *id > 100), "b first, 4 behind");
    }
}
