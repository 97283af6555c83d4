//! The cluster, as one host sees it when it is the only one: always alive, never paused by
//! another, no other host to rescue or to tell about its lanes (the dispatcher holds the
//! pause itself).

use std::time::Duration;

use super::SqliteStore;
use crate::store::backend::Cluster;
use crate::store::{Beat, Heard, NodeRecord, Rescued, Result};

impl Cluster for SqliteStore {
    async fn heartbeat(&self, _beat: Beat) -> Result<Heard> {
        Ok(Heard { alive: true, ..Heard::default() })
    }

    async fn rejoin(&self) -> Result<()> {
        Ok(())
    }

    async fn rescue(&self, _lease: Duration) -> Result<Rescued> {
        Ok(Rescued::default())
    }

    async fn leave(&self) -> Result<()> {
        Ok(())
    }

    async fn nodes(&self) -> Result<Vec<NodeRecord>> {
        Ok(Vec::new())
    }

    async fn lanes_served(&self) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    async fn set_paused(&self, _paused: bool) -> Result<()> {
        Ok(())
    }
}
