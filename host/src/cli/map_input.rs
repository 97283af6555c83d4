//! What `map` runs, read the way GNU parallel reads it: the inputs (ARGs, a `:::` list, the
//! lines of a file or of stdin) and the command-line template they fill.
//!
//! - `map M a b c`: one job per ARG, the ARG its one argument.
//! - `map M TEMPLATE... ::: a b c`: one job per item after `:::`.
//! - `map M TEMPLATE... --args-file FILE` (`-` for stdin), or `map M -`: one job per line.
//! - A template word may hold `{}` (the input) and `{#}` (the job's sequence number, from 1);
//!   a template with neither has the input appended, split into words when it is a line.
//! - A template with placeholders and no other source reads its inputs from stdin.

use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::process::ExitCode;

/// Separates a template from its inputs, as in GNU parallel.
pub const LIST_SEPARATOR: &str = ":::";

/// Why `map`'s inputs could not be read: a usage error.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// Nothing to run.
    #[error("no jobs: give at least one ARG, a `:::` list, or a non-empty --args-file")]
    NoJobs,
    /// A line's quoting does not close.
    #[error("{file} line {line}: unbalanced quotes in `{text}`")]
    Quoting {
        /// The file, or `stdin`.
        file: String,
        /// The line's number, from 1.
        line: usize,
        /// The line.
        text: String,
    },
    /// The inputs were to come from stdin, but stdin is a terminal.
    #[error(
        "the inputs would come from stdin, which is a terminal: pipe them in, or give `:::` or --args-file"
    )]
    StdinIsTerminal,
    /// The file could not be read.
    #[error("cannot read {path}: {error}")]
    Read {
        /// The file, or `stdin`.
        path: String,
        /// Why.
        error: std::io::Error,
    },
}

/// One input: the text `{}` stands for, and how it splits into arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Input {
    text: String,
    words: Vec<String>,
}

/// Each job's arguments after the program name, in input order.
pub fn jobs(args: &[String], args_file: Option<&Path>) -> Result<Vec<Vec<String>>, InputError> {
    let (template, list) = match args.iter().position(|arg| arg == LIST_SEPARATOR) {
        Some(at) => (&args[..at], Some(&args[at + 1..])),
        None => (args, None),
    };
    let placeholders = template.iter().any(|word| has_placeholder(word));
    let (template, inputs): (&[String], Vec<Input>) = match (list, args_file) {
        (Some(items), file) => {
            let mut inputs: Vec<Input> = items.iter().map(|item| Input::word(item)).collect();
            if let Some(file) = file {
                inputs.extend(read_lines(file)?);
            }
            (template, inputs)
        }
        (None, Some(file)) => (template, read_lines(file)?),
        (None, None) if template == ["-"] => (&[], read_lines(Path::new("-"))?),
        (None, None) if placeholders => (template, read_lines(Path::new("-"))?),
        (None, None) => (&[], template.iter().map(|arg| Input::word(arg)).collect()),
    };
    if inputs.is_empty() {
        return Err(InputError::NoJobs);
    }
    Ok(inputs
        .into_iter()
        .enumerate()
        .map(|(index, input)| fill(template, placeholders, &input, index + 1))
        .collect())
}

impl Input {
    fn word(text: &str) -> Input {
        Input { text: text.to_string(), words: vec![text.to_string()] }
    }
}

fn has_placeholder(word: &str) -> bool {
    word.contains("{}") || word.contains("{#}")
}

/// The arguments of the job numbered `seq` (from 1).
fn fill(template: &[String], placeholders: bool, input: &Input, seq: usize) -> Vec<String> {
    if !placeholders {
        return template.iter().cloned().chain(input.words.iter().cloned()).collect();
    }
    let seq = seq.to_string();
    template.iter().map(|word| word.replace("{}", &input.text).replace("{#}", &seq)).collect()
}

