//! Named queues on top of the store: the waiting (a get for an item to arrive, a put for room
//! in a full queue), the limits, and the service's answers to jobs' `wasmpool:task` calls.
//! Items are durable once a put returns and go to exactly one get.

use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::{broadcast, oneshot};

use crate::job::{ParentResult, PutError};
use crate::pool::{Caller, TaskHost};
use crate::store::{JobId, QueueStat, Running, Store, StoreError};

/// Limits of the queues.
#[derive(Clone, Debug)]
pub struct QueueLimits {
    /// Most items a queue holds.
    pub capacity: u64,
    /// Largest item, in bytes.
    pub max_item_bytes: usize,
    /// How long a put waits for room in a full queue.
    pub put_timeout: Duration,
}

impl Default for QueueLimits {
    fn default() -> Self {
        QueueLimits {
            capacity: 10_000,
            max_item_bytes: 1 << 20,
            put_timeout: Duration::from_secs(10),
        }
    }
}

/// Why a queue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The name is not allowed.
    #[error("queue name `{0}` must be 1 to 100 letters, digits, `.`, `_` or `-`")]
    BadName(String),
    /// The item is over the size limit.
    #[error("the item is {size} bytes; at most {max} are allowed")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The queue stayed full.
    #[error("queue `{name}` stayed full ({capacity} items) for {waited:?}")]
    Full {
        /// The queue.
        name: String,
        /// Its capacity.
        capacity: u64,
        /// How long the put waited.
        waited: Duration,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The service's queues.
#[derive(Clone)]
pub struct Queues {
    store: Store,
    limits: QueueLimits,
}

impl Queues {
    /// Queues kept in `store`.
    pub fn new(store: Store, limits: QueueLimits) -> Self {
        Queues { store, limits }
    }

    /// The limits in force.
    pub fn limits(&self) -> &QueueLimits {
        &self.limits
    }

    /// Checks a queue name as a client or a job gives it.
    pub fn check_name(name: &str) -> Result<(), QueueError> {
        let fine = !name.is_empty()
            && name.len() <= 100
            && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if fine { Ok(()) } else { Err(QueueError::BadName(name.to_string())) }
    }

    /// Checks a queue's stored name: a name, or `TENANT:name` for a tenant other than the
    /// default one (the API and the task host put the prefix on after [`Queues::check_name`]).
    fn check_stored_name(stored: &str) -> Result<(), QueueError> {
        match stored.split_once(':') {
            Some((tenant, name)) if !tenant.is_empty() && Self::check_name(tenant).is_ok() => {
                Self::check_name(name).map_err(|_| QueueError::BadName(name.to_string()))
            }
            Some(_) => Err(QueueError::BadName(stored.to_string())),
            None => Self::check_name(stored),
        }
    }

    /// Appends an item, waiting up to `wait` while the queue is full. Returns once the item
    /// is on disk. `by`: the running job putting it, if a job is.
    pub async fn put(
        &self,
        name: &str,
        item: Vec<u8>,
        wait: Duration,
        by: Option<Running>,
    ) -> Result<(), QueueError> {
        Self::check_stored_name(name)?;
        if item.len() > self.limits.max_item_bytes {
            return Err(QueueError::TooLarge { size: item.len(), max: self.limits.max_item_bytes });
        }
        let mut changes = self.store.subscribe_queues();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let capacity = self.limits.capacity;
            if self.store.queue_put(name.to_string(), item.clone(), capacity, by).await? {
                return Ok(());
            }
            if !changed_before(&mut changes, name, deadline).await {
                return Err(QueueError::Full {
                    name: name.to_string(),
                    capacity: self.limits.capacity,
                    waited: wait,
                });
            }
        }
    }

    /// Takes the oldest item, waiting up to `wait` for one; with its id, for [`Queues::restore`].
    /// `by`: the running job taking it, if a job is (a stale attempt takes nothing).
    pub async fn take(
        &self,
        name: &str,
        wait: Duration,
        by: Option<Running>,
    ) -> Result<Option<(i64, Vec<u8>)>, QueueError> {
        Self::check_stored_name(name)?;
        let mut changes = self.store.subscribe_queues();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(taken) = self.take_now(name, by).await? {
                return Ok(Some(taken));
            }
            if !changed_before(&mut changes, name, deadline).await {
                return Ok(None);
            }
        }
    }

    /// One take, finished even if the caller stops waiting for it: an item the caller never
    /// received goes back in its place.
    async fn take_now(
        &self,
        name: &str,
        by: Option<Running>,
    ) -> Result<Option<(i64, Vec<u8>)>, QueueError> {
        let (answer, taken) = oneshot::channel();
        let store = self.store.clone();
        let name = name.to_string();
        tokio::spawn(async move {
            let result = store.queue_take(name.clone(), by).await;
            if let Err(Ok(Some((id, item)))) = answer.send(result) {
                let _ = store.queue_restore(name, id, item).await;
            }
        });
        Ok(taken.await.map_err(|_| StoreError::Closed)??)
    }

    /// Puts back an item that was taken but never delivered.
    pub async fn restore(&self, name: &str, id: i64, item: Vec<u8>) -> Result<(), QueueError> {
        Ok(self.store.queue_restore(name.to_string(), id, item).await?)
    }

    /// The number of items in a queue.
    pub async fn len(&self, name: &str) -> Result<u64, QueueError> {
        Self::check_stored_name(name)?;
        Ok(self.store.queue_len(name).await?)
    }

    /// Every non-empty queue with its length and its oldest item's age.
    pub async fn list(&self) -> Result<Vec<QueueStat>, QueueError> {
        Ok(self.store.queues().await?)
    }
}

