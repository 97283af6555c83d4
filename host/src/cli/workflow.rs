//! `wasmpool workflow`: jobs that run after one another, submitted together from a file
//! (JSON or YAML), shown as a tree, cancelled or retried as one.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::remote::RemoteOptions;
use super::{UsageError, read_input};
use crate::wire::BatchRequest;
use wasmpool_protocol::workflow::{WorkflowJob, WorkflowView};

/// Submit, show, cancel or retry workflows: jobs that run after one another.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  wasmpool workflow submit pipeline.yaml      (prints the workflow's id)
  wasmpool workflow show 3                    (its jobs as a tree, with their states)
  wasmpool workflow cancel 3                  (every job of it that has not ended)
  wasmpool workflow retry 3                   (its failed jobs again; those below them wait)

A workflow file lists named jobs, each as `submit` takes it in JSON, with `after` naming
the jobs (by name) it runs after:
  jobs:
    - { name: build, module: compile, args: [src] }
    - { name: test, module: check, after: [build] }
    - { name: cleanup, module: tidy, after: [test], on_parent_failure: run }")]
pub struct WorkflowCommand {
    #[command(flatten)]
    pub(super) remote: RemoteOptions,
    #[command(subcommand)]
    action: WorkflowAction,
}

#[derive(Debug, Subcommand)]
enum WorkflowAction {
    /// Submit the jobs of a JSON or YAML file (`jobs:`, or a bare list) as one workflow;
    /// prints its id.
    Submit {
        /// The file (`-` for stdin).
        file: PathBuf,
    },
    /// Show a workflow's jobs as a tree, each with its state.
    Show {
        /// The workflow's id.
        id: i64,
    },
    /// Cancel every job of a workflow that has not ended.
    Cancel {
        /// The workflow's id.
        id: i64,
    },
    /// Run a workflow's failed, cancelled and skipped jobs again.
    Retry {
        /// The workflow's id.
        id: i64,
    },
}

impl WorkflowCommand {
    /// Submits, shows, cancels or retries.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        let batch = match &self.action {
            WorkflowAction::Submit { file } => Some(read_file(file)?),
            _ => None,
        };
        self.remote.run(async |client| {
            let id = match (&self.action, batch) {
                (WorkflowAction::Submit { .. }, Some(batch)) => {
                    let accepted = client.submit_batch(&batch).await?;
                    let first = accepted.jobs.first().map(|job| job.id).unwrap_or_default();
                    let job = client.job(first).await?;
                    let workflow = job.workflow.context("the service made no workflow")?;
                    if !self.remote.print_json(&client.workflow(workflow).await?)? {
                        println!("{workflow}");
                    }
                    return Ok(ExitCode::SUCCESS);
                }
                (WorkflowAction::Show { id }, _) => *id,
                (WorkflowAction::Cancel { id }, _) | (WorkflowAction::Retry { id }, _) => {
                    let action = if matches!(self.action, WorkflowAction::Cancel { .. }) {
                        "cancel"
                    } else {
                        "retry"
                    };
                    let changed = client.workflow_action(*id, action).await?;
                    if !self.remote.print_json(&changed)? {
                        let state = text_of(&changed.state);
                        println!("workflow {id}: {state} ({} jobs changed)", changed.changed);
                    }
                    return Ok(ExitCode::SUCCESS);
                }
                (WorkflowAction::Submit { .. }, None) => unreachable!("read above"),
            };
            let workflow = client.workflow(id).await?;
            if !self.remote.print_json(&workflow)? {
                super::write_stdout(tree(&workflow).as_bytes())?;
            }
            Ok(ExitCode::SUCCESS)
        })
    }
}

