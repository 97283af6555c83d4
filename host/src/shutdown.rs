//! The service's shutdown as one tree of tokens, nested in the order the drain needs: the
//! parts that must stop first are the innermost, so the drain cancels from the leaves up,
//! and cancelling any level stops everything inside it as well.
//!
//! ```text
//! root        the HTTP server, event streams, live output, the worker pools  (stops last)
//! └─ members  this host's part in the cluster: heartbeats, rescues            (stops second)
//!    └─ work  claiming (the dispatchers), the scheduler, the purge            (stops first)
//! ```
//!
//! The drain: `work` is cancelled when the service is told to stop — no new job is claimed
//! or made while the running ones finish (the dispatchers' drain); then `members`, once the
//! jobs ended and were recorded, so the host leaves the cluster with nothing held; then the
//! root, so the API answers (503 to submissions) until the host has left.

use tokio_util::sync::CancellationToken;

/// The tokens of one service's shutdown.
#[derive(Clone, Debug)]
pub struct Shutdown {
    root: CancellationToken,
    members: CancellationToken,
    work: CancellationToken,
}

impl Default for Shutdown {
    fn default() -> Self {
        let root = CancellationToken::new();
        let members = root.child_token();
        let work = members.child_token();
        Shutdown { root, members, work }
    }
}

impl Shutdown {
    /// Claiming, scheduling and purging: cancelled first, when the drain begins.
    pub fn work(&self) -> &CancellationToken {
        &self.work
    }

    /// The cluster membership: cancelled once the dispatchers have drained.
    pub fn members(&self) -> &CancellationToken {
        &self.members
    }

    /// Everything else — HTTP, events, live output, pools: cancelled last.
    pub fn root(&self) -> &CancellationToken {
        &self.root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_level_stops_what_is_inside_it_and_nothing_outside() {
        let tree = Shutdown::default();
        tree.work().cancel();
        assert!(tree.work().is_cancelled());
        assert!(!tree.members().is_cancelled() && !tree.root().is_cancelled());
        let tree = Shutdown::default();
        tree.members().cancel();
        assert!(tree.work().is_cancelled() && !tree.root().is_cancelled());
        let tree = Shutdown::default();
        let pool = tree.root().child_token();
        tree.root().cancel();
        assert!(tree.work().is_cancelled() && tree.members().is_cancelled());
        assert!(pool.is_cancelled());
    }
}
