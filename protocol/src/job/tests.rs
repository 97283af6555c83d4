//! The rules of a job's states and outcomes, checked.

use super::*;

#[test]
fn cancel_and_retry_follow_the_transitions() {
    for state in JobState::ALL {
        assert_eq!(state.can_cancel(), state.can_become(JobState::Cancelled), "{state}");
        let retried = state.can_become(JobState::Queued)
            && !matches!(state, JobState::Running | JobState::Waiting);
        assert_eq!(state.can_retry(), retried, "{state}");
        assert_eq!(JobState::DELETABLE.contains(&state), state.is_terminal(), "{state}");
    }
}

#[test]
fn an_attempt_is_retried_only_when_it_failed_and_attempts_remain() {
    let failed = Outcome::Exited(3);
    assert_eq!(failed.next_state(1, 2), JobState::Queued);
    assert_eq!(failed.next_state(2, 2), JobState::Failed);
    assert_eq!(Outcome::TimedOut(Duration::from_secs(1)).next_state(1, 3), JobState::Queued);
    assert_eq!(Outcome::TimedOut(Duration::from_secs(1)).next_state(3, 3), JobState::TimedOut);
    assert_eq!(Outcome::Exited(0).next_state(1, 3), JobState::Succeeded);
    assert_eq!(Outcome::Cancelled.next_state(1, 3), JobState::Cancelled);
    assert!(!Outcome::Cancelled.retries(1, 3));
    assert_eq!(Outcome::WorkerDied("gone".into()).state(), JobState::Failed);
}

#[test]
fn states_round_trip_their_names() {
    for state in JobState::ALL {
        assert_eq!(state.as_str().parse::<JobState>(), Ok(state));
    }
    assert!("done".parse::<JobState>().is_err());
}