/// Reads a workflow file: `{"jobs": [...]}` or a bare list, as JSON or YAML (JSON is YAML,
/// but JSON's own parser gives the better message for a JSON file).
fn read_file(path: &std::path::Path) -> anyhow::Result<BatchRequest> {
    let bytes = if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)?;
        bytes
    } else {
        read_input(path)?
    };
    let text = String::from_utf8(bytes)
        .map_err(|_| UsageError(format!("{} is not UTF-8 text", path.display())))?;
    let json = text.trim_start().starts_with(['{', '[']);
    let value: serde_json::Value = if json {
        serde_json::from_str(&text).map_err(|e| UsageError(format!("{}: {e}", path.display())))?
    } else {
        serde_norway::from_str(&text).map_err(|e| UsageError(format!("{}: {e}", path.display())))?
    };
    let value = match value {
        serde_json::Value::Array(jobs) => serde_json::json!({ "jobs": jobs }),
        other => other,
    };
    let batch: BatchRequest = serde_json::from_value(value)
        .map_err(|e| UsageError(format!("{}: not a workflow file: {e}", path.display())))?;
    if batch.jobs.is_empty() {
        return Err(UsageError(format!("{} has no jobs", path.display())).into());
    }
    if batch.jobs.iter().all(|job| job.after.is_empty()) {
        // Refused before anything is submitted: a batch without edges is no workflow.
        return Err(UsageError(format!(
            "no job of {} runs after another (`after`): submit independent jobs with `submit`",
            path.display()
        ))
        .into());
    }
    Ok(batch)
}

/// A value's JSON text when it is a string (an enum's name).
fn text_of<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The workflow as a tree: each job under its first parent; a job with several parents
/// shows the others after its name, and is drawn once.
pub(super) fn tree(workflow: &WorkflowView) -> String {
    let mut text = format!(
        "workflow {}: {} ({} jobs)\n",
        workflow.id,
        text_of(&workflow.state),
        workflow.jobs.len()
    );
    let mut children: BTreeMap<i64, Vec<&WorkflowJob>> = BTreeMap::new();
    let mut roots = Vec::new();
    for job in &workflow.jobs {
        match job.after.first() {
            Some(parent) if workflow.jobs.iter().any(|j| j.id == *parent) => {
                children.entry(*parent).or_default().push(job)
            }
            _ => roots.push(job),
        }
    }
    let mut drawn = HashSet::new();
    let mut stack: Vec<(&WorkflowJob, String, bool)> =
        roots.iter().rev().enumerate().map(|(i, job)| (*job, String::new(), i == 0)).collect();
    while let Some((job, prefix, last)) = stack.pop() {
        if !drawn.insert(job.id) {
            continue;
        }
        let branch = if last { "└─ " } else { "├─ " };
        let name = job.name.as_deref().map(|name| format!(" {name}")).unwrap_or_default();
        let more: Vec<String> = job.after.iter().skip(1).map(|id| format!("#{id}")).collect();
        let also = if more.is_empty() {
            String::new()
        } else {
            format!(" (also after {})", more.join(", "))
        };
        let why = job.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default();
        let job_state = job.state.as_str();
        text.push_str(&format!("{prefix}{branch}#{}{name}{also}  {job_state}{why}\n", job.id));
        let below = format!("{prefix}{}", if last { "   " } else { "│  " });
        let kids = children.get(&job.id).map(Vec::as_slice).unwrap_or_default();
        for (i, kid) in kids.iter().enumerate().rev() {
            stack.push((kid, below.clone(), i == kids.len() - 1));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::JobState;
    use wasmpool_protocol::workflow::{ParentFailure, WorkflowState};

    fn job(id: i64, name: &str, state: JobState, after: &[i64]) -> WorkflowJob {
        WorkflowJob {
            id,
            name: Some(name.into()),
            state,
            on_parent_failure: ParentFailure::Cancel,
            after: after.to_vec(),
            error: None,
        }
    }

    #[test]
    fn a_diamond_is_drawn_as_a_tree() {
        let workflow = WorkflowView {
            id: 3,
            state: WorkflowState::Running,
            created_at: String::new(),
            jobs: vec![
                job(1, "a", JobState::Succeeded, &[]),
                job(2, "b", JobState::Running, &[1]),
                job(3, "c", JobState::Queued, &[1]),
                job(4, "d", JobState::Waiting, &[2, 3]),
            ],
            edges: vec![[1, 2], [1, 3], [2, 4], [3, 4]],
        };
        let expected = "workflow 3: running (4 jobs)\n\
                        └─ #1 a  succeeded\n   \
                           ├─ #2 b  running\n   \
                           │  └─ #4 d (also after #3)  waiting\n   \
                           └─ #3 c  queued\n";
        assert_eq!(tree(&workflow), expected);
    }
}
