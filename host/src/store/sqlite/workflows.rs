//! Workflows on the writer's connection: a submission with `after` (its parents read, the
//! plan made, then the workflow, jobs and edges written in the one transaction), the release
//! of children when parents end (called by every write that ends jobs, in its transaction),
//! a workflow's retry; and the reads of workflows.

use std::collections::{BTreeMap, HashMap};

use rusqlite::{Connection, OptionalExtension, params};
use wasmpool_protocol::workflow::{Parent, WorkflowLimits};

use super::SqliteStore;
use super::jobs::insert_rows;
use super::values::now;
use super::writer::Kind::Promised;
use crate::store::backend::Workflows;
use crate::store::changes::Changes;
use crate::store::new_job::JobColumns;
use crate::store::rows::{self, time};
use crate::store::workflow::{
    self, ParentResult, ParentRow, WorkflowBrief, WorkflowJobRecord, WorkflowRecord,
    existing_parents, parents_stdin,
};
use crate::store::{JobId, JobState, NewJob, Result};

const CHILDREN: &str = include_str!("sql/children.sql");
const PARENT_ROWS: &str = include_str!("sql/parent_rows.sql");
const WORKFLOW_SIZE: &str = include_str!("sql/workflow_size.sql");
const WORKFLOW_INSERT: &str = include_str!("sql/workflow_insert.sql");
const WORKFLOW_ADOPT: &str = include_str!("sql/workflow_adopt.sql");
const EDGES_INSERT: &str = include_str!("sql/edges_insert.sql");
const WORKFLOW: &str = include_str!("sql/workflow.sql");
const WORKFLOW_JOBS: &str = include_str!("sql/workflow_jobs.sql");
const WORKFLOW_EDGES: &str = include_str!("sql/workflow_edges.sql");
const WORKFLOWS: &str = include_str!("sql/workflows.sql");
const WORKFLOW_RETRY: &str = include_str!("sql/workflow_retry.sql");
const PARENT_RESULTS: &str = include_str!("sql/parent_results.sql");
const SET_STDIN: &str = include_str!("sql/set_stdin.sql");
const PARAM_PARENTS: &str = include_str!("sql/param_parents.sql");
const PARAM_PARENTS_OF: &str = include_str!("sql/param_parents_of.sql");
const SET_PARAMS: &str = include_str!("sql/set_params.sql");

impl Workflows for SqliteStore {
    async fn submit_workflow(
        &self,
        jobs: Vec<NewJob>,
        limits: WorkflowLimits,
    ) -> Result<Vec<(JobId, JobState)>> {
        self.write(Promised, move |db, changes, _| submit(db, &jobs, limits, changes)).await
    }

    async fn retry_workflow(&self, id: i64) -> Result<Option<Vec<(JobId, JobState)>>> {
        self.write(Promised, move |db, changes, _| retry(db, id, changes)).await
    }

    async fn workflow(&self, id: i64) -> Result<Option<WorkflowRecord>> {
        self.reads.read(move |db| read(db, id)).await
    }

    async fn parent_results(&self, id: JobId) -> Result<Vec<ParentResult>> {
        self.reads.read(move |db| parent_results(db, id)).await
    }

    async fn workflows(
        &self,
        limit: u32,
        before: Option<i64>,
        tenant: &str,
    ) -> Result<Vec<WorkflowBrief>> {
        let tenant = tenant.to_string();
        self.reads.read(move |db| list(db, limit, before, &tenant)).await
    }
}

