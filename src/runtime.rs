//! The GitHub Actions runtime: step outputs, masks, groups, annotations, the step summary and
//! logging.
//!
//! Everything the action tells the runner goes through this module, so that one place knows the
//! runner's file-command and workflow-command formats and one place redacts secrets. Outside a
//! runner (no `GITHUB_OUTPUT`, no `GITHUB_STEP_SUMMARY`) the same information goes to standard output
//! in a readable form.

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

/// Shortest value that is masked; shorter values would redact ordinary words.
const MIN_MASK_LEN: usize = 4;

/// The runner side of one process: where outputs and the summary go, and which values are secret.
#[derive(Default)]
pub struct Runtime {
    output_file: Option<PathBuf>,
    summary_file: Option<PathBuf>,
    debug: bool,
    on_runner: bool,
    state: Mutex<State>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Masks and outputs hold secrets: never printed.
        f.debug_struct("Runtime")
            .field("output_file", &self.output_file)
            .field("summary_file", &self.summary_file)
            .field("debug", &self.debug)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct State {
    masks: Vec<String>,
    summary: String,
    delimiter_seq: u64,
}

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

impl Runtime {
    /// Reads the runner's environment (`GITHUB_OUTPUT`, `GITHUB_STEP_SUMMARY`, `RUNNER_DEBUG`).
    pub fn from_env() -> Self {
        let path = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Runtime {
            output_file: path("GITHUB_OUTPUT"),
            summary_file: path("GITHUB_STEP_SUMMARY"),
            debug: std::env::var("RUNNER_DEBUG").is_ok_and(|v| v == "1"),
            on_runner: std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true"),
            state: Mutex::default(),
        }
    }

    /// Installs the process-wide runtime (first call wins) and returns it.
    pub fn install(runtime: Runtime) -> &'static Runtime {
        RUNTIME.get_or_init(|| runtime)
    }

    /// The process-wide runtime; a default one (stdout only) when none was installed.
    pub fn get() -> &'static Runtime {
        RUNTIME.get_or_init(Runtime::default)
    }

    /// Whether debug lines are shown (`RUNNER_DEBUG=1`).
    pub fn debug_enabled(&self) -> bool {
        self.debug
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a secret: the runner masks it from now on and this process redacts it from
    /// everything it prints or writes. Every line of a multi-line secret is masked on its own, as
    /// the runner matches masks line by line.
    pub fn mask(&self, secret: &str) {
        let mut state = self.lock();
        for part in std::iter::once(secret).chain(secret.lines()) {
            let part = part.trim();
            if part.len() < MIN_MASK_LEN || state.masks.iter().any(|m| m == part) {
                continue;
            }
            // The runner's own command goes out unredacted, by design: it is what makes the runner
            // hide the value. Off a runner nobody reads it, so it is not printed at all.
            if self.on_runner {
                emit_line(&format!("::add-mask::{}", escape_data(part)));
            }
            state.masks.push(part.to_string());
        }
        // Longest first, so that a secret containing another is redacted whole.
        state.masks.sort_by_key(|m| std::cmp::Reverse(m.len()));
    }

    /// Replaces every registered secret in `text` with `***`.
    pub fn redact(&self, text: &str) -> String {
        let state = self.lock();
        redact_with(&state.masks, text)
    }

    /// Writes one log line to the step log (standard error), redacted.
    pub fn log(&self, line: &str) {
        let line = self.redact(line);
        emit_line(&line);
    }

    /// Starts a collapsible group in the step log.
    pub fn group(&self, title: &str) {
        emit_line(&format!("::group::{}", escape_data(&self.redact(title))));
    }

    /// Ends the current group.
    pub fn end_group(&self) {
        emit_line("::endgroup::");
    }

    /// Emits an `::error::` annotation with a title.
    pub fn error(&self, title: &str, message: &str) {
        // Redact first: escaping could break a secret's match with its mask.
        emit_line(&format!(
            "::error title={}::{}",
            escape_property(&self.redact(title)),
            escape_data(&self.redact(message))
        ));
    }

    /// Emits a `::warning::` annotation.
    pub fn warning(&self, message: &str) {
        emit_line(&format!(
            "::warning::{}",
            escape_data(&self.redact(message))
        ));
    }

    /// Emits a debug line when `RUNNER_DEBUG=1`.
    pub fn debug(&self, message: &str) {
        if self.debug {
            emit_line(&format!("::debug::{}", escape_data(&self.redact(message))));
        }
    }

    /// Sets a step output: written to `GITHUB_OUTPUT` at once in the multi-line-safe delimiter
    /// form, and remembered so that later commands of the same step can read it.
    pub fn set_output(&self, name: &str, value: &str) -> std::io::Result<()> {
        let mut state = self.lock();
        // The file gets the real value (a secure output is useful to later steps only whole); the
        // caller masks secret values before setting them, so the runner hides them in logs.
        match &self.output_file {
            Some(path) => {
                state.delimiter_seq += 1;
                let record = file_command(name, value, state.delimiter_seq);
                let mut file = OpenOptions::new().append(true).create(true).open(path)?;
                file.write_all(record.as_bytes())?;
                Ok(())
            }
            None => {
                println!("output {name}={}", redact_with(&state.masks, value));
                Ok(())
            }
        }
    }

    /// Opens `GITHUB_OUTPUT` and `GITHUB_STEP_SUMMARY` (when set) for appending, writing nothing:
    /// a step whose runner hands it a path it cannot write must stop before its first request,
    /// not after the Key Vault write and the token revocation.
    pub fn check_files(&self) -> Result<(), (PathBuf, std::io::Error)> {
        for path in [&self.output_file, &self.summary_file]
            .into_iter()
            .flatten()
        {
            OpenOptions::new()
                .append(true)
                .create(true)
                .open(path)
                .map_err(|e| (path.clone(), e))?;
        }
        Ok(())
    }

    /// Appends Markdown to the step summary (flushed by [`Runtime::flush_summary`]).
    pub fn summary(&self, markdown: &str) {
        self.lock().summary.push_str(markdown);
    }

    /// Writes the collected step summary to `GITHUB_STEP_SUMMARY`, or to stdout outside a runner.
    pub fn flush_summary(&self) -> std::io::Result<()> {
        let mut state = self.lock();
        if state.summary.is_empty() {
            return Ok(());
        }
        let summary = std::mem::take(&mut state.summary);
        let text = redact_with(&state.masks, &summary);
        match &self.summary_file {
            Some(path) => {
                let mut file = OpenOptions::new().append(true).create(true).open(path)?;
                file.write_all(text.as_bytes())
            }
            None => {
                println!("\n{text}");
                Ok(())
            }
        }
    }
}