/// Waits until the queue `name` changes; `false` if `deadline` comes first. A change already
/// waiting does not count once the deadline has passed (`timeout_at` would take it), so a
/// queue that keeps changing without giving the waiter an item cannot hold it past its wait.
async fn changed_before(
    changes: &mut broadcast::Receiver<String>,
    name: &str,
    deadline: tokio::time::Instant,
) -> bool {
    if tokio::time::Instant::now() >= deadline {
        return false;
    }
    let changed = async {
        loop {
            match changes.recv().await {
                Ok(queue) if queue == name => return,
                Ok(_) => {}
                // Missed some changes: look again.
                Err(broadcast::error::RecvError::Lagged(_)) => return,
                Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
            }
        }
    };
    tokio::time::timeout_at(deadline, changed).await.is_ok()
}

/// The service's answers to jobs' `wasmpool:task` calls. A job's queues are its tenant's:
/// the name it gives is stored under its tenant's prefix, as the API stores a client's.
pub struct ServiceTaskHost {
    queues: Queues,
    store: Store,
    tenants: JobTenants,
    spawner: std::sync::Arc<crate::spawns::Spawner>,
}

impl ServiceTaskHost {
    /// Answers from these queues, records progress in `store`, and keeps spawned jobs in
    /// `spawner`.
    pub fn new(
        queues: Queues,
        store: Store,
        spawner: std::sync::Arc<crate::spawns::Spawner>,
    ) -> Self {
        ServiceTaskHost { queues, store: store.clone(), tenants: JobTenants::new(store), spawner }
    }
}

/// The tenants of the jobs that called lately (a job's tenant never changes), so a job
/// talking through a queue costs one read of its tenant, not one per call.
#[derive(Clone)]
struct JobTenants {
    store: Store,
    known: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<JobId, String>>>,
}

/// Jobs remembered at most; past it the memory starts over.
const JOB_TENANTS_KEPT: usize = 4096;

impl JobTenants {
    fn new(store: Store) -> Self {
        JobTenants { store, known: Default::default() }
    }

    /// The stored name of queue `name` for the job calling: `None` for a bad name or a job
    /// the store does not have.
    async fn queue(&self, caller: &Caller, name: &str) -> Option<String> {
        Queues::check_name(name).ok()?;
        let tenant = self.tenant(caller).await?;
        Some(crate::store::stored_name(&tenant, name))
    }

    /// The tenant of the job calling; `None` for a job the store does not have.
    async fn tenant(&self, caller: &Caller) -> Option<String> {
        let id = caller.job_id.parse::<JobId>().ok()?;
        let known = self.known.lock().expect("tenants lock").get(&id).cloned();
        let tenant = match known {
            Some(tenant) => tenant,
            None => {
                let tenant = self.store.job(id).await.ok()??.tenant;
                let mut known = self.known.lock().expect("tenants lock");
                if known.len() >= JOB_TENANTS_KEPT {
                    known.clear();
                }
                known.insert(id, tenant.clone());
                tenant
            }
        };
        Some(tenant)
    }
}

