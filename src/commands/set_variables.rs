//! `set-variables`: write GitHub Actions variables from literals or earlier outputs, creating or
//! updating only what changed (SPEC §3.3).
//!
//! [`Request::from_inputs`] checks every input of the command before the step sends its first
//! request; [`run`] orchestrates: resolve the values, find the target and its token, compare with
//! what is there, write the difference, report. The GitHub routes and bodies are
//! [`crate::github::variables`]'s.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures::StreamExt as _;

use super::{Context, Earlier};
use crate::cli::Inputs;
use crate::error::{Error, Result};
use crate::github::GitHubConfig;
use crate::github::variables::{Target, Visibility, WriteOutcome};
use crate::github::{GitHub, InstallationToken, Variable};
use crate::key::AppKey;
use crate::runtime::markdown_table;
use crate::say;
use crate::secret::Secret;
use crate::session::Session;

/// Largest value GitHub accepts, in bytes.
const MAX_VALUE_BYTES: usize = 48 * 1024;
/// Writes in flight at once.
const CONCURRENCY: usize = 8;

/// The checked `set-variables` inputs.
#[derive(Debug)]
pub struct Request {
    scope: Scope,
    /// `variables`, in the order given.
    given: Vec<Given>,
    /// `export-outputs`.
    export_outputs: bool,
    credentials: Credentials,
}

/// Where the variables live, as the inputs name it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scope {
    Repository(String),
    Organization {
        org: String,
        visibility: Visibility,
        /// `selected`: the repository that may read the variables.
        selected_repository: Option<String>,
    },
    Environment {
        repository: String,
        name: String,
    },
}

impl Scope {
    fn describe(&self) -> String {
        match self {
            Scope::Repository(r) => format!("repository {r}"),
            Scope::Organization {
                org, visibility, ..
            } => {
                format!("organization {org} (visibility {})", visibility.as_str())
            }
            Scope::Environment { repository, name } => {
                format!("environment {name} of {repository}")
            }
        }
    }

    /// Variables a scope holds at most (GitHub's documented limits).
    fn limit(&self) -> usize {
        match self {
            Scope::Repository(_) => 500,
            Scope::Organization { .. } => 1000,
            Scope::Environment { .. } => 100,
        }
    }

    /// The installation permission that writes here.
    fn permission(&self) -> (&'static str, &'static str) {
        match self {
            Scope::Organization { .. } => ("organization_actions_variables", "write"),
            _ => ("actions_variables", "write"),
        }
    }

    /// Where the App's installation is looked for: the owner, and the repository if any.
    fn installation_target(&self) -> (String, Option<String>) {
        match self {
            Scope::Organization { org, .. } => (org.clone(), None),
            Scope::Repository(r) | Scope::Environment { repository: r, .. } => (
                r.split('/').next().unwrap_or_default().to_string(),
                Some(r.clone()),
            ),
        }
    }

    /// GitHub's address of the scope (environment and `selected` scopes name repositories by
    /// id, which takes a request).
    async fn target(&self, gh: &GitHub, token: &Secret) -> Result<Target> {
        Ok(match self {
            Scope::Repository(r) => Target::Repository(r.clone()),
            Scope::Environment { repository, name } => Target::Environment {
                repository_id: gh.repository_id(repository, token).await?,
                name: name.clone(),
            },
            Scope::Organization {
                org,
                visibility,
                selected_repository,
            } => {
                let mut selected_repository_ids = Vec::new();
                if let Some(repo) = selected_repository {
                    selected_repository_ids.push(gh.repository_id(repo, token).await?);
                }
                Target::Organization {
                    org: org.clone(),
                    visibility: *visibility,
                    selected_repository_ids,
                }
            }
        })
    }
}

/// One entry of `variables`.
#[derive(Debug, Clone)]
struct Given {
    name: String,
    value: Source,
}

/// Where a value comes from.
#[derive(Debug, Clone)]
enum Source {
    /// Written as given.
    Literal(String),
    /// `{ output: NAME }`: an output of an earlier command of the step, read when the command
    /// runs.
    Output(String),
}

/// Who writes: `github-token`, else the GitHub App.
#[derive(Debug)]
enum Credentials {
    Token(Arc<Secret>),
    App {
        app_id: String,
        key: Arc<AppKey>,
        installation_id: Option<u64>,
    },
}

/// The token a run writes with.
enum WriteToken<'a> {
    Given(&'a Secret),
    Installation(Arc<InstallationToken>),
}

impl WriteToken<'_> {
    fn secret(&self) -> &Secret {
        match self {
            WriteToken::Given(s) => s,
            WriteToken::Installation(t) => &t.token,
        }
    }
}

