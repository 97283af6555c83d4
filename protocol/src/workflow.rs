//! Jobs that run after other jobs: how a submission names a job's parents (`after`), the
//! check of a batch's graph (every name known, no cycle, within the service's maxima), and
//! the JSON shapes of a workflow. Pure: the store decides what existing parents mean.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::job::JobState;
use crate::validate::Refused;

/// What a job that runs after others does when one of them fails (ends `failed`,
/// `timed_out` or `cancelled`, its attempts spent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ParentFailure {
    /// It ends `cancelled`, with an error naming the parent that failed, and so do the jobs
    /// waiting on it (the default).
    #[default]
    Cancel,
    /// It runs anyway once every parent has ended (a cleanup or error handler).
    Run,
    /// It ends `skipped`, which counts as done for its own children.
    Skip,
}

impl ParentFailure {
    /// The mode's name as it appears in JSON and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            ParentFailure::Cancel => "cancel",
            ParentFailure::Run => "run",
            ParentFailure::Skip => "skip",
        }
    }
}

impl std::str::FromStr for ParentFailure {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        [ParentFailure::Cancel, ParentFailure::Run, ParentFailure::Skip]
            .into_iter()
            .find(|mode| mode.as_str() == text)
            .ok_or_else(|| format!("unknown on_parent_failure `{text}` (cancel, run or skip)"))
    }
}

/// Whether a job that ended so counts as done for the jobs that run after it: it
/// succeeded, or was skipped. Any other end is a parent's failure.
pub fn releases_children(state: JobState) -> bool {
    matches!(state, JobState::Succeeded | JobState::Skipped)
}

/// A parent a submission names: an existing job's id, or the `name` of a job in the same
/// batch. An id may be written as a float with no fraction, as every integer of a
/// submission may.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(untagged)]
pub enum After {
    /// An existing job's id.
    Job(i64),
    /// The `name` of a job in the same batch.
    Name(String),
}

impl<'de> Deserialize<'de> for After {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(AfterVisitor)
    }
}

struct AfterVisitor;

impl serde::de::Visitor<'_> for AfterVisitor {
    type Value = After;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a job id (an integer) or a job's name (a string)")
    }

    fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<After, E> {
        Ok(After::Job(value))
    }

    fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<After, E> {
        i64::try_from(value).map(After::Job).map_err(|_| E::custom("the job id is out of range"))
    }

    fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<After, E> {
        if value.fract() == 0.0 && value >= i64::MIN as f64 && value < i64::MAX as f64 {
            Ok(After::Job(value as i64))
        } else {
            Err(E::custom(format!("{value} is not a job id (an integer)")))
        }
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<After, E> {
        Ok(After::Name(value.to_string()))
    }
}

/// The schema of a submission's `after`: job ids (from 1) or names (not empty).
pub fn after_schema() -> utoipa::openapi::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Type};
    let id = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::Int64,
        )))
        .minimum(Some(1))
        .description(Some("an existing job's id"));
    let name = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .description(Some("the `name` of a job of the same batch"));
    ArrayBuilder::new()
        .items(OneOfBuilder::new().item(id).item(name))
        .description(Some(
            "Run after these jobs have ended: each an existing job's id, or (in a batch) the \
             `name` of a job of the same batch. The job waits (`waiting`) until then.",
        ))
        .build()
}

/// A parent of a new job as the store takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Parent {
    /// An existing job.
    Job(i64),
    /// The job at this index of the same submission.
    Batch(usize),
}

/// The most jobs and edges (parent–child pairs) one workflow may hold (`serve
/// --max-workflow-jobs`, `--max-workflow-edges`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkflowLimits {
    /// Jobs in one workflow.
    pub max_jobs: u64,
    /// Edges in one workflow.
    pub max_edges: u64,
}

impl Default for WorkflowLimits {
    fn default() -> Self {
        WorkflowLimits { max_jobs: 20_000, max_edges: 100_000 }
    }
}

/// One job of a batch as the graph check sees it.
pub struct Node<'a> {
    /// Its `name`.
    pub name: Option<&'a str>,
    /// Its `after`.
    pub after: &'a [After],
}

