//! The store's side of issue 23's tenants, on both backends: tokens kept by their secret's
//! hash, revoked and expiring; a job's tenant kept and selected by; modules' owners.

use std::time::{Duration, SystemTime};

use wasmpool::store::{JobFilter, NewJob, NewToken, Store};
use wasmpool::wire::Scope;

use super::{HASH, job, postgres, sqlite, with_module};

conformance!(
    tokens_are_found_by_their_hash_and_revoked_at_once,
    jobs_keep_their_tenant_and_filters_select_by_it,
    modules_are_owned_per_tenant,
    quotas_are_kept_and_queued_jobs_counted_per_tenant,
    a_tenants_running_quota_is_kept_by_the_claim,
    a_concurrency_key_is_kept_by_the_claim_per_tenant,
    tenants_with_queued_jobs_share_a_claim,
);

fn token(tenant: &str, scope: Scope, hash: &str, lasts: Option<Duration>) -> NewToken {
    NewToken { tenant: tenant.into(), scope, secret_hash: hash.into(), lasts }
}

async fn tokens_are_found_by_their_hash_and_revoked_at_once(store: &Store) {
    let acme = store.create_token(token("acme", Scope::Submit, "aa11", None)).await.unwrap();
    let globex = store
        .create_token(token("globex", Scope::Read, "bb22", Some(Duration::from_secs(3600))))
        .await
        .unwrap();
    assert_eq!((acme.tenant.as_str(), acme.scope), ("acme", Scope::Submit));
    assert!(acme.expires_at.is_none() && acme.revoked_at.is_none());
    let lasts = globex.expires_at.unwrap().duration_since(globex.created_at).unwrap();
    assert_eq!(lasts, Duration::from_secs(3600));

    let found = store.token_by_hash("aa11").await.unwrap().expect("found by its hash");
    assert_eq!(found, acme);
    assert!(found.in_force(SystemTime::now()));
    assert!(store.token_by_hash("cc33").await.unwrap().is_none());
    // An expired token is kept but not in force.
    assert!(!globex.in_force(SystemTime::now() + Duration::from_secs(3601)));

    let all: Vec<i64> = store.tokens(None).await.unwrap().iter().map(|t| t.id).collect();
    assert_eq!(all, [acme.id, globex.id]);
    let own: Vec<i64> = store.tokens(Some("globex")).await.unwrap().iter().map(|t| t.id).collect();
    assert_eq!(own, [globex.id]);

    // Another tenant cannot revoke it; its own tenant (or the service) can.
    assert!(!store.revoke_token(acme.id, Some("globex".into())).await.unwrap());
    assert!(store.token_by_hash("aa11").await.unwrap().unwrap().in_force(SystemTime::now()));
    assert!(store.revoke_token(acme.id, Some("acme".into())).await.unwrap());
    let revoked = store.token_by_hash("aa11").await.unwrap().unwrap();
    assert!(revoked.revoked_at.is_some() && !revoked.in_force(SystemTime::now()));
    assert!(!store.revoke_token(9999, None).await.unwrap());
}

async fn jobs_keep_their_tenant_and_filters_select_by_it(store: &Store) {
    with_module(store).await;
    let acme = NewJob { tenant: "acme".into(), ..job() };
    let ids: Vec<i64> =
        store.submit(vec![job(), acme.clone(), acme]).await.unwrap().iter().map(|j| j.0).collect();
    assert_eq!(store.job(ids[0]).await.unwrap().unwrap().tenant, "default");
    assert_eq!(store.job(ids[1]).await.unwrap().unwrap().tenant, "acme");
    let of =
        |tenant: &str| JobFilter { tenant: Some(tenant.into()), limit: 10, ..Default::default() };
    let listed: Vec<i64> = store.jobs(&of("acme")).await.unwrap().iter().map(|j| j.id).collect();
    assert_eq!(listed, [ids[2], ids[1]]);
    let counted: u64 = store.count_matching(&of("default")).await.unwrap().values().sum();
    assert_eq!(counted, 1);
    let cancelled = store.cancel_matching(&of("acme")).await.unwrap();
    assert_eq!(cancelled.changed.len(), 2);
    assert_eq!(store.job(ids[0]).await.unwrap().unwrap().state, wasmpool::job::JobState::Queued);
    // The same idempotency key under two tenants' prefixes is two jobs.
    let keyed = |key: &str, tenant: &str| NewJob {
        idempotency_key: Some(key.into()),
        tenant: tenant.into(),
        ..job()
    };
    let a = store.submit(vec![keyed("k", "default")]).await.unwrap()[0].0;
    let b = store.submit(vec![keyed("\u{1}acme\u{1}k", "acme")]).await.unwrap()[0].0;
    assert_ne!(a, b);
}