/// One variable to write.
#[derive(Debug, Clone)]
struct Desired {
    name: String,
    value: String,
}

/// What to do with one variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Create,
    Update,
    Unchanged,
}

impl Request {
    /// Checks every `set-variables` input (scope, environment, visibility, the shape and names of
    /// `variables`, `export-outputs`, and the credentials: `github-token`, else `app-id`,
    /// `private-key` and `installation-id`) without sending a request.
    pub fn from_inputs(i: &Inputs, github: &GitHubConfig) -> Result<Request> {
        let scope = scope(i, github)?;
        let given = match Inputs::text(&i.variables) {
            Some(text) => parse_given(&text)?,
            None => Vec::new(),
        };
        let export_outputs = Inputs::boolean(&i.export_outputs, "export-outputs", false)?;
        let literals: Vec<Desired> = given
            .iter()
            .map(|g| Desired {
                name: g.name.clone(),
                value: match &g.value {
                    Source::Literal(v) => v.clone(),
                    // Not known yet; checked when the command runs.
                    Source::Output(_) => "-".into(),
                },
            })
            .collect();
        check(&literals)?;
        if literals.is_empty() && !export_outputs {
            return Err(nothing_named());
        }
        Ok(Request {
            scope,
            given,
            export_outputs,
            credentials: credentials(github)?,
        })
    }

    /// The variables to write: `variables` with their outputs read, then (with export-outputs)
    /// the deployment outputs; every name and value checked before anything is written.
    fn desired(&self, step: &Session, earlier: &Earlier) -> Result<Vec<Desired>> {
        let outputs = earlier.outputs();
        let mut out = resolve(&self.given, &outputs)?;
        if self.export_outputs {
            let exported: Vec<(String, bool)> = earlier
                .deploy
                .iter()
                .flat_map(|d| &d.deployment_outputs)
                .map(|o| (o.name.clone(), o.secure))
                .collect();
            if exported.is_empty() {
                step.rt.warning(
                    "export-outputs is true but no deployment ran before set-variables in this step: put deploy in `command`",
                );
            }
            for (output, secure) in exported {
                if secure {
                    say!("  {output}: secure output, not exported");
                    continue;
                }
                let name = upper_snake(&output);
                if out.iter().any(|d| d.name.eq_ignore_ascii_case(&name)) {
                    continue;
                }
                let value = outputs.get(&output).cloned().unwrap_or_default();
                out.push(Desired { name, value });
            }
        }
        check(&out)?;
        if out.is_empty() {
            return Err(nothing_named());
        }
        Ok(out)
    }

    /// The token that writes: `github-token`, else an installation token of the App for the
    /// scope (the step's one token).
    async fn token<'a>(
        &'a self,
        step: &Session,
        gh: &GitHub,
        token_permissions: &BTreeMap<String, String>,
    ) -> Result<WriteToken<'a>> {
        let (app_id, key, installation_id) = match &self.credentials {
            Credentials::Token(t) => return Ok(WriteToken::Given(t)),
            Credentials::App {
                app_id,
                key,
                installation_id,
            } => (app_id, key, installation_id),
        };
        let jwt = gh.app_jwt(app_id, key)?;
        let installation_id = match installation_id {
            Some(id) => *id,
            None => {
                let (owner, repository) = self.scope.installation_target();
                step.find_installation(&jwt, app_id, &owner, repository.as_deref())
                    .await?
                    .id
            }
        };
        let token = step
            .installation_token(&jwt, installation_id, Some(token_permissions))
            .await
            .map_err(|e| lacks_permission(e, &self.scope))?;
        Ok(WriteToken::Installation(token))
    }
}

impl Request {
    /// The installation permission that writes where the variables go.
    pub fn permission(&self) -> (&'static str, &'static str) {
        self.scope.permission()
    }
}

/// Runs `set-variables`.
pub async fn run(step: &Session, req: &Request, ctx: &Context<'_>) -> Result<()> {
    let desired = req.desired(step, ctx.earlier)?;
    say!("{} variable(s) for {}", desired.len(), req.scope.describe());
    let gh = step.github().await?;
    let token = req.token(step, gh, ctx.token_permissions).await?;
    let token = token.secret();
    let target = req.scope.target(gh, token).await?;
    let existing = gh.list_variables(&target, token).await?;
    let plan = compare(&req.scope, desired, existing)?;
    let writes: Vec<&(Desired, Action)> = plan
        .iter()
        .filter(|(_, a)| *a != Action::Unchanged)
        .collect();
    if step.dry_run {
        for (d, a) in &writes {
            say!("dry-run: would {} {}", verb(*a), d.name);
        }
    } else {
        let results: Vec<Result<()>> =
            futures::stream::iter(writes.iter().map(|(d, a)| write(gh, &target, token, d, *a)))
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
        for r in results {
            r?;
        }
    }
    report(step, &req.scope, &plan, writes.is_empty())
}

