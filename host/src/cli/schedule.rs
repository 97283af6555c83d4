//! `wasmpool schedule`: jobs a running service submits by itself at every tick of a cron
//! expression — add, list, remove, pause, resume, or run once now.

use std::process::ExitCode;
use std::time::SystemTime;

use clap::{Args, Subcommand};

use super::options::GuestCommand;
use super::remote::{RemoteOptions, ago, or_dash, table, until};
use super::submit::{JobOptions, module_ref};
use crate::wire::{ScheduleList, SchedulePatch, ScheduleRequest, ScheduleView};

/// Add, list, remove, pause, resume or run now the service's schedules.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  wasmpool schedule add nightly --cron '0 3 * * *' --timezone Europe/Paris fib 30
  wasmpool schedule add tick --cron '*/10 * * * * *' hello     (six fields: seconds first)
  wasmpool schedule ls
  wasmpool schedule pause nightly
  wasmpool schedule resume nightly
  wasmpool schedule run nightly                                (once, now; prints the job id)
  wasmpool schedule rm nightly
  wasmpool jobs --schedule nightly                             (the jobs it made)")]
pub struct ScheduleCommand {
    #[command(flatten)]
    pub(super) remote: RemoteOptions,
    #[command(subcommand)]
    action: ScheduleAction,
}

#[derive(Debug, Subcommand)]
enum ScheduleAction {
    /// Add a schedule: the job (as `submit` takes it) is submitted at every tick of --cron.
    /// wasmpool's options go before MODULE; everything after it is the guest's.
    #[command(override_usage = "wasmpool schedule add NAME --cron EXPR [OPTIONS] MODULE [ARGS]...")]
    Add(Box<AddSchedule>),
    /// List the schedules with their last and next run.
    Ls,
    /// Remove a schedule (the jobs it made stay).
    Rm {
        /// The schedule.
        name: String,
    },
    /// Stop a schedule making jobs (its ticks until it is resumed are skipped).
    Pause {
        /// The schedule.
        name: String,
    },
    /// Let a paused schedule make jobs again, from its next tick.
    Resume {
        /// The schedule.
        name: String,
    },
    /// Submit the schedule's job now, once (prints its id); its ticks are left as they are.
    Run {
        /// The schedule.
        name: String,
    },
}

#[derive(Debug, Args)]
struct AddSchedule {
    /// The schedule's name: 1–64 of A-Z a-z 0-9 _ . -, starting with a letter or digit.
    #[arg(value_name = "NAME")]
    schedule: String,
    /// When: five fields (`*/5 * * * *`), or six with seconds first (`*/10 * * * * *`).
    #[arg(long, value_name = "EXPR")]
    cron: String,
    /// The IANA time zone the expression is read in (default UTC).
    #[arg(long, value_name = "TZ")]
    timezone: Option<String>,
    /// When the service starts after ticks were missed (no host ran), make a job for the
    /// most recent of them (default: skip them all).
    #[arg(long)]
    catch_up: bool,
    /// Create it paused (`schedule resume` starts it).
    #[arg(long)]
    paused: bool,
    #[command(flatten)]
    job: JobOptions,
    #[command(flatten)]
    guest: GuestCommand,
}

