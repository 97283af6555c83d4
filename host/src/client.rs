//! Typed HTTP client for a running wasmpool service (`wasmpool serve`): one method per `/v1`
//! route, returning the [`crate::wire`] types. Owns the server URL, the bearer token and
//! turning transport and HTTP failures into [`ClientError`]. It must not print or choose exit
//! codes; the client verbs in `cli` do that.

use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use serde::de::DeserializeOwned;

use crate::job::JobState;
use crate::wire::{
    Accepted, BatchAccepted, BatchRequest, BulkResult, DeleteResult, JobPage, JobRequest,
    JobSelector, JobView, ModulePatch, ModuleView, NodeView, PoolView, QueueItems, QueuePurged,
    QueueView, ScheduleList, SchedulePatch, ScheduleRequest, ScheduleView, TenantQuotas,
    TokenCreated, TokenRequest, TokenView,
};
use wasmpool_protocol::workflow::{WorkflowChanged, WorkflowView};

/// Bound on any one request, so a hung server cannot hang the caller for ever.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Uploads are compiled before the server answers, which takes a while for big modules.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(300);
/// The server caps `/wait` at this; a request never needs to outlive it by more than
/// [`REQUEST_TIMEOUT`].
const SERVER_WAIT_CAP: Duration = Duration::from_secs(60);

mod error;
mod limits;
pub use error::{ClientError, parse_server, root_cause};
use error::{api_error, is_loopback};

