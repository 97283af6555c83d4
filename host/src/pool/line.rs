//! A driver's line of jobs on its worker (see `slot`): the job it runs, with its calls,
//! output and deadlines, and the jobs sent after it, and whether they are being taken back
//! or the running one stopped.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use tokio::time::Instant;

use super::host::{Caller, TaskHost};
use super::process::{Answer, Delivered, Live, answer_call};
use super::slot::{RECALL_AFTER, Stop};
use super::{Assignment, Shared, WorkerState};
use crate::job::TaskCall;

/// The job the worker runs.
pub(super) struct Current {
    pub(super) assignment: Assignment,
    pub(super) caller: Caller,
    pub(super) started: Instant,
    pub(super) started_at: SystemTime,
    /// When the worker is killed if it has not answered (the job's timeout and the grace).
    pub(super) hard_deadline: Option<Instant>,
    /// Passes its output on, and tells the sink of its end when dropped.
    pub(super) live: Option<Live>,
    /// Its calls not answered yet, oldest first, and the one being answered.
    pub(super) calls: VecDeque<(u64, TaskCall)>,
    pub(super) answering: Option<(u64, Answering)>,
    /// The last queue item handed to it, until it shows it used it.
    pub(super) delivered: Option<Delivered>,
    /// Whether it ran [`RECALL_AFTER`] already (and the pool knows jobs turned long).
    pub(super) long: bool,
}

type Answering = Pin<Box<dyn Future<Output = Answer> + Send>>;

impl Current {
    pub(super) fn start(assignment: Assignment, shared: &Shared) -> Current {
        let caller = Caller { job_id: assignment.job.id.clone(), attempt: assignment.job.attempt };
        let started = Instant::now();
        let started_at = SystemTime::now();
        assignment.reply.started(started_at);
        let timeout = assignment.job.limits.timeout;
        Current {
            hard_deadline: timeout.map(|limit| started + limit + shared.config.grace),
            live: shared.config.output.clone().map(|sink| Live::start(sink, &caller)),
            caller,
            started,
            started_at,
            assignment,
            calls: VecDeque::new(),
            answering: None,
            delivered: None,
            long: false,
        }
    }

    /// Starts answering the oldest call if none is being answered.
    pub(super) fn answer_next(&mut self, host: &Arc<dyn TaskHost>) {
        if self.answering.is_some() {
            return;
        }
        let Some((call, request)) = self.calls.pop_front() else { return };
        let remaining = self
            .assignment
            .job
            .limits
            .timeout
            .map(|limit| (self.started + limit).saturating_duration_since(Instant::now()));
        let answer = answer_call(host.clone(), self.caller.clone(), request, remaining);
        self.answering = Some((call, Box::pin(answer)));
    }
}

/// A driver's line of jobs on its worker.
#[derive(Default)]
pub(super) struct Line {
    pub(super) current: Option<Current>,
    /// Sent after the current one, in order.
    pub(super) waiting: VecDeque<Assignment>,
    /// A recall was sent and not answered yet: nothing more is sent until it is.
    pub(super) recalling: bool,
    /// The running job is to be stopped once the jobs behind it are back.
    pub(super) stopping: Option<Stopping>,
}

/// A job to stop by killing its worker, once the jobs waiting behind it have been taken
/// back: the worker may have finished it and started the next meanwhile, and killing it must
/// stop this job and no other.
pub(super) struct Stopping {
    pub(super) job_id: String,
    pub(super) stop: Stop,
    /// Killed at this time even without an answer.
    pub(super) deadline: Instant,
}

impl Line {
    /// Counts the first job sent as running once none runs (the worker starts it as soon
    /// as it has sent the result of the one before).
    pub(super) fn start_next(&mut self, slot: usize, pid: u32, shared: &Shared) {
        if self.current.is_none()
            && let Some(next) = self.waiting.pop_front()
        {
            let current = Current::start(next, shared);
            let job_id = current.caller.job_id.clone();
            shared.set_worker(slot, pid, WorkerState::Busy { job_id, since: current.started_at });
            self.current = Some(current);
        }
    }

    /// Whether to send the worker another job ahead of the one it runs: while the line has
    /// room, no other worker is idle, and the running job is not one that runs long.
    pub(super) fn may_send_ahead(&self, shared: &Shared) -> bool {
        let ahead = self.waiting.len().saturating_sub(usize::from(self.current.is_none()));
        !self.recalling
            && self.stopping.is_none()
            && !self.current.as_ref().is_some_and(|current| current.long)
            && ahead < shared.pace.depth()
            && shared.idle.load(Ordering::Relaxed) == 0
    }

    /// The stop to carry out now that the jobs behind the job being stopped are back: none if
    /// that job ended meanwhile (its result came first).
    pub(super) fn stop_due(&mut self) -> Option<Stop> {
        if self.recalling {
            return None;
        }
        let stopping = self.stopping.take()?;
        let current = self.current.as_ref()?;
        (current.caller.job_id == stopping.job_id).then_some(stopping.stop)
    }

    /// When the current job counts as running long: the pool learns that jobs turned long,
    /// and the jobs waiting behind it are taken back.
    pub(super) fn long_at(&self) -> Option<Instant> {
        self.current
            .as_ref()
            .filter(|current| !current.long)
            .map(|current| current.started + RECALL_AFTER)
    }
}