impl ScheduleCommand {
    /// Adds, lists, removes, pauses or resumes.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        let stdin = match &self.action {
            ScheduleAction::Add(add) => add.job.read_stdin()?,
            _ => None,
        };
        self.remote.run(async |client| {
            let now = SystemTime::now();
            match &self.action {
                ScheduleAction::Add(add) => {
                    let module = module_ref(&client, &add.guest, false).await?;
                    let request = ScheduleRequest {
                        name: add.schedule.clone(),
                        cron: add.cron.clone(),
                        timezone: add.timezone.clone(),
                        job: add.job.request(&add.guest, module, stdin),
                        enabled: Some(!add.paused),
                        catch_up: Some(add.catch_up),
                    };
                    let created = client
                        .create_schedule(&request)
                        .await
                        .map_err(|error| add.job.in_users_terms(error))?;
                    if !self.remote.print_json(&created)? {
                        println!("schedule {} added; {}", created.name, next_run(&created));
                    }
                }
                ScheduleAction::Ls => {
                    let list = client.schedules().await?;
                    if !self.remote.print_json(&list)? {
                        print!("{}", render(&list, now));
                    }
                }
                ScheduleAction::Rm { name } => {
                    client.delete_schedule(name).await?;
                    if !self.remote.print_json(&serde_json::json!({ "deleted": name }))? {
                        println!("schedule {name} removed");
                    }
                }
                ScheduleAction::Run { name } => {
                    let accepted = client.run_schedule(name).await?;
                    if !self.remote.print_json(&accepted)? {
                        println!("{}", accepted.id);
                    }
                }
                ScheduleAction::Pause { name } | ScheduleAction::Resume { name } => {
                    let enabled = matches!(self.action, ScheduleAction::Resume { .. });
                    let patch = SchedulePatch { enabled: Some(enabled), ..Default::default() };
                    let changed = client.patch_schedule(name, &patch).await?;
                    if !self.remote.print_json(&changed)? {
                        let done = if enabled { "resumed" } else { "paused" };
                        println!("schedule {name} {done}; {}", next_run(&changed));
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        })
    }
}

fn next_run(schedule: &ScheduleView) -> String {
    match &schedule.next_run_at {
        Some(next) if schedule.enabled => format!("next run at {next}"),
        _ => "no run while paused".to_string(),
    }
}

fn render(list: &ScheduleList, now: SystemTime) -> String {
    let header =
        ["NAME", "CRON", "TIMEZONE", "MODULE", "STATE", "LAST RUN", "LAST JOB", "NEXT RUN"];
    let mut rows = vec![header.map(String::from).to_vec()];
    rows.extend(list.schedules.iter().map(|schedule| row(schedule, now)));
    table(&rows)
}

fn row(schedule: &ScheduleView, now: SystemTime) -> Vec<String> {
    let state = match (&schedule.last_error, schedule.enabled) {
        (_, false) => "paused",
        (Some(_), true) => "failing",
        (None, true) => "active",
    };
    let last_job = match (&schedule.last_error, schedule.last_job_id) {
        (Some(error), _) => error.clone(),
        (None, id) => or_dash(id),
    };
    vec![
        schedule.name.clone(),
        schedule.cron.clone(),
        schedule.timezone.clone(),
        schedule.job.module.clone(),
        state.to_string(),
        schedule.last_run_at.as_deref().map_or_else(|| "-".to_string(), |at| ago(at, now)),
        last_job,
        // Relative, as LAST RUN is: one time form in the table (`--json` has the times).
        schedule.next_run_at.as_deref().map_or_else(
            || "-".to_string(),
            |at| until(at, now).map_or_else(|| "due now".to_string(), |wait| format!("in {wait}")),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::wire::JobRequest;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        schedule: ScheduleCommand,
    }

    #[test]
    fn add_takes_submits_options_and_the_guests_words() {
        let argv = [
            "schedule",
            "add",
            "nightly",
            "--cron",
            "0 3 * * *",
            "--catch-up",
            "--timeout",
            "2s",
            "-e",
            "K=V",
            "fib",
            "--paused",
            "30",
        ];
        let command = Cli::try_parse_from(argv).expect("valid arguments").schedule;
        let ScheduleAction::Add(add) = command.action else { panic!("not add") };
        assert_eq!((add.schedule.as_str(), add.cron.as_str()), ("nightly", "0 3 * * *"));
        assert!(add.catch_up && !add.paused, "--paused after MODULE is the guest's");
        let request = add.job.request(&add.guest, "fib".into(), None);
        assert_eq!(request.args, ["--paused", "30"]);
        assert_eq!(request.timeout_ms, Some(2000));
        assert_eq!(request.env.get("K").map(String::as_str), Some("V"));
    }

    #[test]
    fn the_list_says_what_each_schedule_does_and_did() {
        let view = |name: &str, enabled: bool, error: Option<&str>| ScheduleView {
            name: name.into(),
            cron: "*/5 * * * *".into(),
            timezone: "UTC".into(),
            job: JobRequest { module: "fib".into(), ..JobRequest::default() },
            enabled,
            catch_up: false,
            created_at: "2025-01-02T03:00:00Z".into(),
            last_run_at: Some("2025-01-02T03:05:00Z".into()),
            last_job_id: error.is_none().then_some(42),
            last_error: error.map(str::to_string),
            ticks_skipped: 0,
            next_run_at: enabled.then(|| "2025-01-02T03:10:00Z".into()),
        };
        let list = ScheduleList {
            schedules: vec![
                view("a", true, None),
                view("b", false, None),
                view("c", true, Some("no module `fib`")),
            ],
        };
        let now = crate::cli::remote::parse_time("2025-01-02T03:06:00Z").unwrap();
        let text = render(&list, now);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("NAME"), "{text}");
        assert!(lines[1].contains("active") && lines[1].contains(" 42 "), "{text}");
        assert!(lines[1].contains("1m ago") && lines[1].contains("in 4m 0s"), "{text}");
        assert!(!text.contains("2025-01-02T03:10:00Z"), "one time form: {text}");
        assert!(lines[2].contains("paused") && lines[2].trim_end().ends_with('-'), "{text}");
        assert!(lines[3].contains("failing") && lines[3].contains("no module `fib`"), "{text}");
    }
}