fn redact_with(masks: &[String], text: &str) -> String {
    let mut out = text.to_string();
    for mask in masks {
        if out.contains(mask.as_str()) {
            out = out.replace(mask.as_str(), "***");
        }
    }
    out
}

fn emit_line(line: &str) {
    let stderr = std::io::stderr();
    let mut handle = stderr.lock();
    let _ = writeln!(handle, "{line}");
}

fn unique_delimiter(value: &str, seq: u64) -> String {
    let mut delimiter = format!("ghadelimiter_{}_{seq}", std::process::id());
    while value.contains(&delimiter) {
        delimiter.push('_');
    }
    delimiter
}

/// Escapes the message part of a workflow command.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property value of a workflow command.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// A Markdown table for the step summary.
pub fn markdown_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(
        out,
        "|{}",
        header.iter().map(|_| " --- |").collect::<String>()
    );
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .map(|c| c.replace('|', "\\|").replace('\n', " "))
            .collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out
}

/// Log a plain informative line on the step log.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => { $crate::runtime::Runtime::get().log(&format!($($arg)*)) };
}

/// One output in the runner's multi-line-safe file-command form (`NAME<<DELIMITER`, the value,
/// the delimiter), with a delimiter that occurs in no line of the value.
pub fn file_command(name: &str, value: &str, seq: u64) -> String {
    let delimiter = unique_delimiter(value, seq);
    format!("{name}<<{delimiter}\n{value}\n{delimiter}\n")
}

/// Log a debug line (shown with `RUNNER_DEBUG=1`).
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => {{
        let rt = $crate::runtime::Runtime::get();
        if rt.debug_enabled() { rt.debug(&format!($($arg)*)); }
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_longest_first() {
        // Registered shortest first: the runtime must put the longer one ahead, or the longer
        // secret's tail would survive its shorter prefix's redaction.
        let rt = Runtime::default();
        rt.mask("abcd");
        rt.mask("abcdef");
        assert_eq!(rt.redact("x abcdef y abcd"), "x *** y ***");
    }

    #[test]
    fn delimiter_never_occurs_in_value() {
        // A value that holds the delimiter the runtime would pick first, on a line of its own
        // and inside a line: the runner would end the value there.
        let first = unique_delimiter("a", 1);
        let value = format!("one\n{first}\ntwo {first}_ three");
        let chosen = unique_delimiter(&value, 1);
        assert_ne!(chosen, first);
        assert!(!value.contains(&chosen), "{chosen} occurs in the value");
        let record = file_command("out", &value, 1);
        let body: Vec<&str> = record
            .lines()
            .skip(1)
            .take_while(|l| *l != chosen)
            .collect();
        assert_eq!(body.join("\n"), value);
    }

    #[test]
    fn output_file_uses_delimiter_form() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let rt = Runtime {
            output_file: Some(path.clone()),
            ..Runtime::default()
        };
        rt.set_output("multi", "a\nb").unwrap();
        let text = std::fs::read_to_string(path).unwrap();
        let mut lines = text.lines();
        let first = lines.next().unwrap();
        let delimiter = first.strip_prefix("multi<<").unwrap();
        assert_eq!(lines.next(), Some("a"));
        assert_eq!(lines.next(), Some("b"));
        assert_eq!(lines.next(), Some(delimiter));
    }

    #[test]
    fn table_escapes_pipes() {
        let t = markdown_table(&["a", "b"], &[vec!["x|y".into(), "z".into()]]);
        assert_eq!(t, "| a | b |\n| --- | --- |\n| x\\|y | z |\n");
    }
}
