//! The store's decisions about a job's state, in one place for both backends: which states a
//! cancel, retry or delete of one job applies to (the sets the bulk actions use too), and
//! what a finished attempt leaves its job in.

use super::{Cancel, Change, Finished, JobState};

/// `None` if a cancel applies to a job in `state` (queued or running); else the answer.
pub fn cancel_refused(state: JobState) -> Option<Cancel> {
    (!state.can_cancel()).then_some(Cancel::AlreadyEnded(state))
}

/// `None` if a retry applies to a job in `state` (failed, timed out or cancelled: a running
/// job may become queued, but only by its own attempt's end); else the answer.
pub fn retry_refused(state: JobState) -> Option<Change> {
    (!state.can_retry()).then_some(Change::Refused(state))
}

/// `None` if a delete applies to a job in `state` (ended); else the answer.
pub fn delete_refused(state: JobState) -> Option<Change> {
    (!JobState::DELETABLE.contains(&state)).then_some(Change::Refused(state))
}

impl Finished {
    /// The state the attempt leaves its job in: queued again when a retry was chosen,
    /// else the attempt's own end.
    pub fn next_state(&self) -> JobState {
        match self.retry_at {
            Some(_) => JobState::Queued,
            None => self.state,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sets say what `can_become` (with its `running` override) used to decide.
    #[test]
    fn the_sets_agree_with_the_transitions() {
        for state in JobState::ALL {
            let retry = state.can_become(JobState::Queued)
                && !matches!(state, JobState::Running | JobState::Waiting);
            assert_eq!(retry_refused(state).is_none(), retry, "{state}");
            assert_eq!(cancel_refused(state).is_none(), !state.is_terminal(), "{state}");
            assert_eq!(delete_refused(state).is_none(), state.is_terminal(), "{state}");
        }
    }
}