/// What to do with each variable, given what `existing` holds; refuses to pass the scope's
/// limit.
fn compare(
    scope: &Scope,
    desired: Vec<Desired>,
    existing: Vec<Variable>,
) -> Result<Vec<(Desired, Action)>> {
    let existing: BTreeMap<String, Variable> = existing
        .into_iter()
        .map(|v| (v.name.to_ascii_uppercase(), v))
        .collect();
    let plan: Vec<(Desired, Action)> = desired
        .into_iter()
        .map(|d| {
            let action = match existing.get(&d.name.to_ascii_uppercase()) {
                None => Action::Create,
                Some(v) => {
                    let visibility_differs = match (scope, &v.visibility) {
                        (Scope::Organization { visibility, .. }, Some(have)) => {
                            have != visibility.as_str()
                        }
                        _ => false,
                    };
                    if v.value == d.value && !visibility_differs {
                        Action::Unchanged
                    } else {
                        Action::Update
                    }
                }
            };
            (d, action)
        })
        .collect();
    let creates = plan.iter().filter(|(_, a)| *a == Action::Create).count();
    if existing.len() + creates > scope.limit() {
        return Err(Error::input(
            "variables",
            format!(
                "{} holds {} variables; {creates} more would pass GitHub's limit of {} for this scope",
                scope.describe(),
                existing.len(),
                scope.limit()
            ),
        ));
    }
    Ok(plan)
}

/// One write; a create that meets 409 becomes an update, an update that meets 404 a create.
async fn write(
    gh: &GitHub,
    target: &Target,
    token: &Secret,
    d: &Desired,
    action: Action,
) -> Result<()> {
    let (name, value) = (d.name.as_str(), d.value.as_str());
    let first = match action {
        Action::Create => gh.create_variable(target, token, name, value).await?,
        _ => gh.update_variable(target, token, name, value).await?,
    };
    if first == WriteOutcome::Done {
        return Ok(());
    }
    let second = match action {
        Action::Create => {
            say!("  {name} appeared meanwhile (409): updating it instead");
            gh.update_variable(target, token, name, value).await?
        }
        _ => {
            say!("  {name} vanished meanwhile (404): creating it instead");
            gh.create_variable(target, token, name, value).await?
        }
    };
    match second {
        WriteOutcome::Done => Ok(()),
        WriteOutcome::Conflict => Err(Error::GitHub {
            action: format!("writing variable {name}"),
            status: 409,
            detail: "another writer keeps changing it".into(),
            fix: "Rerun the step; make sure only one workflow writes this variable".into(),
        }),
    }
}

/// The log lines, the counts as outputs, and the summary's table.
fn report(
    step: &Session,
    scope: &Scope,
    plan: &[(Desired, Action)],
    nothing_written: bool,
) -> Result<()> {
    let count = |a: Action| plan.iter().filter(|(_, x)| *x == a).count();
    let (created, updated, unchanged) = (
        count(Action::Create),
        count(Action::Update),
        count(Action::Unchanged),
    );
    for (d, a) in plan {
        say!("  {}: {}", d.name, verb_past(*a, step.dry_run));
    }
    if nothing_written {
        say!("Every variable is already up to date: nothing written");
    }
    step.output("variables-created", &created.to_string())?;
    step.output("variables-updated", &updated.to_string())?;
    step.output("variables-unchanged", &unchanged.to_string())?;
    let rows: Vec<Vec<String>> = plan
        .iter()
        .map(|(d, a)| {
            vec![
                format!("`{}`", d.name),
                verb_past(*a, step.dry_run).to_string(),
            ]
        })
        .collect();
    step.rt.summary(&format!(
        "### set-variables{}: {}\n\n{}\n{created} created, {updated} updated, {unchanged} unchanged.\n\n",
        if step.dry_run { " (dry run)" } else { "" },
        scope.describe(),
        markdown_table(&["Variable", "Result"], &rows)
    ));
    Ok(())
}

fn verb(a: Action) -> &'static str {
    match a {
        Action::Create => "create",
        Action::Update => "update",
        Action::Unchanged => "leave",
    }
}

