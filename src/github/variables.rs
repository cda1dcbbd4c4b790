//! Actions variables: where they live (repository, organization with its visibility, environment
//! by repository id), listing them all, creating and updating one.

use super::models::{Repository, Variable, VariableBody, VariableList};
use super::{Answer, Auth, GitHub};
use crate::error::{Error, Result};
use crate::secret::Secret;

/// Who may read an organization variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Every repository of the organization.
    All,
    /// The organization's private and internal repositories.
    Private,
    /// The repositories listed with the variable.
    Selected,
}

impl Visibility {
    /// `all`, `private` or `selected`, `None` for anything else.
    pub fn parse(text: &str) -> Option<Visibility> {
        match text {
            "all" => Some(Visibility::All),
            "private" => Some(Visibility::Private),
            "selected" => Some(Visibility::Selected),
            _ => None,
        }
    }

    /// The word GitHub uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::All => "all",
            Visibility::Private => "private",
            Visibility::Selected => "selected",
        }
    }
}

/// Where variables are read and written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A repository's variables (`owner/name`).
    Repository(String),
    /// An organization's variables, written with this visibility (and, for `selected`, these
    /// repository ids).
    Organization {
        /// The organization.
        org: String,
        /// Who may read what is written.
        visibility: Visibility,
        /// The repositories a `selected` variable is given to.
        selected_repository_ids: Vec<u64>,
    },
    /// An environment's variables, which GitHub addresses by the repository's id.
    Environment {
        /// The repository's numeric id ([`GitHub::repository_id`]).
        repository_id: u64,
        /// The environment's name.
        name: String,
    },
}

impl Target {
    /// The route of the collection.
    fn path(&self) -> String {
        match self {
            Target::Repository(r) => format!("/repos/{r}/actions/variables"),
            Target::Organization { org, .. } => format!("/orgs/{org}/actions/variables"),
            Target::Environment {
                repository_id,
                name,
            } => format!(
                "/repositories/{repository_id}/environments/{}/variables",
                encode(name)
            ),
        }
    }

    /// The body that writes `name` = `value` here.
    fn body<'a>(&'a self, name: &'a str, value: &'a str) -> VariableBody<'a> {
        let (visibility, selected_repository_ids) = match self {
            Target::Organization {
                visibility,
                selected_repository_ids,
                ..
            } => (
                Some(visibility.as_str()),
                (*visibility == Visibility::Selected).then_some(selected_repository_ids.as_slice()),
            ),
            _ => (None, None),
        };
        VariableBody {
            name,
            selected_repository_ids,
            value,
            visibility,
        }
    }
}

/// What a variable write met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Written.
    Done,
    /// Create met 409 (it exists) or update met 404 (it is gone).
    Conflict,
}

/// One path segment, percent-encoded (spaces as `%20`).
fn encode(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

impl GitHub {
    /// Every variable at `at`, all pages.
    pub async fn list_variables(&self, at: &Target, token: &Secret) -> Result<Vec<Variable>> {
        let mut out = Vec::new();
        self.pages::<VariableList>(
            &at.path(),
            30,
            u32::MAX,
            Auth::Token(token),
            "listing variables",
            |gh, status, body| gh.variables_refused("listing variables", status, body),
            |v| {
                out.push(v);
                true
            },
        )
        .await?;
        Ok(out)
    }

    /// Creates variable `name` at `at`.
    pub async fn create_variable(
        &self,
        at: &Target,
        token: &Secret,
        name: &str,
        value: &str,
    ) -> Result<WriteOutcome> {
        let resp = self
            .send(
                http::Method::POST,
                &at.path(),
                Auth::Token(token),
                Some(&at.body(name, value)),
            )
            .await?;
        match resp.status {
            201 | 204 => Ok(WriteOutcome::Done),
            409 => Ok(WriteOutcome::Conflict),
            s => Err(self.variables_refused("creating a variable", s, &resp.text())),
        }
    }

    /// Updates variable `name` at `at`.
    pub async fn update_variable(
        &self,
        at: &Target,
        token: &Secret,
        name: &str,
        value: &str,
    ) -> Result<WriteOutcome> {
        let resp = self
            .send(
                http::Method::PATCH,
                &format!("{}/{name}", at.path()),
                Auth::Token(token),
                Some(&at.body(name, value)),
            )
            .await?;
        match resp.status {
            200 | 204 => Ok(WriteOutcome::Done),
            404 => Ok(WriteOutcome::Conflict),
            s => Err(self.variables_refused("updating a variable", s, &resp.text())),
        }
    }

    /// The numeric id of `owner/name` (environment variables and `selected` organization
    /// variables name repositories by id).
    pub async fn repository_id(&self, repository: &str, token: &Secret) -> Result<u64> {
        let action = "reading the repository";
        match self
            .get::<Repository>(&format!("/repos/{repository}"), Auth::Token(token), action)
            .await?
        {
            Answer::Ok { value, .. } => Ok(value.id),
            Answer::Refused(r) if r.status == 404 => Err(Error::input(
                "repository",
                format!("repository {repository} was not found, or the token cannot see it"),
            )),
            Answer::Refused(r) => Err(self.refused(action, r.status, &r.body)),
        }
    }

    /// Variable errors, with the one GitHub gives a token that cannot write variables.
    fn variables_refused(&self, action: &str, status: u16, body: &str) -> Error {
        if status == 403 && body.contains("Resource not accessible by integration") {
            return Error::GitHub {
                action: action.to_string(),
                status,
                detail: "the token cannot read or write Actions variables".into(),
                fix: "The workflow's GITHUB_TOKEN never can (there is no `variables` permission for it). Give `app-id` and `private-key` of a GitHub App with the `Variables: write` permission (`Organization variables: write` for organization scope), or a fine-grained token with `Variables: read and write` in `github-token`".into(),
            };
        }
        self.refused(action, status, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_bodies_by_target() {
        let repo = Target::Repository("octo-org/runners".into());
        assert_eq!(repo.path(), "/repos/octo-org/runners/actions/variables");
        assert_eq!(
            serde_json::to_string(&repo.body("A", "1")).unwrap(),
            r#"{"name":"A","value":"1"}"#
        );
        let env = Target::Environment {
            repository_id: 42,
            name: "prod east".into(),
        };
        assert_eq!(
            env.path(),
            "/repositories/42/environments/prod%20east/variables"
        );
        let selected = Target::Organization {
            org: "octo-org".into(),
            visibility: Visibility::Selected,
            selected_repository_ids: vec![42],
        };
        assert_eq!(selected.path(), "/orgs/octo-org/actions/variables");
        assert_eq!(
            serde_json::to_string(&selected.body("A", "1")).unwrap(),
            r#"{"name":"A","selected_repository_ids":[42],"value":"1","visibility":"selected"}"#
        );
        let all = Target::Organization {
            org: "octo-org".into(),
            visibility: Visibility::All,
            selected_repository_ids: Vec::new(),
        };
        assert_eq!(
            serde_json::to_string(&all.body("A", "1")).unwrap(),
            r#"{"name":"A","value":"1","visibility":"all"}"#
        );
    }
}
