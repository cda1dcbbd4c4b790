//! `set-variables`: write GitHub Actions variables from literals or earlier outputs, creating or
//! updating only what changed (SPEC §3.3).

use std::collections::BTreeMap;

use futures::StreamExt as _;

use crate::cli::Inputs;
use crate::error::{Error, Result};
use crate::github::variables::{Target, Visibility, WriteOutcome};
use crate::github::{GitHub, Variable};
use crate::runtime::markdown_table;
use crate::secret::Secret;
use crate::{Step, say};

/// Largest value GitHub accepts, in bytes.
const MAX_VALUE_BYTES: usize = 48 * 1024;
/// Writes in flight at once.
const CONCURRENCY: usize = 8;

/// Where the variables live.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scope {
    Repository(String),
    Organization { org: String, visibility: Visibility },
    Environment { repository: String, name: String },
}

impl Scope {
    fn describe(&self) -> String {
        match self {
            Scope::Repository(r) => format!("repository {r}"),
            Scope::Organization { org, visibility } => {
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

/// Runs `set-variables`.
pub async fn run(step: &Step) -> Result<()> {
    let i = &step.inputs;
    let scope = scope(step)?;
    let desired = desired_variables(step)?;
    if desired.is_empty() {
        return Err(Error::input(
            "variables",
            "names no variable (and export-outputs found no deployment output); give `variables: { NAME: value }` or `export-outputs: true` after deploy",
        ));
    }
    say!("{} variable(s) for {}", desired.len(), scope.describe());

    let gh = step.github().await?;
    let token = token(step, &scope).await?;
    let target = match &scope {
        Scope::Repository(r) => Target::Repository(r.clone()),
        Scope::Environment { repository, name } => Target::Environment {
            repository_id: gh.repository_id(repository, &token).await?,
            name: name.clone(),
        },
        Scope::Organization { org, visibility } => {
            let mut selected_repository_ids = Vec::new();
            if *visibility == Visibility::Selected {
                let repo = i.repository_or_env()?.ok_or_else(|| {
                    Error::input(
                        "repository",
                        "is needed for `variables-visibility: selected` (the repository that may read the variables)",
                    )
                })?;
                selected_repository_ids.push(gh.repository_id(&repo, &token).await?);
            }
            Target::Organization {
                org: org.clone(),
                visibility: *visibility,
                selected_repository_ids,
            }
        }
    };

    let existing: BTreeMap<String, Variable> = gh
        .list_variables(&target, &token)
        .await?
        .into_iter()
        .map(|v| (v.name.to_ascii_uppercase(), v))
        .collect();
    let plan: Vec<(Desired, Action)> = desired
        .into_iter()
        .map(|d| {
            let action = match existing.get(&d.name.to_ascii_uppercase()) {
                None => Action::Create,
                Some(v) => {
                    let visibility_differs = match (&scope, &v.visibility) {
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

    let writes: Vec<&(Desired, Action)> = plan
        .iter()
        .filter(|(_, a)| *a != Action::Unchanged)
        .collect();
    if step.dry_run {
        for (d, a) in &writes {
            say!("dry-run: would {} {}", verb(*a), d.name);
        }
    } else {
        let results: Vec<Result<()>> = futures::stream::iter(
            writes
                .iter()
                .map(|(d, a)| write(gh, &target, &token, d, *a)),
        )
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
        for r in results {
            r?;
        }
    }

    let count = |a: Action| plan.iter().filter(|(_, x)| *x == a).count();
    let (created, updated, unchanged) = (
        count(Action::Create),
        count(Action::Update),
        count(Action::Unchanged),
    );
    for (d, a) in &plan {
        say!("  {}: {}", d.name, verb_past(*a, step.dry_run));
    }
    if writes.is_empty() {
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
            hint: ". Rerun the step; make sure only one workflow writes this variable".into(),
        }),
    }
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

fn scope(step: &Step) -> Result<Scope> {
    let i = &step.inputs;
    let kind = Inputs::text(&i.variables_scope).unwrap_or_else(|| "repository".into());
    Ok(match kind.as_str() {
        "repository" => Scope::Repository(i.repository_or_env()?.ok_or_else(|| {
            Error::input(
                "repository",
                "is required for repository variables (owner/name)",
            )
        })?),
        "environment" => Scope::Environment {
            repository: i.repository_or_env()?.ok_or_else(|| {
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
        "organization" => {
            let text = Inputs::text(&i.variables_visibility).unwrap_or_else(|| "private".into());
            let Some(visibility) = Visibility::parse(&text) else {
                return Err(Error::input(
                    "variables-visibility",
                    format!("`{text}` is not all, private or selected"),
                ));
            };
            Scope::Organization {
                org: i.owner_or_default()?.ok_or_else(|| {
                    Error::input("owner", "is required for organization variables")
                })?,
                visibility,
            }
        }
        other => {
            return Err(Error::input(
                "variables-scope",
                format!("`{other}` is not repository, organization or environment"),
            ));
        }
    })
}

/// The variables to write: `variables`, then (with export-outputs) the deployment outputs; every
/// name and value validated before anything is written.
fn desired_variables(step: &Step) -> Result<Vec<Desired>> {
    let i = &step.inputs;
    let outputs = step.rt.outputs();
    let mut out: Vec<Desired> = Vec::new();
    if let Some(text) = Inputs::text(&i.variables) {
        for (name, value) in parse_variables(&text, &outputs)? {
            out.push(Desired { name, value });
        }
    }
    if Inputs::boolean(&i.export_outputs, "export-outputs", false)? {
        let exported = step.deployment_outputs();
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
    let mut errors = Vec::new();
    let mut seen = BTreeMap::new();
    for d in &out {
        if let Some(problem) = name_problem(&d.name) {
            errors.push(format!("`{}` {problem}", d.name));
        }
        if seen.insert(d.name.to_ascii_uppercase(), ()).is_some() {
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
    if !errors.is_empty() {
        return Err(Error::input(
            "variables",
            format!("nothing was written: {}", errors.join("; ")),
        ));
    }
    Ok(out)
}

/// Reads the `variables` YAML map: `NAME: value` or `NAME: { output: OUTPUT }` (an output of an
/// earlier command of the step, from `outputs`). Names are checked later, with the others.
pub fn parse_variables(
    text: &str,
    outputs: &BTreeMap<String, String>,
) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(text)
        .map_err(|e| Error::input("variables", format!("is not a YAML map ({e})")))?;
    let Some(map) = yaml.as_mapping() else {
        return Err(Error::input(
            "variables",
            "must be a YAML map of NAME: value (or NAME: { output: OUTPUT })",
        ));
    };
    for (k, v) in map {
        let name = match k {
            serde_yaml_ng::Value::String(s) => s.clone(),
            other => serde_yaml_ng::to_string(other)
                .unwrap_or_default()
                .trim()
                .to_string(),
        };
        let value = match v {
            serde_yaml_ng::Value::String(s) => s.clone(),
            serde_yaml_ng::Value::Bool(b) => b.to_string(),
            serde_yaml_ng::Value::Number(n) => n.to_string(),
            serde_yaml_ng::Value::Mapping(m) if m.len() == 1 => {
                let Some(output) = m.get("output").and_then(|o| o.as_str()) else {
                    return Err(Error::input(
                        "variables",
                        format!("variable `{name}`: a map value must be {{ output: NAME }}"),
                    ));
                };
                outputs.get(output).cloned().ok_or_else(|| {
                    Error::input(
                        "variables",
                        format!("variable `{name}` takes output `{output}`, which no earlier command of this step produced; add the command that produces it to `command`"),
                    )
                })?
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
        out.push((name, value));
    }
    Ok(out)
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

/// The token that writes: `github-token`, else an installation token of the App for the target.
async fn token(step: &Step, scope: &Scope) -> Result<Secret> {
    let i = &step.inputs;
    if let Some(t) = Inputs::text(&i.github_token) {
        return Ok(Secret::masked(t));
    }
    let app_id = Inputs::required(
        &i.app_id,
        "app-id",
        "for set-variables (or give `github-token`): the GitHub App that writes the variables",
    )?;
    let raw_key = Inputs::required(
        &i.private_key,
        "private-key",
        "for set-variables with the GitHub App (or give `github-token`)",
    )?;
    let key = crate::key::AppKey::parse(&raw_key)?;
    let jwt = step.github().await?.app_jwt(&app_id, &key)?;
    let installation_id = match Inputs::text(&i.installation_id) {
        Some(v) => v
            .parse::<u64>()
            .map_err(|_| Error::input("installation-id", format!("`{v}` is not a number")))?,
        None => {
            let (owner, repository) = match scope {
                Scope::Organization { org, .. } => (org.clone(), None),
                Scope::Repository(r) | Scope::Environment { repository: r, .. } => (
                    r.split('/').next().unwrap_or_default().to_string(),
                    Some(r.clone()),
                ),
            };
            step.find_installation(&jwt, &app_id, &owner, repository.as_deref())
                .await?
                .id
        }
    };
    let (perm, level) = scope.permission();
    let token = step
        .installation_token(&jwt, installation_id, Some(&step.token_permissions))
        .await
        .map_err(|e| match e {
            Error::GitHub { status: 422, .. } => Error::GitHub {
                action: "creating an installation token for set-variables".into(),
                status: 422,
                detail: format!("the App's installation does not grant `{perm}: {level}`"),
                hint: format!(". Add the permission in the App's settings (Permissions → {}), then accept it on the installation", if perm.starts_with("organization") { "Organization permissions → Variables" } else { "Repository permissions → Variables" }),
            },
            other => other,
        })?;
    Ok(token.token)
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
