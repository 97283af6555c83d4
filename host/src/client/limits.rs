//! The client's calls of `/v1/rate-limits`.

use reqwest::Method;

use super::{Client, ClientError};
use crate::wire::{RateLimitSet, RateLimitView};

impl Client {
    /// The caller's tenant's rate limits, with their use.
    pub async fn rate_limits(&self) -> Result<Vec<RateLimitView>, ClientError> {
        self.json(self.request(Method::GET, self.url(&["rate-limits"]))).await
    }

    /// Sets one of the caller's tenant's rate limits.
    pub async fn set_rate_limit(
        &self,
        name: &str,
        limit: &RateLimitSet,
    ) -> Result<RateLimitView, ClientError> {
        let url = self.url(&["rate-limits", name]);
        self.json(self.request(Method::PUT, url).json(limit)).await
    }

    /// Deletes one of the caller's tenant's rate limits.
    pub async fn delete_rate_limit(&self, name: &str) -> Result<(), ClientError> {
        let url = self.url(&["rate-limits", name]);
        self.send(self.request(Method::DELETE, url)).await.map(drop)
    }
}