/// Accepts a submission with `after`: refused before anything is written if the plan is.
pub(super) fn submit(
    db: &Connection,
    jobs: &[NewJob],
    limits: WorkflowLimits,
    changes: &mut Changes,
) -> Result<Vec<(JobId, JobState)>> {
    super::jobs::unknown_module(db, jobs)?;
    let ids = serde_json::to_string(&existing_parents(jobs)).expect("integers serialise");
    let mut found = HashMap::new();
    let mut statement = db.prepare_cached(PARENT_ROWS)?;
    let mut rows = statement.query([ids])?;
    while let Some(row) = rows.next()? {
        let parent = ParentRow {
            state: rows::state(&row.get::<_, String>(1)?)?,
            workflow: row.get(2)?,
            name: row.get(3)?,
            error: row.get(4)?,
        };
        found.insert(row.get::<_, JobId>(0)?, parent);
    }
    let size = |id: i64| -> Result<(u64, u64)> {
        let (jobs, edges): (i64, i64) = db
            .prepare_cached(WORKFLOW_SIZE)?
            .query_row([id], |row| Ok((row.get(0)?, row.get(1)?)))?;
        Ok((jobs as u64, edges as u64))
    };
    let plan = workflow::plan(jobs, &found, size, limits)?;
    let at = now();
    let workflow = match plan.workflow {
        Some(id) => id,
        None => db.prepare_cached(WORKFLOW_INSERT)?.query_row([at], |row| row.get(0))?,
    };
    if !plan.adopted.is_empty() {
        let adopted = serde_json::to_string(&plan.adopted).expect("integers serialise");
        db.prepare_cached(WORKFLOW_ADOPT)?.execute(params![workflow, adopted])?;
    }
    let columns: Vec<JobColumns<'_>> = jobs
        .iter()
        .zip(&plan.jobs)
        .map(|(job, planned)| JobColumns::planned(job, workflow, planned))
        .collect();
    let mut accepted = Vec::with_capacity(jobs.len());
    for chunk in columns.chunks(super::jobs::INSERT_CHUNK) {
        accepted.extend(insert_rows(db, chunk, at, changes)?);
    }
    let edges: Vec<[JobId; 2]> = plan
        .edges
        .iter()
        .map(|&(parent, child)| {
            let parent = match parent {
                Parent::Job(id) => id,
                Parent::Batch(index) => accepted[index].0,
            };
            [parent, accepted[child].0]
        })
        .collect();
    let edges = serde_json::to_string(&edges).expect("integers serialise");
    db.prepare_cached(EDGES_INSERT)?.execute([edges])?;
    for ((id, state), job) in accepted.iter().zip(jobs) {
        if job.params_from_parents {
            let order = workflow::parent_order(job, &accepted);
            db.prepare_cached(PARAM_PARENTS)?.execute(params![id, order])?;
        }
        if *state == JobState::Queued {
            from_parents(db, *id, job.stdin_from_parents, job.params_from_parents)?;
        }
    }
    Ok(accepted)
}

/// Writes a job's parents' results as its stdin and, or, its call's parameters (it asked for
/// them, and is being queued).
fn from_parents(db: &Connection, id: JobId, stdin: bool, params: bool) -> Result<()> {
    if !stdin && !params {
        return Ok(());
    }
    let parents = parent_results(db, id)?;
    if params {
        let order: Option<String> =
            db.prepare_cached(PARAM_PARENTS_OF)?.query_row([id], |row| row.get(0))?;
        let values = workflow::parents_params(&order.unwrap_or_default(), &parents);
        db.prepare_cached(SET_PARAMS)?.execute(params![id, values])?;
    }
    if stdin {
        db.prepare_cached(SET_STDIN)?.execute(params![id, parents_stdin(parents)])?;
    }
    Ok(())
}