/// Resolves every job's `after` to parents (names to batch indices, a parent named twice
/// counted once) and checks the graph: each name names exactly one job of the batch, ids
/// are positive, there is no cycle (the refusal names its jobs), and the edges are within
/// `limits`. Refusals name the job as `jobs[i]`.
pub fn resolve(nodes: &[Node<'_>], limits: WorkflowLimits) -> Result<Vec<Vec<Parent>>, Refused> {
    let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
    for (index, node) in nodes.iter().enumerate() {
        if let Some(name) = node.name {
            by_name.entry(name).or_default().push(index);
        }
    }
    let mut parents = Vec::with_capacity(nodes.len());
    let mut edges = 0u64;
    for (index, node) in nodes.iter().enumerate() {
        let mut found = Vec::with_capacity(node.after.len());
        for after in node.after {
            let parent = match after {
                After::Job(id) if *id >= 1 => Parent::Job(*id),
                After::Job(id) => {
                    return Err(Refused(format!("jobs[{index}].after: {id} is not a job id")));
                }
                After::Name(name) => match by_name.get(name.as_str()).map(Vec::as_slice) {
                    Some([one]) => Parent::Batch(*one),
                    Some(_) => {
                        return Err(Refused(format!(
                            "jobs[{index}].after: several jobs of the batch are named `{name}`"
                        )));
                    }
                    None => {
                        return Err(Refused(format!(
                            "jobs[{index}].after: no job of the batch is named `{name}` (an \
                             existing job is named by its id)"
                        )));
                    }
                },
            };
            if !found.contains(&parent) {
                found.push(parent);
            }
        }
        edges += found.len() as u64;
        parents.push(found);
    }
    if edges > limits.max_edges {
        return Err(Refused(format!(
            "the workflow has {edges} edges; at most {} are allowed",
            limits.max_edges
        )));
    }
    if nodes.len() as u64 > limits.max_jobs && edges > 0 {
        return Err(Refused(format!(
            "the workflow has {} jobs; at most {} are allowed",
            nodes.len(),
            limits.max_jobs
        )));
    }
    if let Some(cycle) = cycle(&parents) {
        let named: Vec<String> = cycle
            .iter()
            .map(|&i| match nodes[i].name {
                Some(name) => format!("`{name}`"),
                None => format!("jobs[{i}]"),
            })
            .collect();
        return Err(Refused(format!("the jobs' `after` form a cycle: {}", named.join(" → "))));
    }
    Ok(parents)
}

/// A cycle among the batch's jobs, as the indices along it with the first repeated at the
/// end, if there is one (an iterative depth-first search: a batch may be thousands deep).
fn cycle(parents: &[Vec<Parent>]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let batch = |list: &Vec<Parent>| -> Vec<usize> {
        list.iter()
            .filter_map(|p| match p {
                Parent::Batch(i) => Some(*i),
                Parent::Job(_) => None,
            })
            .collect()
    };
    let mut marks = vec![Mark::New; parents.len()];
    for start in 0..parents.len() {
        if marks[start] != Mark::New {
            continue;
        }
        let mut path: Vec<(usize, Vec<usize>)> = vec![(start, batch(&parents[start]))];
        marks[start] = Mark::OnPath;
        while let Some((node, next)) = path.last_mut() {
            match next.pop() {
                Some(parent) if marks[parent] == Mark::OnPath => {
                    let from = path.iter().position(|(n, _)| *n == parent).expect("on the path");
                    let mut cycle: Vec<usize> = path[from..].iter().map(|(n, _)| *n).collect();
                    // The path runs child → parent; a cycle reads parent → child.
                    cycle.reverse();
                    cycle.push(cycle[0]);
                    return Some(cycle);
                }
                Some(parent) if marks[parent] == Mark::New => {
                    marks[parent] = Mark::OnPath;
                    let next = batch(&parents[parent]);
                    path.push((parent, next));
                }
                Some(_) => {}
                None => {
                    marks[*node] = Mark::Done;
                    path.pop();
                }
            }
        }
    }
    None
}

/// A workflow's state, derived from its jobs: `running` while any has not ended, then
/// `failed` if any failed or timed out, `cancelled` if any was cancelled, else `succeeded`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorkflowState {
    /// Some job has not ended.
    Running,
    /// Every job succeeded or was skipped.
    Succeeded,
    /// Every job ended, and one failed or timed out.
    Failed,
    /// Every job ended, none failed, and one was cancelled.
    Cancelled,
}

impl WorkflowState {
    /// The state of a workflow whose jobs are in `states`.
    pub fn of(states: impl IntoIterator<Item = JobState>) -> WorkflowState {
        let (mut failed, mut cancelled) = (false, false);
        for state in states {
            match state {
                JobState::Waiting | JobState::Queued | JobState::Running => {
                    return WorkflowState::Running;
                }
                JobState::Failed | JobState::TimedOut => failed = true,
                JobState::Cancelled => cancelled = true,
                JobState::Succeeded | JobState::Skipped => {}
            }
        }
        match (failed, cancelled) {
            (true, _) => WorkflowState::Failed,
            (false, true) => WorkflowState::Cancelled,
            (false, false) => WorkflowState::Succeeded,
        }
    }
}