/// Which jobs [`Client::jobs`] lists; every field narrows the list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// The filters (state, module, node, …).
    pub select: JobSelector,
    /// At most this many jobs (the server has its own default and maximum).
    pub limit: Option<u32>,
    /// Continue after a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// A client for one wasmpool service. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    base: Url,
    token: Option<String>,
    http: reqwest::Client,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Client {
    /// A client for the service at `server` (`http://` only), sending `token` if given.
    pub fn new(server: &str, token: Option<String>) -> Result<Client, ClientError> {
        let base = parse_server(server)?;
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("wasmpool/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10));
        // A proxy from HTTP_PROXY cannot reach this machine's loopback on our behalf.
        if is_loopback(&base) {
            builder = builder.no_proxy();
        }
        let http = builder
            .build()
            .map_err(|source| ClientError::Unreachable { server: base.to_string(), source })?;
        Ok(Client { base, token: token.filter(|token| !token.is_empty()), http })
    }

    /// Uploads a `.wasm` module, optionally under a name; 201 if new, 200 if already there.
    pub async fn upload(
        &self,
        bytes: Vec<u8>,
        name: Option<&str>,
    ) -> Result<ModuleView, ClientError> {
        self.upload_capped(bytes, name, None).await
    }

    /// [`Client::upload`], also setting the module's cap on jobs running at once.
    pub async fn upload_capped(
        &self,
        bytes: Vec<u8>,
        name: Option<&str>,
        max_running: Option<u32>,
    ) -> Result<ModuleView, ClientError> {
        let mut url = self.url(&["modules"]);
        if let Some(name) = name {
            url.query_pairs_mut().append_pair("name", name);
        }
        if let Some(cap) = max_running {
            url.query_pairs_mut().append_pair("max_running", &cap.to_string());
        }
        let request = self
            .request(Method::POST, url)
            .header(reqwest::header::CONTENT_TYPE, "application/wasm")
            .timeout(UPLOAD_TIMEOUT)
            .body(bytes);
        self.json(request).await
    }

    /// One module, by hash or name.
    pub async fn module(&self, id: &str) -> Result<ModuleView, ClientError> {
        self.json(self.request(Method::GET, self.url(&["modules", id]))).await
    }

    /// What a module exports: whether it is a command, and its functions' types.
    pub async fn exports(&self, id: &str) -> Result<crate::call::Exports, ClientError> {
        self.json(self.request(Method::GET, self.url(&["modules", id, "exports"]))).await
    }

    /// Every module.
    pub async fn modules(&self) -> Result<Vec<ModuleView>, ClientError> {
        self.json(self.request(Method::GET, self.url(&["modules"]))).await
    }

    /// Sets a module's cap on jobs running at once across the cluster (`None`: no cap).
    pub async fn set_max_running(
        &self,
        id: &str,
        max_running: Option<u32>,
    ) -> Result<ModuleView, ClientError> {
        let patch = ModulePatch { max_running: Some(max_running) };
        self.json(self.request(Method::PATCH, self.url(&["modules", id])).json(&patch)).await
    }

    /// Deletes a module (refused with 409 while queued jobs use it).
    pub async fn delete_module(&self, id: &str) -> Result<(), ClientError> {
        self.send(self.request(Method::DELETE, self.url(&["modules", id]))).await.map(drop)
    }

    /// Submits a job; the same `idempotency_key` twice yields the same job.
    pub async fn submit(
        &self,
        job: &JobRequest,
        idempotency_key: Option<&str>,
    ) -> Result<Accepted, ClientError> {
        let mut request = self.request(Method::POST, self.url(&["jobs"])).json(job);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        self.json(request).await
    }

    /// Submits several jobs at once: all are accepted, or none.
    pub async fn submit_batch(&self, batch: &BatchRequest) -> Result<BatchAccepted, ClientError> {
        self.json(self.request(Method::POST, self.url(&["jobs", "batch"])).json(batch)).await
    }

    /// A job as it stands.
    pub async fn job(&self, id: i64) -> Result<JobView, ClientError> {
        self.json(self.request(Method::GET, self.url(&["jobs", &id.to_string()]))).await
    }

    /// The job once it has ended, or as it stands when `timeout` passes (the server caps it).
    pub async fn wait(&self, id: i64, timeout: Duration) -> Result<JobView, ClientError> {
        let mut url = self.url(&["jobs", &id.to_string(), "wait"]);
        let millis = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        url.query_pairs_mut().append_pair("timeout_ms", &millis.to_string());
        let request =
            self.request(Method::GET, url).timeout(timeout.min(SERVER_WAIT_CAP) + REQUEST_TIMEOUT);
        self.json(request).await
    }

    /// Cancels a queued or running job; an ended one is refused (409) and kept.
    pub async fn cancel(&self, id: i64) -> Result<JobView, ClientError> {
        self.json(self.request(Method::POST, self.url(&["jobs", &id.to_string(), "cancel"]))).await
    }

    /// A job's output: `stream` is `stdout`, `stderr` or `both`. With `follow`, the response
    /// stays open and its chunks come as the job writes them, until the job ends.
    pub async fn output(
        &self,
        id: i64,
        stream: &str,
        follow: bool,
    ) -> Result<OutputChunks, ClientError> {
        let mut url = self.url(&["jobs", &id.to_string(), "output"]);
        url.query_pairs_mut().append_pair("stream", stream);
        let request = if follow {
            url.query_pairs_mut().append_pair("follow", "true");
            // A followed job may run for hours, silent for most of them.
            self.untimed(Method::GET, url)
        } else {
            self.request(Method::GET, url)
        };
        let response = self.send(request).await?;
        Ok(OutputChunks { response, server: self.base.to_string() })
    }

    /// Cancels a queued or running job (`Some`, now `cancelled`) or deletes an ended one
    /// (`None`).
    pub async fn cancel_or_delete(&self, id: i64) -> Result<Option<JobView>, ClientError> {
        let request = self.request(Method::DELETE, self.url(&["jobs", &id.to_string()]));
        let response = self.send(request).await?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        self.decode(response).await.map(Some)
    }

    /// One page of jobs, newest first.
    pub async fn jobs(&self, filter: &JobFilter) -> Result<JobPage, ClientError> {
        self.json(self.request(Method::GET, self.jobs_url(filter))).await
    }

    fn jobs_url(&self, filter: &JobFilter) -> Url {
        let mut url = self.url(&["jobs"]);
        let limit = filter.limit.map(|limit| limit.to_string());
        let select = &filter.select;
        let query = [
            ("state", select.state.map(JobState::as_str)),
            ("module", select.module.as_deref()),
            ("lane", select.lane.as_deref()),
            ("node", select.node.as_deref()),
            ("schedule", select.schedule.as_deref()),
            ("name", select.name.as_deref()),
            ("q", select.q.as_deref()),
            ("submitted_after", select.submitted_after.as_deref()),
            ("submitted_before", select.submitted_before.as_deref()),
            ("limit", limit.as_deref()),
            ("cursor", filter.cursor.as_deref()),
        ];
        // Only pairs that are present: an empty query would leave a bare `?` behind.
        for (key, value) in query {
            if let Some(value) = value {
                url.query_pairs_mut().append_pair(key, value);
            }
        }
        url
    }

    /// Creates a schedule.
    pub async fn create_schedule(
        &self,
        schedule: &ScheduleRequest,
    ) -> Result<ScheduleView, ClientError> {
        self.json(self.request(Method::POST, self.url(&["schedules"])).json(schedule)).await
    }

    /// Every schedule, by name.
    pub async fn schedules(&self) -> Result<ScheduleList, ClientError> {
        self.json(self.request(Method::GET, self.url(&["schedules"]))).await
    }

    /// Changes a schedule (pause: `enabled: false`; resume: `enabled: true`).
    pub async fn patch_schedule(
        &self,
        name: &str,
        patch: &SchedulePatch,
    ) -> Result<ScheduleView, ClientError> {
        self.json(self.request(Method::PATCH, self.url(&["schedules", name])).json(patch)).await
    }

    /// Deletes a schedule.
    pub async fn delete_schedule(&self, name: &str) -> Result<(), ClientError> {
        self.send(self.request(Method::DELETE, self.url(&["schedules", name]))).await.map(drop)
    }

    /// Submits a schedule's job now, once.
    pub async fn run_schedule(&self, name: &str) -> Result<Accepted, ClientError> {
        self.json(self.request(Method::POST, self.url(&["schedules", name, "run"]))).await
    }

    /// A workflow: its jobs, edges and state.
    pub async fn workflow(&self, id: i64) -> Result<WorkflowView, ClientError> {
        self.json(self.request(Method::GET, self.url(&["workflows", &id.to_string()]))).await
    }

    /// Cancels (`cancel`) or retries (`retry`) a workflow.
    pub async fn workflow_action(
        &self,
        id: i64,
        action: &str,
    ) -> Result<WorkflowChanged, ClientError> {
        let url = self.url(&["workflows", &id.to_string(), action]);
        self.json(self.request(Method::POST, url)).await
    }

    /// Queues an ended job again.
    pub async fn retry(&self, id: i64) -> Result<Accepted, ClientError> {
        self.json(self.request(Method::POST, self.url(&["jobs", &id.to_string(), "retry"]))).await
    }

    /// Queues again every failed, timed-out or cancelled job the filter selects.
    pub async fn retry_matching(&self, select: &JobSelector) -> Result<BulkResult, ClientError> {
        self.json(self.request(Method::POST, self.url(&["jobs", "retry"])).json(select)).await
    }

    /// Cancels every queued or running job the filter selects.
    pub async fn cancel_matching(&self, select: &JobSelector) -> Result<BulkResult, ClientError> {
        self.json(self.request(Method::POST, self.url(&["jobs", "cancel"])).json(select)).await
    }

    /// Deletes every ended job the filter selects (or, with `dry_run`, counts the selected).
    pub async fn delete_matching(&self, select: &JobSelector) -> Result<DeleteResult, ClientError> {
        self.json(self.request(Method::POST, self.url(&["jobs", "delete"])).json(select)).await
    }

    /// Makes a token; the answer holds its secret, shown this once.
    pub async fn create_token(&self, token: &TokenRequest) -> Result<TokenCreated, ClientError> {
        self.json(self.request(Method::POST, self.url(&["tokens"])).json(token)).await
    }

    /// The tokens this caller manages.
    pub async fn tokens(&self) -> Result<Vec<TokenView>, ClientError> {
        self.json(self.request(Method::GET, self.url(&["tokens"]))).await
    }

    /// A tenant's quotas.
    pub async fn tenant_quotas(&self, tenant: &str) -> Result<TenantQuotas, ClientError> {
        self.json(self.request(Method::GET, self.url(&["tenants", tenant, "quotas"]))).await
    }

    /// Sets a tenant's quotas (all four).
    pub async fn set_tenant_quotas(
        &self,
        tenant: &str,
        quotas: &TenantQuotas,
    ) -> Result<TenantQuotas, ClientError> {
        let url = self.url(&["tenants", tenant, "quotas"]);
        self.json(self.request(Method::PUT, url).json(quotas)).await
    }

    /// Revokes a token.
    pub async fn revoke_token(&self, id: i64) -> Result<(), ClientError> {
        let url = self.url(&["tokens", &id.to_string()]);
        self.send(self.request(Method::DELETE, url)).await.map(drop)
    }

    /// The pool at a glance.
    pub async fn pool(&self) -> Result<PoolView, ClientError> {
        self.json(self.request(Method::GET, self.url(&["pool"]))).await
    }

    /// Every host of the cluster.
    pub async fn nodes(&self) -> Result<Vec<NodeView>, ClientError> {
        self.json(self.request(Method::GET, self.url(&["nodes"]))).await
    }

    /// Stops handing out queued jobs; running ones carry on.
    pub async fn pause(&self) -> Result<PoolView, ClientError> {
        self.pool_action("pause").await
    }

    /// Hands out queued jobs again.
    pub async fn resume(&self) -> Result<PoolView, ClientError> {
        self.pool_action("resume").await
    }

    async fn pool_action(&self, action: &str) -> Result<PoolView, ClientError> {
        let request = self.request(Method::POST, self.url(&["pool", action]));
        let response = self.send(request).await?;
        // The contract leaves open whether the action answers with the pool or with nothing.
        if response.status() == StatusCode::NO_CONTENT {
            return self.pool().await;
        }
        self.decode(response).await
    }

    /// `POST /v1/queues/{name}`: puts one item, waiting up to `wait` while the queue is full.
    pub async fn queue_put(
        &self,
        name: &str,
        item: Vec<u8>,
        wait: Option<Duration>,
    ) -> Result<QueueView, ClientError> {
        let mut url = self.url(&["queues", name]);
        if let Some(wait) = wait {
            url.query_pairs_mut().append_pair("timeout_ms", &wait.as_millis().to_string());
        }
        let request = self
            .request(Method::POST, url)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .timeout(wait.unwrap_or_default() + REQUEST_TIMEOUT)
            .body(item);
        self.json(request).await
    }

    /// `POST /v1/queues/{name}/get`: the oldest item, waiting up to `wait` for one.
    pub async fn queue_get(
        &self,
        name: &str,
        wait: Duration,
    ) -> Result<Option<Vec<u8>>, ClientError> {
        let mut url = self.url(&["queues", name, "get"]);
        url.query_pairs_mut().append_pair("timeout_ms", &wait.as_millis().to_string());
        let request = self.request(Method::POST, url).timeout(wait + REQUEST_TIMEOUT);
        let response = self.send(request).await?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        let item = response.bytes().await.map_err(|source| self.unreachable(source))?;
        Ok(Some(item.to_vec()))
    }

    /// `GET /v1/queues/{name}/items?limit=N`: the oldest items, not taken.
    pub async fn queue_peek(&self, name: &str, limit: u32) -> Result<QueueItems, ClientError> {
        let mut url = self.url(&["queues", name, "items"]);
        url.query_pairs_mut().append_pair("limit", &limit.to_string());
        self.json(self.request(Method::GET, url)).await
    }

    /// `DELETE /v1/queues/{name}`: every item removed.
    pub async fn queue_purge(&self, name: &str) -> Result<QueuePurged, ClientError> {
        self.json(self.request(Method::DELETE, self.url(&["queues", name]))).await
    }

    /// `GET /v1/events`: the service's event stream, read a chunk at a time, for as long as
    /// it runs.
    pub async fn events(&self) -> Result<OutputChunks, ClientError> {
        let response = self.send(self.untimed(Method::GET, self.url(&["events"]))).await?;
        Ok(OutputChunks { response, server: self.base.to_string() })
    }

    /// `GET /v1/queues`.
    pub async fn queues(&self) -> Result<Vec<QueueView>, ClientError> {
        self.json(self.request(Method::GET, self.url(&["queues"]))).await
    }

    /// `base/v1/segments...`, each segment percent-encoded (module names are free text).
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        // `parse_server` accepted only http URLs, which always have a path to extend.
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().push("v1").extend(segments);
        }
        url
    }

    fn request(&self, method: Method, url: Url) -> RequestBuilder {
        self.untimed(method, url).timeout(REQUEST_TIMEOUT)
    }

    /// A request with no overall time limit (the connect timeout still applies).
    fn untimed(&self, method: Method, url: Url) -> RequestBuilder {
        let request = self.http.request(method, url);
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    async fn json<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<T, ClientError> {
        let response = self.send(request).await?;
        self.decode(response).await
    }

    /// Sends the request; a status other than 2xx becomes [`ClientError::Api`].
    async fn send(&self, request: RequestBuilder) -> Result<Response, ClientError> {
        let response = request.send().await.map_err(|source| self.unreachable(source))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.bytes().await.map_err(|source| self.unreachable(source))?;
        Err(api_error(status, &body))
    }

    async fn decode<T: DeserializeOwned>(&self, response: Response) -> Result<T, ClientError> {
        let url = response.url().to_string();
        let body = response.bytes().await.map_err(|source| self.unreachable(source))?;
        serde_json::from_slice(&body).map_err(|source| ClientError::Decode { url, source })
    }

    fn unreachable(&self, source: reqwest::Error) -> ClientError {
        ClientError::Unreachable { server: self.base.to_string(), source }
    }
}

/// The body of an output response, read a chunk at a time as it arrives.
pub struct OutputChunks {
    response: Response,
    server: String,
}

impl OutputChunks {
    /// The next bytes; `None` at the end of the response.
    pub async fn next(&mut self) -> Result<Option<bytes::Bytes>, ClientError> {
        self.response
            .chunk()
            .await
            .map_err(|source| ClientError::Unreachable { server: self.server.clone(), source })
    }
}

#[cfg(test)]
mod tests;