/// The store's name for a job's attempt (`None` for an id the store never gave out).
fn running(caller: &Caller) -> Option<Running> {
    let id = caller.job_id.parse::<JobId>().ok()?;
    Some(Running { id, attempt: caller.attempt })
}

impl TaskHost for ServiceTaskHost {
    fn put(
        &self,
        caller: Caller,
        queue: String,
        item: Vec<u8>,
    ) -> BoxFuture<'static, Result<(), PutError>> {
        let (queues, tenants) = (self.queues.clone(), self.tenants.clone());
        Box::pin(async move {
            let wait = queues.limits().put_timeout;
            let Some(by) = running(&caller) else { return Err(PutError::Unavailable) };
            if Queues::check_name(&queue).is_err() {
                return Err(PutError::BadName);
            }
            let Some(queue) = tenants.queue(&caller, &queue).await else {
                return Err(PutError::Unavailable);
            };
            queues.put(&queue, item, wait, Some(by)).await.map_err(|error| match error {
                QueueError::BadName(_) => PutError::BadName,
                QueueError::TooLarge { .. } => PutError::TooLarge,
                QueueError::Full { .. } => PutError::Full,
                // A stale attempt's put (the job was cancelled or rescued meanwhile).
                QueueError::Store(StoreError::NotRunning(_)) => PutError::Unavailable,
                QueueError::Store(e) => {
                    tracing::error!("queue put failed: {e}");
                    PutError::Unavailable
                }
            })
        })
    }

    fn get(
        &self,
        caller: Caller,
        queue: String,
        wait: Duration,
    ) -> BoxFuture<'static, Option<(String, i64, Vec<u8>)>> {
        let (queues, tenants) = (self.queues.clone(), self.tenants.clone());
        Box::pin(async move {
            let by = running(&caller)?;
            let queue = tenants.queue(&caller, &queue).await?;
            let (id, item) = queues.take(&queue, wait, Some(by)).await.ok().flatten()?;
            Some((queue, id, item))
        })
    }

    fn restore(&self, queue: String, id: i64, item: Vec<u8>) -> BoxFuture<'static, ()> {
        let queues = self.queues.clone();
        Box::pin(async move {
            if let Err(e) = queues.restore(&queue, id, item).await {
                tracing::error!("putting back an undelivered item of queue {queue} failed: {e}");
            }
        })
    }

    fn len(&self, caller: Caller, queue: String) -> BoxFuture<'static, u64> {
        let (queues, tenants) = (self.queues.clone(), self.tenants.clone());
        Box::pin(async move {
            let Some(queue) = tenants.queue(&caller, &queue).await else { return 0 };
            queues.len(&queue).await.unwrap_or(0)
        })
    }

    fn progress(&self, caller: Caller, percent: u8, message: String) -> BoxFuture<'static, ()> {
        let store = self.store.clone();
        Box::pin(async move {
            if let Some(by) = running(&caller) {
                let message: String = message.chars().take(200).collect();
                let _ = store.progress(by, percent, message).await;
            }
        })
    }

    fn parents(&self, caller: Caller) -> BoxFuture<'static, Vec<ParentResult>> {
        let store = self.store.clone();
        Box::pin(async move {
            let Some(by) = running(&caller) else { return Vec::new() };
            match store.parent_results(by.id).await {
                Ok(parents) => {
                    parents.into_iter().map(crate::store::workflow::task_parent).collect()
                }
                Err(e) => {
                    tracing::error!("reading a job's parents failed: {e}");
                    Vec::new()
                }
            }
        })
    }

    fn spawn(&self, caller: Caller, job: String) -> BoxFuture<'static, Result<String, String>> {
        let (spawner, tenants) = (self.spawner.clone(), self.tenants.clone());
        Box::pin(async move {
            let unknown = || "the job spawning is not the service's".to_string();
            let by = running(&caller).ok_or_else(unknown)?;
            let tenant = tenants.tenant(&caller).await.ok_or_else(unknown)?;
            spawner.spawn(by, &tenant, &job).await
        })
    }
}