/// The results of job `id`'s parents, in id order.
fn parent_results(db: &Connection, id: JobId) -> Result<Vec<ParentResult>> {
    let rows = db
        .prepare_cached(PARENT_RESULTS)?
        .query_map([id], |row| {
            Ok((
                row.get::<_, JobId>(0)?,
                row.get::<_, Option<String>>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, Option<i64>>(3)?,
                row.get::<_, Option<Vec<u8>>>(4)?,
                row.get::<_, Option<String>>(5)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|(id, name, state, exit_code, stdout, result)| {
            let state = rows::state(&state)?;
            Ok(ParentResult {
                id,
                name,
                state,
                exit_code,
                stdout: stdout.unwrap_or_default(),
                result,
            })
        })
        .collect()
}

/// The children of jobs that just ended (`ended`), in the transaction that ended them: each
/// waiting child counts its parents that ended, and is queued when none is left or ended when
/// a parent failed (then its own children follow, level by level).
pub(super) fn ended(db: &Connection, ended: Vec<JobId>, changes: &mut Changes) -> Result<()> {
    let mut ended = ended;
    let at = now();
    while !ended.is_empty() {
        let ids = serde_json::to_string(&ended).expect("integers serialise");
        let changed = db
            .prepare_cached(CHILDREN)?
            .query_map(params![ids, at], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })?
            .collect::<rusqlite::Result<Vec<(JobId, String, bool, bool)>>>()?;
        ended.clear();
        for (id, state, stdin, params) in changed {
            let state = rows::state(&state)?;
            if state == JobState::Queued {
                from_parents(db, id, stdin, params)?;
            }
            if state != JobState::Waiting {
                changes.moved(id, Some(JobState::Waiting), state);
            }
            if state.is_terminal() {
                ended.push(id);
            }
        }
    }
    Ok(())
}

/// Runs a workflow's jobs that did not succeed again; `None` if there is no such workflow.
fn retry(
    db: &Connection,
    id: i64,
    changes: &mut Changes,
) -> Result<Option<Vec<(JobId, JobState)>>> {
    if db.prepare_cached(WORKFLOW)?.query_row([id], |_| Ok(())).optional()?.is_none() {
        return Ok(None);
    }
    let at = now();
    let mut changed = Vec::new();
    for was in JobState::RETRYABLE {
        let rows = db
            .prepare_cached(WORKFLOW_RETRY)?
            .query_map(params![id, at, was.as_str()], |row| {
                Ok((row.get::<_, JobId>(0)?, row.get::<_, String>(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        for (job, state) in rows {
            let state = rows::state(&state)?;
            changes.moved(job, Some(was), state);
            changed.push((job, was));
        }
    }
    Ok(Some(changed))
}

fn read(db: &Connection, id: i64) -> Result<Option<WorkflowRecord>> {
    let Some(created_at) =
        db.prepare_cached(WORKFLOW)?.query_row([id], |row| row.get::<_, i64>(1)).optional()?
    else {
        return Ok(None);
    };
    let jobs = db
        .prepare_cached(WORKFLOW_JOBS)?
        .query_map([id], |row| {
            Ok((
                row.get::<_, JobId>(0)?,
                row.get::<_, Option<String>>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, Option<String>>(3)?,
                row.get::<_, Option<String>>(4)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let jobs = jobs
        .into_iter()
        .map(|(id, name, state, mode, error)| {
            Ok(WorkflowJobRecord {
                id,
                name,
                state: rows::state(&state)?,
                on_parent_failure: workflow::mode(mode.as_deref()),
                error,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let edges = db
        .prepare_cached(WORKFLOW_EDGES)?
        .query_map([id], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Some(WorkflowRecord { id, created_at: time(created_at), jobs, edges }))
}

fn list(
    db: &Connection,
    limit: u32,
    before: Option<i64>,
    tenant: &str,
) -> Result<Vec<WorkflowBrief>> {
    let rows = db
        .prepare_cached(WORKFLOWS)?
        .query_map(params![limit, before.unwrap_or(i64::MAX), tenant], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, Option<String>>(2)?,
                row.get::<_, i64>(3)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut briefs: Vec<WorkflowBrief> = Vec::new();
    for (id, created_at, state, n) in rows {
        if briefs.last().is_none_or(|brief| brief.id != id) {
            let counts = BTreeMap::new();
            briefs.push(WorkflowBrief { id, created_at: time(created_at), counts });
        }
        if let Some(state) = state {
            let brief = briefs.last_mut().expect("just pushed");
            brief.counts.insert(rows::state(&state)?, n.max(0) as u64);
        }
    }
    Ok(briefs)
}