fn verb_past(a: Action, dry_run: bool) -> &'static str {
    match (a, dry_run) {
        (Action::Create, false) => "created",
        (Action::Update, false) => "updated",
        (Action::Create, true) => "would be created",
        (Action::Update, true) => "would be updated",
        (Action::Unchanged, _) => "unchanged",
    }
}

fn nothing_named() -> Error {
    Error::input(
        "variables",
        "names no variable (and export-outputs found no deployment output); give `variables: { NAME: value }` or `export-outputs: true` after deploy",
    )
}

/// A token request GitHub refuses for a permission the installation lacks says which.
fn lacks_permission(e: Error, scope: &Scope) -> Error {
    let (perm, level) = scope.permission();
    match e {
        Error::GitHub { status: 422, .. } => Error::GitHub {
            action: "creating an installation token for set-variables".into(),
            status: 422,
            detail: format!("the App's installation does not grant `{perm}: {level}`"),
            fix: format!(
                "Add the permission in the App's settings (Permissions → {}), then accept it on the installation",
                if perm.starts_with("organization") {
                    "Organization permissions → Variables"
                } else {
                    "Repository permissions → Variables"
                }
            ),
        },
        other => other,
    }
}

fn scope(i: &Inputs, github: &GitHubConfig) -> Result<Scope> {
    let repository = || github.repository.clone();
    let kind = Inputs::text(&i.variables_scope).unwrap_or_else(|| "repository".into());
    Ok(match kind.as_str() {
        "repository" => Scope::Repository(repository().ok_or_else(|| {
            Error::input(
                "repository",
                "is required for repository variables (owner/name)",
            )
        })?),
        "environment" => Scope::Environment {
            repository: repository().ok_or_else(|| {
                Error::input(
                    "repository",
                    "is required for environment variables (owner/name)",
                )
            })?,
            name: Inputs::required(
                &i.environment,
                "environment",
                "for `variables-scope: environment`: name the environment",
            )?,
        },
        "organization" => organization_scope(i, github)?,
        other => {
            return Err(Error::input(
                "variables-scope",
                format!("`{other}` is not repository, organization or environment"),
            ));
        }
    })
}

fn organization_scope(i: &Inputs, github: &GitHubConfig) -> Result<Scope> {
    let text = Inputs::text(&i.variables_visibility).unwrap_or_else(|| "private".into());
    let Some(visibility) = Visibility::parse(&text) else {
        return Err(Error::input(
            "variables-visibility",
            format!("`{text}` is not all, private or selected"),
        ));
    };
    let org = github
        .owner
        .clone()
        .ok_or_else(|| Error::input("owner", "is required for organization variables"))?;
    let selected_repository = match visibility {
        Visibility::Selected => Some(github.repository.clone().ok_or_else(|| {
            Error::input(
                "repository",
                "is needed for `variables-visibility: selected` (the repository that may read the variables)",
            )
        })?),
        _ => None,
    };
    Ok(Scope::Organization {
        org,
        visibility,
        selected_repository,
    })
}

/// `github-token`, else the App: `app-id`, `private-key` and `installation-id`.
fn credentials(github: &GitHubConfig) -> Result<Credentials> {
    if let Some(t) = &github.token {
        return Ok(Credentials::Token(t.clone()));
    }
    let app_id = github.app_id.clone().ok_or_else(|| {
        Error::input(
            "app-id",
            "is required for set-variables (or give `github-token`): the GitHub App that writes the variables",
        )
    })?;
    let key = github.key.clone().ok_or_else(|| {
        Error::input(
            "private-key",
            "is required for set-variables with the GitHub App (or give `github-token`)",
        )
    })?;
    Ok(Credentials::App {
        app_id,
        key,
        installation_id: github.installation_id,
    })
}

