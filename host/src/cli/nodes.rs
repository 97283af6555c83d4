//! `wasmpool nodes`: the hosts of a running service's cluster.

use std::process::ExitCode;
use std::time::SystemTime;

use clap::Args;

use super::remote::{RemoteOptions, ago, table};
use crate::wire::NodeView;

/// List every host of the cluster: its name, address, workers (busy of all), state (`alive`,
/// `draining`: stopping, finishing its running jobs; `lost`: silent past its lease, its jobs
/// given to others; `left`: stopped cleanly) and when it last reported. With the embedded SQLite store there is one host.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  wasmpool nodes
  wasmpool nodes --server http://hostb:8081 --json")]
pub struct NodesCommand {
    #[command(flatten)]
    pub(super) remote: RemoteOptions,
}

impl NodesCommand {
    /// Lists the hosts.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        self.remote.run(async |client| {
            let nodes = client.nodes().await?;
            if !self.remote.print_json(&nodes)? {
                print!("{}", render(&nodes, SystemTime::now()));
            }
            Ok(ExitCode::SUCCESS)
        })
    }
}

fn render(nodes: &[NodeView], now: SystemTime) -> String {
    let mut rows = vec![
        ["NAME", "ADDRESS", "STATE", "WORKERS", "HEARTBEAT", "VERSION"].map(String::from).to_vec(),
    ];
    rows.extend(nodes.iter().map(|node| {
        vec![
            node.name.clone(),
            node.address.clone(),
            node.state.clone(),
            format!("{}/{} busy", node.busy, node.workers),
            ago(&node.heartbeat_at, now),
            node.version.clone(),
        ]
    }));
    table(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_row_per_host() {
        let node = |name: &str, state: &str, busy| NodeView {
            name: name.into(),
            address: "10.0.0.1:8080".into(),
            version: "0.1.0".into(),
            workers: 4,
            busy,
            started_at: "2025-01-02T03:00:00Z".into(),
            heartbeat_at: "2025-01-02T03:04:04Z".into(),
            state: state.into(),
        };
        let now = super::super::remote::parse_time("2025-01-02T03:04:05Z").expect("valid");
        assert_eq!(
            render(&[node("a", "alive", 3), node("b", "lost", 0)], now),
            "NAME  ADDRESS        STATE  WORKERS   HEARTBEAT  VERSION
a     10.0.0.1:8080  alive  3/4 busy  1s ago     0.1.0
b     10.0.0.1:8080  lost   0/4 busy  1s ago     0.1.0
"
        );
    }
}
