//! `wasmpool tokens`: make, list and revoke tenants' tokens on a running service.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::remote::{RemoteOptions, table};
use crate::wire::{Scope, TokenRequest, TokenView};

/// Make, list or revoke tokens. A token acts for one tenant with one scope: `read` (look),
/// `submit` (plus the tenant's jobs and queues), `admin` (plus its modules and schedules; the
/// default tenant's admin, `serve --token`, also every tenant's tokens).
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  wasmpool tokens create --tenant acme --scope submit --expires 30d
  wasmpool tokens create --tenant acme --scope read --json
  wasmpool tokens ls
  wasmpool tokens revoke 3")]
pub struct TokensCommand {
    #[command(flatten)]
    pub(super) remote: RemoteOptions,
    #[command(subcommand)]
    action: TokensAction,
}

/// What to do with tokens.
#[derive(Debug, Subcommand)]
enum TokensAction {
    /// Make a token and print its secret (shown this once; the service keeps only its hash).
    Create {
        /// The tenant it acts for (made if new; default: the caller's own).
        #[arg(long)]
        tenant: Option<String>,
        /// What it may do: read, submit or admin.
        #[arg(long, value_parser = parse_scope)]
        scope: Scope,
        /// How long it lasts, e.g. 30d, 12h, 90m (default: until revoked).
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
    },
    /// List the tokens this caller manages (never their secrets).
    Ls,
    /// Revoke a token: it stops working at once on every host.
    Revoke {
        /// The token's id (from `tokens ls`).
        id: i64,
    },
}

fn parse_scope(text: &str) -> Result<Scope, String> {
    Scope::parse(text).ok_or_else(|| format!("`{text}` is not a scope: read, submit or admin"))
}

impl TokensCommand {
    /// Carries out the action.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        self.remote.run(async |client| {
            match &self.action {
                TokensAction::Create { tenant, scope, expires } => {
                    let request = TokenRequest {
                        tenant: tenant.clone(),
                        scope: *scope,
                        expires_in: expires.clone(),
                    };
                    let made = client.create_token(&request).await?;
                    if !self.remote.print_json(&made)? {
                        let text = format!(
                            "{}\ntoken {} of tenant {} ({}); the secret above is shown only now\n",
                            made.token, made.id, made.tenant, made.scope
                        );
                        super::write_stdout(text.as_bytes())?;
                    }
                }
                TokensAction::Ls => {
                    let tokens = client.tokens().await?;
                    if !self.remote.print_json(&tokens)? {
                        super::write_stdout(render(&tokens).as_bytes())?;
                    }
                }
                TokensAction::Revoke { id } => {
                    client.revoke_token(*id).await?;
                    if !self.remote.print_json(&serde_json::json!({ "revoked": id }))? {
                        super::write_stdout(format!("token {id} revoked\n").as_bytes())?;
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        })
    }
}

fn render(tokens: &[TokenView]) -> String {
    let mut rows =
        vec![["ID", "TENANT", "SCOPE", "CREATED", "EXPIRES", "STATE"].map(String::from).to_vec()];
    rows.extend(tokens.iter().map(|token| {
        let state = if token.revoked_at.is_some() { "revoked" } else { "in force" };
        vec![
            token.id.to_string(),
            token.tenant.clone(),
            token.scope.to_string(),
            token.created_at.clone(),
            token.expires_at.clone().unwrap_or_else(|| "never".into()),
            state.to_string(),
        ]
    }));
    table(&rows)
}
