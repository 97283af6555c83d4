//! `wasmpool tenants`: a tenant's quotas on a running service.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::remote::{RemoteOptions, table};
use crate::wire::TenantQuotas;

/// Show or set a tenant's quotas (setting is the service's admin's).
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  wasmpool tenants quotas acme
  wasmpool tenants set-quotas acme --max-queued 1000 --max-timeout-ms 60000 --max-running 8")]
pub struct TenantsCommand {
    #[command(flatten)]
    pub(super) remote: RemoteOptions,
    #[command(subcommand)]
    action: TenantsAction,
}

/// What to do.
#[derive(Debug, Subcommand)]
enum TenantsAction {
    /// Show a tenant's quotas.
    Quotas {
        /// The tenant.
        tenant: String,
    },
    /// Set a tenant's quotas, all at once: a quota not given is none.
    SetQuotas {
        /// The tenant (made if new).
        tenant: String,
        /// Most jobs queued at once.
        #[arg(long, value_name = "N")]
        max_queued: Option<u64>,
        /// Largest timeout a job may ask for, in milliseconds.
        #[arg(long, value_name = "MS")]
        max_timeout_ms: Option<u64>,
        /// Largest memory a job may ask for, in MiB.
        #[arg(long, value_name = "MIB")]
        max_memory_mb: Option<u64>,
        /// Largest fuel a job may ask for (a job without fuel gets this much).
        #[arg(long, value_name = "N")]
        max_fuel: Option<u64>,
        /// Most jobs running at once, across every host (the others wait queued).
        #[arg(long, value_name = "N")]
        max_running: Option<u64>,
        /// Most bytes of modules owned (an upload past it is refused).
        #[arg(long, value_name = "BYTES")]
        max_module_bytes: Option<u64>,
        /// Its share of a lane's workers beside other tenants' (default 1).
        #[arg(long, value_name = "N")]
        weight: Option<u64>,
    },
}

impl TenantsCommand {
    /// Carries out the action.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        self.remote.run(async |client| {
            let (tenant, quotas) = match &self.action {
                TenantsAction::Quotas { tenant } => (tenant, client.tenant_quotas(tenant).await?),
                TenantsAction::SetQuotas {
                    tenant,
                    max_queued,
                    max_timeout_ms,
                    max_memory_mb,
                    max_fuel,
                    max_running,
                    max_module_bytes,
                    weight,
                } => {
                    let quotas = TenantQuotas {
                        max_queued: *max_queued,
                        max_timeout_ms: *max_timeout_ms,
                        max_memory_mb: *max_memory_mb,
                        max_fuel: *max_fuel,
                        max_running: *max_running,
                        max_module_bytes: *max_module_bytes,
                        weight: *weight,
                    };
                    (tenant, client.set_tenant_quotas(tenant, &quotas).await?)
                }
            };
            if !self.remote.print_json(&quotas)? {
                super::write_stdout(render(tenant, &quotas).as_bytes())?;
            }
            Ok(ExitCode::SUCCESS)
        })
    }
}

fn render(tenant: &str, quotas: &TenantQuotas) -> String {
    let show = |quota: Option<u64>| quota.map_or_else(|| "none".to_string(), |q| q.to_string());
    let rows = vec![
        vec!["tenant".to_string(), tenant.to_string()],
        vec!["max queued".to_string(), show(quotas.max_queued)],
        vec!["max timeout ms".to_string(), show(quotas.max_timeout_ms)],
        vec!["max memory MiB".to_string(), show(quotas.max_memory_mb)],
        vec!["max fuel".to_string(), show(quotas.max_fuel)],
        vec!["max running".to_string(), show(quotas.max_running)],
        vec!["storage bytes".to_string(), show(quotas.max_module_bytes)],
        vec!["weight".to_string(), quotas.weight.unwrap_or(1).to_string()],
    ];
    table(&rows)
}