async fn modules_are_owned_per_tenant(store: &Store) {
    with_module(store).await;
    assert!(!store.owns_module("acme", HASH).await.unwrap());
    store.own_module("default".into(), HASH.into()).await.unwrap();
    store.own_module("acme".into(), HASH.into()).await.unwrap();
    store.own_module("acme".into(), HASH.into()).await.unwrap();
    assert!(store.owns_module("acme", HASH).await.unwrap());
    assert_eq!(store.owned_modules("acme").await.unwrap(), [HASH]);
    assert_eq!(store.module_owners(HASH).await.unwrap(), 2);
    store
        .put_module(HASH.into(), wasmpool::job::ModuleKind::Module, b"\0asm", Some("acme:m".into()))
        .await
        .unwrap();
    store.disown_module("acme".into(), HASH.into()).await.unwrap();
    assert!(!store.owns_module("acme", HASH).await.unwrap());
    let module = store.module(HASH).await.unwrap().expect("the default tenant still has it");
    assert_eq!(module.names, ["m"], "acme's name went with its claim");
}

async fn quotas_are_kept_and_queued_jobs_counted_per_tenant(store: &Store) {
    use wasmpool::wire::TenantQuotas;
    assert_eq!(store.tenant_quotas("acme").await.unwrap(), None, "no such tenant yet");
    let none = store.tenant_quotas("default").await.unwrap().expect("the default tenant");
    assert_eq!(none, TenantQuotas::default());
    let quotas = TenantQuotas { max_queued: Some(5), max_fuel: Some(1000), ..Default::default() };
    store.set_tenant_quotas("acme".into(), quotas.clone()).await.unwrap();
    assert_eq!(store.tenant_quotas("acme").await.unwrap(), Some(quotas));
    with_module(store).await;
    let acme = NewJob { tenant: "acme".into(), ..job() };
    store.submit(vec![acme.clone(), acme, job()]).await.unwrap();
    assert_eq!(store.tenant_queued("acme").await.unwrap(), 2);
    assert_eq!(store.tenant_queued("globex").await.unwrap(), 0);
    let claimed = store.finish_and_claim(Vec::new(), Vec::new(), "default", 3).await.unwrap();
    assert_eq!(claimed.jobs.len(), 3);
    assert_eq!(store.tenant_queued("acme").await.unwrap(), 0, "running jobs are not queued");
}

/// A claim passes over the jobs of a tenant at its `max_running`: they stay queued, their
/// attempt uncounted, while others' are taken; the module bytes a tenant owns are counted.
async fn a_tenants_running_quota_is_kept_by_the_claim(store: &Store) {
    use wasmpool::wire::TenantQuotas;
    let quotas = TenantQuotas { max_running: Some(1), ..Default::default() };
    store.set_tenant_quotas("acme".into(), quotas).await.unwrap();
    with_module(store).await;
    let acme = NewJob { tenant: "acme".into(), ..job() };
    let ids = store.submit(vec![acme.clone(), acme.clone(), job(), acme]).await.unwrap();
    let claimed = store.finish_and_claim(Vec::new(), Vec::new(), "default", 4).await.unwrap();
    let taken: Vec<i64> = claimed.jobs.iter().map(|job| job.id).collect();
    assert_eq!(taken, [ids[0].0, ids[2].0], "acme's first and the default tenant's");
    let again = store.finish_and_claim(Vec::new(), Vec::new(), "default", 4).await.unwrap();
    assert!(again.jobs.is_empty(), "acme is at its quota");
    for (id, _) in [ids[1], ids[3]] {
        let job = store.job(id).await.unwrap().unwrap();
        assert_eq!((job.state, job.attempts), (wasmpool::job::JobState::Queued, 0));
    }
    store.own_module("acme".into(), HASH.into()).await.unwrap();
    let size = store.module(HASH).await.unwrap().unwrap().size;
    assert_eq!(store.tenant_module_bytes("acme").await.unwrap(), size);
    assert_eq!(store.tenant_module_bytes("globex").await.unwrap(), 0);
}

