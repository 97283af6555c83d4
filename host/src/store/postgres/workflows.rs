//! Workflows: a submission with `after` (its parents locked and read, the plan made, then
//! the workflow, jobs and edges written in one transaction), the release of children when
//! parents end (called by every transaction that ends jobs, before it commits), a
//! workflow's retry; and the reads of workflows.

use std::collections::{BTreeMap, HashMap};

use sqlx::{Postgres, Transaction};
use wasmpool_protocol::workflow::{Parent, WorkflowLimits};

use super::PgStore;
use super::jobs::insert_rows;
use crate::store::backend::Workflows;
use crate::store::changes::Changes;
use crate::store::new_job::JobColumns;
use crate::store::rows::{self, time};
use crate::store::workflow::{
    self, ParentResult, ParentRow, WorkflowBrief, WorkflowJobRecord, WorkflowRecord,
    existing_parents, parents_stdin,
};
use crate::store::{JobId, JobState, NewJob, Result, StoreError};

const MODULES_KNOWN: &str = include_str!("sql/modules_known.sql");
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
const WORKFLOW_LOCK: &str = include_str!("sql/workflow_lock.sql");
const WORKFLOW_RETRY: &str = include_str!("sql/workflow_retry.sql");
const PARENT_RESULTS: &str = include_str!("sql/parent_results.sql");
const SET_STDIN: &str = include_str!("sql/set_stdin.sql");
const PARAM_PARENTS: &str = include_str!("sql/param_parents.sql");
const PARAM_PARENTS_OF: &str = include_str!("sql/param_parents_of.sql");
const SET_PARAMS: &str = include_str!("sql/set_params.sql");

type ParentTuple = (i64, String, Option<i64>, Option<String>, Option<String>);
type JobTuple = (i64, Option<String>, String, Option<String>, Option<String>);

impl Workflows for PgStore {
    async fn submit_workflow(
        &self,
        jobs: Vec<NewJob>,
        limits: WorkflowLimits,
    ) -> Result<Vec<(JobId, JobState)>> {
        let mut tx = self.pool().begin().await?;
        let mut changes = Changes::default();
        let accepted = submit(&mut tx, &jobs, limits, &mut changes).await?;
        self.commit(tx, changes).await?;
        Ok(accepted)
    }

    async fn retry_workflow(&self, id: i64) -> Result<Option<Vec<(JobId, JobState)>>> {
        let mut tx = self.pool().begin().await?;
        let exists: Option<(i64, i64)> =
            sqlx::query_as(WORKFLOW).bind(id).fetch_optional(&mut *tx).await?;
        if exists.is_none() {
            return Ok(None);
        }
        sqlx::query(WORKFLOW_LOCK).bind(id).execute(&mut *tx).await?;
        let mut changes = Changes::default();
        let mut changed = Vec::new();
        for was in JobState::RETRYABLE {
            let rows: Vec<(i64, String)> = sqlx::query_as(WORKFLOW_RETRY)
                .bind(id)
                .bind(was.as_str())
                .fetch_all(&mut *tx)
                .await?;
            for (job, state) in rows {
                changes.became(job, rows::state(&state)?);
                changed.push((job, was));
            }
        }
        self.commit(tx, changes).await?;
        self.forget_counts();
        Ok(Some(changed))
    }

    async fn workflow(&self, id: i64) -> Result<Option<WorkflowRecord>> {
        let mut tx = self.pool().begin().await?;
        let Some((_, created_at)): Option<(i64, i64)> =
            sqlx::query_as(WORKFLOW).bind(id).fetch_optional(&mut *tx).await?
        else {
            return Ok(None);
        };
        let found: Vec<JobTuple> =
            sqlx::query_as(WORKFLOW_JOBS).bind(id).fetch_all(&mut *tx).await?;
        let jobs = found
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
        let edges: Vec<(i64, i64)> =
            sqlx::query_as(WORKFLOW_EDGES).bind(id).fetch_all(&mut *tx).await?;
        tx.commit().await?;
        Ok(Some(WorkflowRecord { id, created_at: time(created_at), jobs, edges }))
    }

    async fn parent_results(&self, id: JobId) -> Result<Vec<ParentResult>> {
        let found: Vec<ResultTuple> =
            sqlx::query_as(PARENT_RESULTS).bind(id).fetch_all(self.pool()).await?;
        parent_results(found)
    }