/// Every name and value GitHub would refuse, in one error: nothing is written then.
fn check(variables: &[Desired]) -> Result<()> {
    let mut errors = Vec::new();
    let mut seen = BTreeSet::new();
    for d in variables {
        if let Some(problem) = name_problem(&d.name) {
            errors.push(format!("`{}` {problem}", d.name));
        }
        if !seen.insert(d.name.to_ascii_uppercase()) {
            errors.push(format!(
                "`{}` is given twice (names are case-insensitive)",
                d.name
            ));
        }
        if d.value.len() > MAX_VALUE_BYTES {
            errors.push(format!(
                "`{}` is {} bytes; GitHub allows 48 KB a value",
                d.name,
                d.value.len()
            ));
        }
        if d.value.is_empty() {
            errors.push(format!(
                "`{}` is empty; GitHub refuses empty values",
                d.name
            ));
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    Err(Error::input(
        "variables",
        format!("nothing was written: {}", errors.join("; ")),
    ))
}

/// Reads the `variables` YAML map: `NAME: value` or `NAME: { output: OUTPUT }`. Names are
/// checked with the values, by [`check`].
fn parse_given(text: &str) -> Result<Vec<Given>> {
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(text)
        .map_err(|e| Error::input("variables", format!("is not a YAML map ({e})")))?;
    let Some(map) = yaml.as_mapping() else {
        return Err(Error::input(
            "variables",
            "must be a YAML map of NAME: value (or NAME: { output: OUTPUT })",
        ));
    };
    let mut out = Vec::new();
    for (k, v) in map {
        let name = match k {
            serde_yaml_ng::Value::String(s) => s.clone(),
            other => serde_yaml_ng::to_string(other)
                .unwrap_or_default()
                .trim()
                .to_string(),
        };
        let value = match v {
            serde_yaml_ng::Value::String(s) => Source::Literal(s.clone()),
            serde_yaml_ng::Value::Bool(b) => Source::Literal(b.to_string()),
            serde_yaml_ng::Value::Number(n) => Source::Literal(n.to_string()),
            serde_yaml_ng::Value::Mapping(m) if m.len() == 1 => {
                let Some(output) = m.get("output").and_then(|o| o.as_str()) else {
                    return Err(Error::input(
                        "variables",
                        format!("variable `{name}`: a map value must be {{ output: NAME }}"),
                    ));
                };
                Source::Output(output.to_string())
            }
            _ => {
                return Err(Error::input(
                    "variables",
                    format!(
                        "variable `{name}` must be a string, number, boolean or {{ output: NAME }}"
                    ),
                ));
            }
        };
        out.push(Given { name, value });
    }
    Ok(out)
}

/// The values of `given`, outputs read from `outputs` (those of the step's earlier commands).
fn resolve(given: &[Given], outputs: &BTreeMap<String, String>) -> Result<Vec<Desired>> {
    given
        .iter()
        .map(|g| {
            let value = match &g.value {
                Source::Literal(v) => v.clone(),
                Source::Output(output) => outputs.get(output).cloned().ok_or_else(|| {
                    Error::input(
                        "variables",
                        format!(
                            "variable `{}` takes output `{output}`, which no earlier command of this step produced; add the command that produces it to `command`",
                            g.name
                        ),
                    )
                })?,
            };
            Ok(Desired {
                name: g.name.clone(),
                value,
            })
        })
        .collect()
}

/// Reads the `variables` YAML map, `NAME: value` or `NAME: { output: OUTPUT }` (an output of an
/// earlier command of the step, from `outputs`), into names and values. Names are not checked.
pub fn parse_variables(
    text: &str,
    outputs: &BTreeMap<String, String>,
) -> Result<Vec<(String, String)>> {
    let given = parse_given(text)?;
    Ok(resolve(&given, outputs)?
        .into_iter()
        .map(|d| (d.name, d.value))
        .collect())
}

/// Why GitHub would refuse a variable name, if it would.
fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("is empty");
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Some("may hold only letters, digits and underscores");
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        return Some("must not start with a digit");
    }
    if name.to_ascii_uppercase().starts_with("GITHUB_") {
        return Some("must not start with GITHUB_");
    }
    None
}

/// `gitHubAppKeySecretUri` → `GIT_HUB_APP_KEY_SECRET_URI`, `apiURL` → `API_URL`.
pub fn upper_snake(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (idx, &c) in chars.iter().enumerate() {
        if idx > 0 && c.is_ascii_uppercase() {
            let prev = chars[idx - 1];
            let next_lower = chars.get(idx + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                out.push('_');
            }
        }
        if c == '-' || c == '.' || c == ' ' {
            out.push('_');
        } else {
            out.push(c.to_ascii_uppercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_case_becomes_upper_snake() {
        assert_eq!(
            upper_snake("gitHubAppKeySecretUri"),
            "GIT_HUB_APP_KEY_SECRET_URI"
        );
        assert_eq!(upper_snake("acrName"), "ACR_NAME");
        assert_eq!(upper_snake("rgName"), "RG_NAME");
        assert_eq!(upper_snake("apiURL"), "API_URL");
        assert_eq!(upper_snake("URLValue"), "URL_VALUE");
        assert_eq!(upper_snake("project"), "PROJECT");
    }

    #[test]
    fn github_name_rules() {
        assert!(name_problem("ACR_NAME").is_none());
        assert!(name_problem("acr_name2").is_none());
        assert!(name_problem("2ACR").is_some());
        assert!(name_problem("GITHUB_X").is_some());
        assert!(name_problem("github_x").is_some());
        assert!(name_problem("A-B").is_some());
    }
}