/// Jobs with a concurrency key past its limit are passed over (their tenant's key: another
/// tenant's key of the same name is another); the key is kept through both insert paths.
async fn a_concurrency_key_is_kept_by_the_claim_per_tenant(store: &Store) {
    with_module(store).await;
    let keyed = |tenant: &str| NewJob {
        tenant: tenant.into(),
        concurrency: Some(("k".into(), 1)),
        ..job()
    };
    let with_key = NewJob { idempotency_key: Some("idem".into()), ..keyed("acme") };
    let ids =
        store.submit(vec![keyed("acme"), keyed("acme"), keyed("globex"), job(), with_key]).await;
    let ids: Vec<i64> = ids.unwrap().into_iter().map(|(id, _)| id).collect();
    let kept = store.job(ids[4]).await.unwrap().unwrap();
    assert_eq!(kept.concurrency, Some(("k".to_string(), 1)), "through the keyed insert");
    let claimed = store.finish_and_claim(Vec::new(), Vec::new(), "default", 5).await.unwrap();
    let mut taken: Vec<i64> = claimed.jobs.iter().map(|job| job.id).collect();
    taken.sort_unstable();
    assert_eq!(taken, [ids[0], ids[2], ids[3]], "one of acme's k, globex's k, the keyless one");
    assert_eq!(claimed.jobs[0].concurrency, Some(("k".to_string(), 1)));
    let again = store.finish_and_claim(Vec::new(), Vec::new(), "default", 5).await.unwrap();
    assert!(again.jobs.is_empty(), "acme's k is at its limit");
}

/// Two tenants with queued jobs in a lane share a claim by turns, whatever the queue's order;
/// a heavier weight takes more.
async fn tenants_with_queued_jobs_share_a_claim(store: &Store) {
    use wasmpool::wire::TenantQuotas;
    with_module(store).await;
    let of = |tenant: &str| NewJob { tenant: tenant.into(), ..job() };
    let acme: Vec<i64> =
        store.submit(vec![of("acme"); 6]).await.unwrap().into_iter().map(|j| j.0).collect();
    let globex: Vec<i64> =
        store.submit(vec![of("globex"); 6]).await.unwrap().into_iter().map(|j| j.0).collect();
    let claimed = store.finish_and_claim(Vec::new(), Vec::new(), "default", 4).await.unwrap();
    let taken: Vec<i64> = claimed.jobs.iter().map(|job| job.id).collect();
    let (mut from_acme, mut from_globex) = (0, 0);
    for id in &taken {
        from_acme += usize::from(acme.contains(id));
        from_globex += usize::from(globex.contains(id));
    }
    assert_eq!((from_acme, from_globex), (2, 2), "{taken:?}");
    assert!(taken.contains(&globex[0]) && taken.contains(&acme[0]), "each in its own order");
    let weighty = TenantQuotas { weight: Some(3), ..Default::default() };
    store.set_tenant_quotas("globex".into(), weighty).await.unwrap();
    let claimed = store.finish_and_claim(Vec::new(), Vec::new(), "default", 4).await.unwrap();
    let more = claimed.jobs.iter().filter(|job| globex.contains(&job.id)).count();
    assert_eq!(more, 4, "2 running of weight 3 against acme's 2 of 1: globex takes all 4");
}