    async fn workflows(
        &self,
        limit: u32,
        before: Option<i64>,
        tenant: &str,
    ) -> Result<Vec<WorkflowBrief>> {
        let found: Vec<(i64, i64, Option<String>, i64)> = sqlx::query_as(WORKFLOWS)
            .bind(i64::from(limit))
            .bind(before.unwrap_or(i64::MAX))
            .bind(tenant)
            .fetch_all(self.pool())
            .await?;
        let mut briefs: Vec<WorkflowBrief> = Vec::new();
        for (id, created_at, state, n) in found {
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
}

/// Accepts a submission with `after` in `tx`: refused before anything is written if the plan
/// is.
pub(super) async fn submit(
    tx: &mut Transaction<'_, Postgres>,
    jobs: &[NewJob],
    limits: WorkflowLimits,
    changes: &mut Changes,
) -> Result<Vec<(JobId, JobState)>> {
    let mut modules: Vec<&str> = jobs.iter().map(|job| job.module_hash.as_str()).collect();
    modules.sort_unstable();
    modules.dedup();
    let known: Vec<String> =
        sqlx::query_scalar(MODULES_KNOWN).bind(&modules).fetch_all(&mut **tx).await?;
    if let Some(missing) = modules.iter().find(|hash| !known.iter().any(|k| k == *hash)) {
        return Err(StoreError::UnknownModule(missing.to_string()));
    }
    let parents: Vec<ParentTuple> =
        sqlx::query_as(PARENT_ROWS).bind(existing_parents(jobs)).fetch_all(&mut **tx).await?;
    let mut found = HashMap::new();
    for (id, state, workflow, name, error) in parents {
        found.insert(id, ParentRow { state: rows::state(&state)?, workflow, name, error });
    }
    let size = match found.values().find_map(|parent| parent.workflow) {
        Some(id) => {
            let (jobs, edges): (i64, i64) =
                sqlx::query_as(WORKFLOW_SIZE).bind(id).fetch_one(&mut **tx).await?;
            Some((jobs as u64, edges as u64))
        }
        None => None,
    };
    let plan = workflow::plan(jobs, &found, |_| Ok(size.unwrap_or_default()), limits)?;
    let workflow = match plan.workflow {
        Some(id) => id,
        None => sqlx::query_scalar(WORKFLOW_INSERT).fetch_one(&mut **tx).await?,
    };
    if !plan.adopted.is_empty() {
        sqlx::query(WORKFLOW_ADOPT).bind(workflow).bind(&plan.adopted).execute(&mut **tx).await?;
    }
    let columns: Vec<JobColumns<'_>> = jobs
        .iter()
        .zip(&plan.jobs)
        .map(|(job, planned)| JobColumns::planned(job, workflow, planned))
        .collect();
    let accepted = insert_rows(tx, &columns, changes).await?;
    let (parents, children): (Vec<JobId>, Vec<JobId>) = plan
        .edges
        .iter()
        .map(|&(parent, child)| {
            let parent = match parent {
                Parent::Job(id) => id,
                Parent::Batch(index) => accepted[index].0,
            };
            (parent, accepted[child].0)
        })
        .unzip();
    sqlx::query(EDGES_INSERT).bind(parents).bind(children).execute(&mut **tx).await?;
    for ((id, state), job) in accepted.iter().zip(jobs) {
        if job.params_from_parents {
            let order = workflow::parent_order(job, &accepted);
            sqlx::query(PARAM_PARENTS).bind(id).bind(order).execute(&mut **tx).await?;
        }
        if *state == JobState::Queued {
            from_parents(tx, *id, job.stdin_from_parents, job.params_from_parents).await?;
        }
    }
    Ok(accepted)
}

/// The children of jobs that just ended (`ended`), in the transaction that ended them: each
/// waiting child counts its parents that ended, and is queued when none is left or ended when
/// a parent failed (then its own children follow, level by level).
pub(super) async fn ended(
    tx: &mut Transaction<'_, Postgres>,
    ended: Vec<JobId>,
    changes: &mut Changes,
) -> Result<()> {
    let mut ended = ended;
    while !ended.is_empty() {
        let changed: Vec<(i64, String, bool, bool)> =
            sqlx::query_as(CHILDREN).bind(&ended).fetch_all(&mut **tx).await?;
        ended.clear();
        for (id, state, stdin, params) in changed {
            let state = rows::state(&state)?;
            if state == JobState::Queued {
                from_parents(tx, id, stdin, params).await?;
            }
            if state != JobState::Waiting {
                changes.became(id, state);
            }
            if state.is_terminal() {
                ended.push(id);
            }
        }
    }
    Ok(())
}

type ResultTuple = (i64, Option<String>, String, Option<i64>, Option<Vec<u8>>, Option<String>);

/// Writes a job's parents' results as its stdin and, or, its call's parameters (it asked for
/// them, and is being queued).
async fn from_parents(
    tx: &mut Transaction<'_, Postgres>,
    id: JobId,
    stdin: bool,
    params: bool,
) -> Result<()> {
    if !stdin && !params {
        return Ok(());
    }
    let found: Vec<ResultTuple> =
        sqlx::query_as(PARENT_RESULTS).bind(id).fetch_all(&mut **tx).await?;
    let parents = parent_results(found)?;
    if params {
        let order: Option<String> =
            sqlx::query_scalar(PARAM_PARENTS_OF).bind(id).fetch_one(&mut **tx).await?;
        let values = workflow::parents_params(&order.unwrap_or_default(), &parents);
        sqlx::query(SET_PARAMS).bind(id).bind(values).execute(&mut **tx).await?;
    }
    if stdin {
        sqlx::query(SET_STDIN).bind(id).bind(parents_stdin(parents)).execute(&mut **tx).await?;
    }
    Ok(())
}

/// The parents' results as `parent_results.sql` read them.
fn parent_results(found: Vec<ResultTuple>) -> Result<Vec<ParentResult>> {
    found
        .into_iter()
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