/// A job of a workflow, as the workflow shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WorkflowJob {
    /// The job's id.
    pub id: i64,
    /// Its name, if given.
    pub name: Option<String>,
    /// Its state.
    pub state: JobState,
    /// What it does when a parent fails.
    pub on_parent_failure: ParentFailure,
    /// The ids of the jobs it runs after.
    pub after: Vec<i64>,
    /// Why it did not succeed.
    pub error: Option<String>,
}

/// A workflow: its jobs (in id order) with their parents, its edges and its state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WorkflowView {
    /// The workflow's id.
    pub id: i64,
    /// Derived from its jobs' states.
    pub state: WorkflowState,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// Its jobs, in id order.
    pub jobs: Vec<WorkflowJob>,
    /// Its edges, as `[parent, child]` job ids.
    pub edges: Vec<[i64; 2]>,
}

/// A workflow in a listing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WorkflowSummary {
    /// The workflow's id.
    pub id: i64,
    /// Derived from its jobs' states.
    pub state: WorkflowState,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// How many of its jobs are in each state (states with none left out).
    pub counts: std::collections::BTreeMap<JobState, u64>,
}

/// A page of workflows, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WorkflowPage {
    /// The workflows.
    pub workflows: Vec<WorkflowSummary>,
}

/// What a workflow's cancel or retry changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WorkflowChanged {
    /// The workflow's id.
    pub id: i64,
    /// The jobs it changed.
    pub changed: u64,
    /// The workflow as it is now.
    pub state: WorkflowState,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node<'a>(name: &'a str, after: &'a [After]) -> Node<'a> {
        Node { name: Some(name), after }
    }

    #[test]
    fn names_resolve_to_indices_and_ids_stay() {
        let a = [];
        let b = [After::Name("a".into()), After::Job(7), After::Name("a".into())];
        let parents = resolve(&[node("a", &a), node("b", &b)], WorkflowLimits::default());
        assert_eq!(parents.unwrap(), vec![vec![], vec![Parent::Batch(0), Parent::Job(7)]]);
    }

    #[test]
    fn a_cycle_is_refused_naming_its_jobs() {
        let (a, b, c) =
            ([After::Name("c".into())], [After::Name("a".into())], [After::Name("b".into())]);
        let nodes = [node("a", &a), node("b", &b), node("c", &c)];
        let refused = resolve(&nodes, WorkflowLimits::default()).unwrap_err().0;
        assert!(refused.contains("cycle"), "{refused}");
        for name in ["`a`", "`b`", "`c`"] {
            assert!(refused.contains(name), "{refused}");
        }
        let own = [After::Name("x".into())];
        let refused = resolve(&[node("x", &own)], WorkflowLimits::default()).unwrap_err().0;
        assert!(refused.contains("`x` → `x`"), "{refused}");
    }

    #[test]
    fn unknown_and_ambiguous_names_and_limits_are_refused() {
        let after = [After::Name("nope".into())];
        let refused = resolve(&[node("a", &after)], WorkflowLimits::default()).unwrap_err().0;
        assert!(refused.contains("`nope`"), "{refused}");
        let (none, after) = ([], [After::Name("a".into())]);
        let nodes = [node("a", &none), node("a", &none), node("b", &after)];
        assert!(resolve(&nodes, WorkflowLimits::default()).unwrap_err().0.contains("several"));
        let nodes = [node("a", &none), node("b", &after)];
        let tight = WorkflowLimits { max_jobs: 10, max_edges: 0 };
        assert!(resolve(&nodes, tight).unwrap_err().0.contains("edges"));
        let tight = WorkflowLimits { max_jobs: 1, max_edges: 10 };
        assert!(resolve(&nodes, tight).unwrap_err().0.contains("jobs"));
    }

    #[test]
    fn a_workflow_state_follows_its_jobs() {
        use JobState::*;
        assert_eq!(WorkflowState::of([Succeeded, Waiting]), WorkflowState::Running);
        assert_eq!(WorkflowState::of([Succeeded, Skipped]), WorkflowState::Succeeded);
        assert_eq!(WorkflowState::of([Failed, Cancelled]), WorkflowState::Failed);
        assert_eq!(WorkflowState::of([Succeeded, Cancelled]), WorkflowState::Cancelled);
    }
}
