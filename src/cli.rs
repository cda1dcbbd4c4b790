//! The one input model: every action input is a `--flag` of the same name, read from
//! `INPUT_<NAME>` (upper-cased, hyphen kept) on a runner. An empty value means "not given", because
//! the runner sets every input that action.yml declares.

use clap::Parser;

use crate::error::{Error, Result};

/// Rotate a GitHub App key into Key Vault and run self-hosted GitHub runners on Azure Container
/// Apps Jobs.
///
/// On a runner every input comes from its `INPUT_*` variable; from a shell, give the commands as
/// arguments and the inputs as flags:
/// `aca-runner-action rotate-key --key-vault kv-runners --app-id 123 --private-key "$(cat key.pem)"`.
#[derive(Default, Parser)]
#[command(name = "aca-runner-action", version, about, long_about = None)]
pub struct Inputs {
    /// Commands to run, in pipeline order (same as `--command`).
    #[arg(value_name = "COMMAND")]
    pub commands: Vec<String>,

    /// One or more of rotate-key, build-image, deploy, set-variables (spaces, commas or newlines
    /// between them; they always run in that order), or doctor alone.
    #[arg(
        long,
        allow_hyphen_values = true,
        env = "INPUT_COMMAND",
        hide_env_values = true
    )]
    pub command: Option<String>,

    /// GitHub App id, or the App's client id (Iv…), used as the JWT issuer.
    #[arg(long, allow_hyphen_values = true, env = "INPUT_APP-ID")]
    pub app_id: Option<String>,

    /// GitHub App private key, PEM (PKCS#1 or PKCS#8, RSA).
    #[arg(
        long,
        allow_hyphen_values = true,
        env = "INPUT_PRIVATE-KEY",
        hide_env_values = true
    )]
    pub private_key: Option<String>,

    /// Installation to use; discovered from owner/repository when absent.
    #[arg(long, allow_hyphen_values = true, env = "INPUT_INSTALLATION-ID")]
    pub installation_id: Option<String>,

    /// Organization (or user) that the runners serve; defaults to the repository owner.
    #[arg(long, allow_hyphen_values = true, env = "INPUT_OWNER")]
    pub owner: Option<String>,

    /// owner/name of the repository; defaults to GITHUB_REPOSITORY.
    #[arg(long, allow_hyphen_values = true, env = "INPUT_REPOSITORY")]
    pub repository: Option<String>,

    /// A token that can write variables, instead of the GitHub App (set-variables).
    #[arg(
        long,
        allow_hyphen_values = true,
        env = "INPUT_GITHUB-TOKEN",
        hide_env_values = true
    )]
    pub github_token: Option<String>,

    /// GitHub API URL; defaults to GITHUB_API_URL, else `https://api.github.com`.
    #[arg(long, allow_hyphen_values = true, env = "INPUT_GITHUB-API-URL")]
    pub github_api_url: Option<String>,

    /// Client id of the Entra application (federated credential) or user-assigned identity.
    #[arg(long, allow_hyphen_values = true, env = "INPUT_AZURE-CLIENT-ID")]
    pub azure_client_id: Option<String>,

    /// Entra tenant id.
    #[arg(long, allow_hyphen_values = true, env = "INPUT_AZURE-TENANT-ID")]
    pub azure_tenant_id: Option<String>,

    /// Azure subscription id (deploy, and rotate-key with jobs).
    #[arg(long, allow_hyphen_values = true, env = "INPUT_AZURE-SUBSCRIPTION-ID")]
    pub azure_subscription_id: Option<String>,

    /// Azure sign-in: oidc (default on a runner), managed-identity, workload-identity, cli.
    #[arg(long, allow_hyphen_values = true, env = "INPUT_AZURE-AUTH")]
    pub azure_auth: Option<String>,

    /// AzureCloud (default), AzureUSGovernment or AzureChinaCloud.
    #[arg(long, allow_hyphen_values = true, env = "INPUT_AZURE-ENVIRONMENT")]
    pub azure_environment: Option<String>,

    /// Audience of the GitHub OIDC token; defaults to the environment's.
    #[arg(long, allow_hyphen_values = true, env = "INPUT_AZURE-AUDIENCE")]
    pub azure_audience: Option<String>,

    /// Entra authority host, for clouds not covered by azure-environment.
    #[arg(long, allow_hyphen_values = true, env = "INPUT_AZURE-AUTHORITY-HOST")]
    pub azure_authority_host: Option<String>,

    /// Azure Resource Manager URL, for clouds not covered by azure-environment.
    #[arg(
        long,
        allow_hyphen_values = true,
        env = "INPUT_AZURE-RESOURCE-MANAGER-URL"
    )]
    pub azure_resource_manager_url: Option<String>,

    /// Key Vault name or URL that holds the App key.
    #[arg(long, allow_hyphen_values = true, env = "INPUT_KEY-VAULT")]
    pub key_vault: Option<String>,

    /// Name of the Key Vault secret that holds the key (default github-app-key).
    #[arg(long, allow_hyphen_values = true, env = "INPUT_SECRET-NAME")]
    pub secret_name: Option<String>,

    /// Prove the key against GitHub before storing it (default true).
    #[arg(long, allow_hyphen_values = true, env = "INPUT_VERIFY-KEY")]
    pub verify_key: Option<String>,

    /// Disable (never delete) older enabled versions once the new one is stored (default true).
    #[arg(
        long,
        allow_hyphen_values = true,
        env = "INPUT_DISABLE-PREVIOUS-VERSIONS"
    )]
    pub disable_previous_versions: Option<String>,

    /// Fail when the stored key is older than this many days (default 0: off).
    #[arg(long, allow_hyphen_values = true, env = "INPUT_MAX-KEY-AGE-DAYS")]
    pub max_key_age_days: Option<String>,

    /// Expiry of the new secret version in days (default 0: none).
    #[arg(long, allow_hyphen_values = true, env = "INPUT_SECRET-EXPIRES-IN-DAYS")]
    pub secret_expires_in_days: Option<String>,

    /// Container Apps Jobs (resource-group/name or resource ids, one per line or comma) that use
    /// the secret and must switch to the new version now (rotate-key).
    #[arg(long, allow_hyphen_values = true, env = "INPUT_JOBS")]
    pub jobs: Option<String>,

    /// builtin:prerequisites, builtin:runner-jobs (default), or a path to ARM JSON or .bicep.
    #[arg(long, allow_hyphen_values = true, env = "INPUT_TEMPLATE")]
    pub template: Option<String>,

    /// Deployment scope: resource-group (default) or subscription.
    #[arg(long, allow_hyphen_values = true, env = "INPUT_SCOPE")]
    pub scope: Option<String>,

    /// Target resource group (resource-group scope).
    #[arg(long, allow_hyphen_values = true, env = "INPUT_RESOURCE-GROUP")]
    pub resource_group: Option<String>,

    /// Location of a subscription-scope deployment.
    #[arg(long, allow_hyphen_values = true, env = "INPUT_LOCATION")]
    pub location: Option<String>,

    /// YAML map of template parameters; `{ output: NAME }` takes an earlier command's output.
    #[arg(long, allow_hyphen_values = true, env = "INPUT_PARAMETERS")]
    pub parameters: Option<String>,

    /// ARM deployment parameters JSON file; `parameters` override its entries.
    #[arg(long, allow_hyphen_values = true, env = "INPUT_PARAMETERS-FILE")]
    pub parameters_file: Option<String>,

    /// YAML list of runner pools (builtin:runner-jobs); one pool `default` when absent.
    #[arg(long, allow_hyphen_values = true, env = "INPUT_POOLS")]
    pub pools: Option<String>,

    /// ARM deployment name (default: the template's stem).
    #[arg(long, allow_hyphen_values = true, env = "INPUT_DEPLOYMENT-NAME")]
    pub deployment_name: Option<String>,

    /// Incremental (default) or Complete.
    #[arg(long, allow_hyphen_values = true, env = "INPUT_DEPLOYMENT-MODE")]
    pub deployment_mode: Option<String>,

    /// Preview the changes with ARM What-If and deploy nothing (default false).
    #[arg(long, allow_hyphen_values = true, env = "INPUT_WHAT-IF")]
    pub what_if: Option<String>,

    /// Stop waiting after this many minutes (default 60); the deployment goes on in Azure.
    #[arg(long, allow_hyphen_values = true, env = "INPUT_TIMEOUT-MINUTES")]
    pub timeout_minutes: Option<String>,

    /// Container Registry name (build-image).
    #[arg(long, allow_hyphen_values = true, env = "INPUT_REGISTRY")]
    pub registry: Option<String>,

    /// name:tag of the image to build (build-image).
    #[arg(long, allow_hyphen_values = true, env = "INPUT_IMAGE")]
    pub image: Option<String>,

    /// Build context folder (build-image; default `.`).
    #[arg(long, allow_hyphen_values = true, env = "INPUT_CONTEXT")]
    pub context: Option<String>,

    /// Dockerfile path inside the context (build-image; default Dockerfile).
    #[arg(long, allow_hyphen_values = true, env = "INPUT_DOCKERFILE")]
    pub dockerfile: Option<String>,

    /// YAML map of Docker build arguments (build-image).
    #[arg(long, allow_hyphen_values = true, env = "INPUT_BUILD-ARGS")]
    pub build_args: Option<String>,

    /// `latest` (the current actions/runner release) or a version: the RUNNER_VERSION build
    /// argument and the image tag (build-image).
    #[arg(long, allow_hyphen_values = true, env = "INPUT_RUNNER-VERSION")]
    pub runner_version: Option<String>,

    /// YAML map of variables: `NAME: value` or `NAME: { output: NAME }` (set-variables).
    #[arg(long, allow_hyphen_values = true, env = "INPUT_VARIABLES")]
    pub variables: Option<String>,

    /// Also write every deployment output as a variable, camelCase → UPPER_SNAKE (default false).
    #[arg(long, allow_hyphen_values = true, env = "INPUT_EXPORT-OUTPUTS")]
    pub export_outputs: Option<String>,

    /// repository (default), organization or environment.
    #[arg(long, allow_hyphen_values = true, env = "INPUT_VARIABLES-SCOPE")]
    pub variables_scope: Option<String>,

    /// Environment name for environment scope.
    #[arg(long, allow_hyphen_values = true, env = "INPUT_ENVIRONMENT")]
    pub environment: Option<String>,

    /// Organization scope: all, private (default) or selected (the repository only).
    #[arg(long, allow_hyphen_values = true, env = "INPUT_VARIABLES-VISIBILITY")]
    pub variables_visibility: Option<String>,

    /// Keep the installation token alive after the step (default false).
    #[arg(long, allow_hyphen_values = true, env = "INPUT_SKIP-TOKEN-REVOKE")]
    pub skip_token_revoke: Option<String>,

    /// Read everything, write nothing, report what would change (default false).
    #[arg(long, allow_hyphen_values = true, env = "INPUT_DRY-RUN")]
    pub dry_run: Option<String>,
}