/// The inputs of a file (`-`: stdin), one per line: blank lines and lines starting with `#`
/// are skipped; a line splits into words as a POSIX shell would (quotes and backslashes),
/// without expanding anything.
fn read_lines(path: &Path) -> Result<Vec<Input>, InputError> {
    let (name, text) = if path == Path::new("-") {
        let mut stdin = std::io::stdin();
        if stdin.is_terminal() {
            return Err(InputError::StdinIsTerminal);
        }
        let mut text = String::new();
        stdin
            .read_to_string(&mut text)
            .map_err(|error| InputError::Read { path: "stdin".into(), error })?;
        ("stdin".to_string(), text)
    } else {
        let text = std::fs::read_to_string(path)
            .map_err(|error| InputError::Read { path: path.display().to_string(), error })?;
        (path.display().to_string(), text)
    };
    parse_lines(&name, &text)
}

fn parse_lines(source: &str, text: &str) -> Result<Vec<Input>, InputError> {
    let mut inputs = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let words = shlex::split(line).ok_or_else(|| InputError::Quoting {
            file: source.to_string(),
            line: number + 1,
            text: line.to_string(),
        })?;
        inputs.push(Input { text: line.to_string(), words });
    }
    Ok(inputs)
}

/// Prints each job's command line (`map --dry-run`) and exits 0, as `parallel --dry-run`
/// does.
pub fn print_commands(program: &str, inputs: Vec<Vec<String>>) -> ExitCode {
    let mut out = std::io::stdout().lock();
    for (index, words) in inputs.into_iter().enumerate() {
        let argv: Vec<String> = std::iter::once(program)
            .chain(words.iter().map(String::as_str))
            .map(|word| shlex::try_quote(word).map_or_else(|_| word.into(), |w| w.into_owned()))
            .collect();
        if writeln!(out, "{index}\t{}", argv.join(" ")).is_err() {
            break; // A closed pipe: nobody reads the rest.
        }
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(words: &[&str]) -> Vec<String> {
        words.iter().map(|word| word.to_string()).collect()
    }

    #[test]
    fn each_arg_is_one_job_without_a_template() {
        let jobs = jobs(&strings(&["1", "-x", "a b"]), None).unwrap();
        assert_eq!(jobs, [strings(&["1"]), strings(&["-x"]), strings(&["a b"])]);
    }

    #[test]
    fn a_list_fills_the_template() {
        let jobs = jobs(&strings(&["n={}", "seq={#}", ":::", "5", "6"]), None).unwrap();
        assert_eq!(jobs, [strings(&["n=5", "seq=1"]), strings(&["n=6", "seq=2"])]);
        let appended = super::jobs(&strings(&["--fast", ":::", "5", "6"]), None).unwrap();
        assert_eq!(appended, [strings(&["--fast", "5"]), strings(&["--fast", "6"])]);
    }

    #[test]
    fn lines_split_like_a_shell_and_skip_comments_and_blanks() {
        let inputs = parse_lines("f", "a 'b c'\n\n  # note\nd\\ e \"f\"\r\n").unwrap();
        let words: Vec<_> = inputs.iter().map(|input| input.words.clone()).collect();
        assert_eq!(words, [strings(&["a", "b c"]), strings(&["d e", "f"])]);
        assert_eq!(inputs[0].text, "a 'b c'");
    }

    #[test]
    fn unbalanced_quotes_name_the_line() {
        let error = parse_lines("jobs.txt", "ok\n'open\n").unwrap_err().to_string();
        assert!(error.contains("jobs.txt line 2"), "{error}");
    }

    #[test]
    fn a_template_line_is_one_input() {
        let inputs = parse_lines("f", "a b\n").unwrap();
        let job = fill(&strings(&["x={}"]), true, &inputs[0], 1);
        assert_eq!(job, strings(&["x=a b"]));
    }

    #[test]
    fn nothing_to_run_is_an_error() {
        assert!(matches!(jobs(&strings(&["t", ":::"]), None), Err(InputError::NoJobs)));
        assert!(matches!(jobs(&[], None), Err(InputError::NoJobs)));
    }
}