impl std::fmt::Debug for Inputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // private-key and github-token must never be printed.
        f.debug_struct("Inputs")
            .field("command", &self.command)
            .field("commands", &self.commands)
            .finish_non_exhaustive()
    }
}

/// A command of the pipeline, in run order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Command {
    /// Store the App key in Key Vault.
    RotateKey,
    /// Build the runner image in ACR.
    BuildImage,
    /// Run an ARM deployment.
    Deploy,
    /// Write GitHub Actions variables.
    SetVariables,
    /// Check the whole setup, read only (runs alone).
    Doctor,
}

impl Command {
    /// The command's name.
    pub fn name(self) -> &'static str {
        match self {
            Command::RotateKey => "rotate-key",
            Command::BuildImage => "build-image",
            Command::Deploy => "deploy",
            Command::SetVariables => "set-variables",
            Command::Doctor => "doctor",
        }
    }
}

fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl Inputs {
    /// The commands, in pipeline order, without duplicates.
    pub fn command_list(&self) -> Result<Vec<Command>> {
        let mut words: Vec<String> = self.commands.clone();
        if let Some(c) = given(&self.command) {
            words.push(c.to_string());
        }
        let mut out = Vec::new();
        for word in words
            .iter()
            .flat_map(|w| w.split([' ', ',', '\n', '\r', '\t']))
            .filter(|w| !w.is_empty())
        {
            let cmd = match word {
                "rotate-key" => Command::RotateKey,
                "build-image" => Command::BuildImage,
                "deploy" => Command::Deploy,
                "set-variables" => Command::SetVariables,
                "doctor" => Command::Doctor,
                other => {
                    return Err(Error::input(
                        "command",
                        format!(
                            "`{other}` is not a command; use rotate-key, build-image, deploy, set-variables or doctor"
                        ),
                    ));
                }
            };
            if !out.contains(&cmd) {
                out.push(cmd);
            }
        }
        if out.is_empty() {
            return Err(Error::input(
                "command",
                "is required: name one or more of rotate-key, build-image, deploy, set-variables",
            ));
        }
        out.sort();
        if out.contains(&Command::Doctor) && out.len() > 1 {
            return Err(Error::input(
                "command",
                "doctor runs alone: it only reads, and checks what the other commands need; give it a step of its own",
            ));
        }
        Ok(out)
    }

    /// A string input, `None` when empty.
    pub fn text(value: &Option<String>) -> Option<String> {
        given(value).map(str::to_string)
    }

    /// A required string input.
    pub fn required(value: &Option<String>, input: &'static str, why: &str) -> Result<String> {
        given(value)
            .map(str::to_string)
            .ok_or_else(|| Error::input(input, format!("is required {why}")))
    }

    /// A boolean input (YAML 1.2 core schema words, as the Actions toolkit reads them).
    pub fn boolean(value: &Option<String>, input: &'static str, default: bool) -> Result<bool> {
        match given(value) {
            None => Ok(default),
            Some("true" | "True" | "TRUE") => Ok(true),
            Some("false" | "False" | "FALSE") => Ok(false),
            Some(other) => Err(Error::input(
                input,
                format!("`{other}` is not a boolean; use true or false"),
            )),
        }
    }

    /// A non-negative whole number input.
    pub fn number(value: &Option<String>, input: &'static str, default: u64) -> Result<u64> {
        match given(value) {
            None => Ok(default),
            Some(v) => v.parse::<u64>().map_err(|_| {
                Error::input(input, format!("`{v}` is not a whole number of 0 or more"))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_valid() {
        Inputs::command().debug_assert();
    }

    #[test]
    fn commands_run_in_pipeline_order() {
        let inputs = Inputs {
            command: Some("set-variables,\ndeploy rotate-key deploy".into()),
            ..Default::default()
        };
        assert_eq!(
            inputs.command_list().unwrap(),
            vec![Command::RotateKey, Command::Deploy, Command::SetVariables]
        );
        let bad = Inputs {
            command: Some("rotate".into()),
            ..Default::default()
        };
        assert!(
            bad.command_list()
                .unwrap_err()
                .to_string()
                .contains("`command`")
        );
    }

    #[test]
    fn a_pem_given_as_a_flag_value_is_a_value() {
        // clap would take the PEM's leading dashes for a flag and echo the key in its error.
        let inputs = Inputs::try_parse_from([
            "aca-runner-action",
            "rotate-key",
            "--private-key",
            "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
        ])
        .unwrap();
        assert!(inputs.private_key.unwrap().starts_with("-----BEGIN"));
    }

    #[test]
    fn empty_means_not_given() {
        assert!(Inputs::boolean(&Some("".into()), "dry-run", true).unwrap());
        assert!(!Inputs::boolean(&Some("False".into()), "dry-run", true).unwrap());
        assert!(Inputs::boolean(&Some("yes".into()), "dry-run", true).is_err());
        assert_eq!(Inputs::number(&Some(" ".into()), "x", 7).unwrap(), 7);
    }
}
