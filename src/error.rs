//! The errors users see. Each variant says what is wrong and what to do about it; a dependency's
//! own error text is never shown.

/// Result with the action's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can stop a command.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An input has a value the action cannot use.
    #[error("input `{input}`: {message}")]
    Input {
        /// The input's name, as in action.yml.
        input: &'static str,
        /// What is wrong and what to give instead.
        message: String,
    },

    /// The `private-key` input is not a usable RSA private key.
    #[error(
        "input `private-key`: {0}. The input must hold the GitHub App's private key (PEM, RSA), usually `${{{{ secrets.APP_PRIVATE_KEY }}}}`"
    )]
    PrivateKey(String),

    /// No GitHub OIDC token can be requested in this job.
    #[error(
        "the GitHub OIDC token is not available (ACTIONS_ID_TOKEN_REQUEST_URL is not set): add `permissions: id-token: write` to the job (or the workflow), or choose another `azure-auth`"
    )]
    OidcUnavailable,

    /// The GitHub OIDC endpoint refused or failed.
    #[error(
        "requesting the GitHub OIDC token failed (HTTP {status}): {detail}. Check that the job has `permissions: id-token: write`"
    )]
    Oidc {
        /// HTTP status.
        status: u16,
        /// The service's answer, redacted.
        detail: String,
    },

    /// Entra ID did not issue a token.
    #[error("Azure sign-in failed: {detail}. {hint}")]
    AzureAuth {
        /// What Entra or the credential said, redacted.
        detail: String,
        /// What to check.
        hint: String,
    },

    /// GitHub refused the App key.
    #[error(
        "this key is not valid for GitHub App {app_id} (revoked, or another app's key): GitHub answered 401 to a JWT signed with it (key {fingerprint}). Check `app-id`, or generate a new private key in the App's settings and update the secret"
    )]
    KeyRejected {
        /// The App the JWT claimed.
        app_id: String,
        /// The key's fingerprint.
        fingerprint: String,
    },

    /// The key belongs to a different App than `app-id` says.
    #[error(
        "input `app-id`: the key belongs to GitHub App {actual} ({slug}), not {expected}; set `app-id` to the App whose key this is"
    )]
    AppMismatch {
        /// `app-id`.
        expected: String,
        /// The id GitHub answered.
        actual: u64,
        /// The App's slug.
        slug: String,
    },

    /// The App is not installed where it is needed.
    #[error(
        "GitHub App {app_id} is not installed on {target}: install it there (App settings → Install App) or set `installation-id`"
    )]
    NotInstalled {
        /// The App.
        app_id: String,
        /// `organization octo-org` or `repository octo-org/x`.
        target: String,
    },

    /// A GitHub call failed.
    #[error("GitHub: {action} failed (HTTP {status}): {detail}{}", fix_text(fix))]
    GitHub {
        /// What the action was doing.
        action: String,
        /// HTTP status, 0 for a transport failure.
        status: u16,
        /// GitHub's message, redacted.
        detail: String,
        /// What to do (empty when nothing better than the message can be said).
        fix: String,
    },

    /// Key Vault refused for lack of a role.
    #[error(
        "Key Vault {vault}: {action} was refused (403 {code}): the Azure identity {principal} needs the role `{role}` on the vault (or its resource group). Assign it: az role assignment create --role \"{role}\" --assignee <client id> --scope <vault resource id>"
    )]
    KeyVaultForbidden {
        /// The vault URL.
        vault: String,
        /// The operation.
        action: String,
        /// The error code (ForbiddenByRbac, …).
        code: String,
        /// The role that grants it.
        role: String,
        /// Who was refused, as far as known.
        principal: String,
    },

    /// Another Key Vault failure.
    #[error(
        "Key Vault {vault}: {action} failed (HTTP {status}): {detail}{}",
        fix_text(fix)
    )]
    KeyVault {
        /// The vault URL.
        vault: String,
        /// The operation.
        action: String,
        /// HTTP status.
        status: u16,
        /// The service's message, redacted.
        detail: String,
        /// What to do (empty when nothing better than the message can be said).
        fix: String,
    },

    /// Key Vault refused the caller's network: its firewall, or public access turned off
    /// (`network: private`). Nothing about roles can fix it; the step must run elsewhere.
    #[error(
        "Key Vault {vault}: {action} refused this runner's network (HTTP 403 {code}): {detail}. {fix}"
    )]
    KeyVaultNetwork {
        /// The vault URL.
        vault: String,
        /// The operation.
        action: String,
        /// `ForbiddenByFirewall` or `ForbiddenByConnection`.
        code: String,
        /// The service's message, redacted.
        detail: String,
        /// What to do.
        fix: String,
    },

    /// An Azure Resource Manager call failed.
    #[error("Azure Resource Manager: {action} failed{}:\n{detail}{}", http_status(*status), fix_text(fix))]
    Arm {
        /// What the action was doing.
        action: String,
        /// HTTP status.
        status: u16,
        /// ARM's error tree, redacted.
        detail: String,
        /// What to do (empty when nothing better than the message can be said).
        fix: String,
    },

    /// A role assigned to the deploying principal on a new vault did not take effect in time.
    #[error(
        "Key Vault {vault} still refuses the deploying principal (403 ForbiddenByRbac) {waited_minutes} minutes after the deployment assigned it Key Vault Secrets Officer. Azure RBAC usually applies within minutes: rerun the workflow; if it persists, check the assignment on the vault (az role assignment list --scope <vault resource id>) and that `azure-client-id` is the principal the deployment assigned"
    )]
    RoleNotEffective {
        /// The vault URL.
        vault: String,
        /// How long the action waited.
        waited_minutes: u64,
    },

    /// The live key is older than `max-key-age-days`.
    #[error(
        "the GitHub App key in Key Vault is {age_days} days old (created {created}), older than `max-key-age-days` ({max_days}). Rotate it: in the App's settings (Settings → Developer settings → GitHub Apps → the App → Private keys) generate a new private key, store it in the workflow secret that feeds `private-key`, rerun this workflow, then delete the old key in the App's settings"
    )]
    KeyTooOld {
        /// Age of the live version.
        age_days: i64,
        /// `max-key-age-days`.
        max_days: i64,
        /// RFC 3339 creation time.
        created: String,
    },

    /// A network failure that retries did not cure.
    #[error(
        "cannot reach {host}: {detail}. Check the endpoint inputs, HTTPS_PROXY/NO_PROXY and SSL_CERT_FILE"
    )]
    Transport {
        /// The host.
        host: String,
        /// What failed.
        detail: String,
    },

    /// Writing outputs or the summary failed.
    #[error(
        "cannot write the runner file {path}: {detail}. Check that the step's GITHUB_OUTPUT / GITHUB_STEP_SUMMARY point at writable files"
    )]
    RunnerFile {
        /// The file.
        path: String,
        /// The I/O error.
        detail: String,
    },

    /// A long-running operation did not finish within its limit; it goes on in Azure.
    #[error("{what} is still running after {after}; {follow}")]
    StillRunning {
        /// What runs (`deployment NAME`, `build run ID`, …).
        what: String,
        /// How long the action waited, and which limit that was.
        after: String,
        /// Where to follow it, and what to change.
        follow: String,
    },

    /// An ACR Tasks build run ended without success.
    #[error("build run {run_id} {state} after {elapsed} s{reason}. Last lines of its log:\n{tail}")]
    BuildFailed {
        /// The run.
        run_id: String,
        /// Its final state, lower-case.
        state: String,
        /// Seconds since it was queued.
        elapsed: u64,
        /// ` (the service's reason)`, when it gave one.
        reason: String,
        /// The last lines of its log.
        tail: String,
    },

    /// A Container Apps job did not keep the secret reference it was given.
    #[error(
        "job {job} did not take the new secret reference {version_uri}; check the job in the portal. No version was disabled"
    )]
    JobNotSwitched {
        /// The job.
        job: String,
        /// The reference it was given.
        version_uri: String,
    },

    /// `SSL_CERT_FILE` names certificates the action cannot use.
    #[error("SSL_CERT_FILE={path} {detail}")]
    TrustStore {
        /// The file.
        path: String,
        /// What is wrong, and what to give instead.
        detail: String,
    },

    /// The blob storage behind ACR Tasks (build context, build log) refused.
    #[error("{action} failed (HTTP {status}): {detail}")]
    Blob {
        /// What the action was doing.
        action: &'static str,
        /// HTTP status.
        status: u16,
        /// Storage's error code and message.
        detail: String,
    },

    /// `doctor` found checks that will break.
    #[error(
        "doctor found {problems} problem(s): the rows marked ✗ above (and in the step summary) say what is wrong and how to fix it"
    )]
    DoctorFound {
        /// How many rows are ✗.
        problems: usize,
    },

    /// A service answered in a way the action cannot read (or a bug of the action's own).
    #[error(
        "{service} answered in a way this action cannot read: {detail}. Please report this with the step log"
    )]
    Unexpected {
        /// The service.
        service: &'static str,
        /// What was wrong.
        detail: String,
    },
}

fn fix_text(fix: &str) -> String {
    if fix.is_empty() {
        String::new()
    } else {
        format!(". {fix}")
    }
}

fn http_status(status: u16) -> String {
    if status >= 400 {
        format!(" (HTTP {status})")
    } else {
        String::new()
    }
}

impl Error {
    /// A short title for the `::error::` annotation.
    pub fn title(&self) -> &'static str {
        match self {
            Error::Input { .. } | Error::PrivateKey(_) => "Invalid input",
            Error::OidcUnavailable | Error::Oidc { .. } | Error::AzureAuth { .. } => {
                "Azure sign-in failed"
            }
            Error::KeyRejected { .. } | Error::AppMismatch { .. } | Error::NotInstalled { .. } => {
                "GitHub App key or installation"
            }
            Error::GitHub { .. } => "GitHub request failed",
            Error::KeyVaultForbidden { .. }
            | Error::KeyVault { .. }
            | Error::KeyVaultNetwork { .. }
            | Error::RoleNotEffective { .. } => "Key Vault request failed",
            Error::KeyTooOld { .. } => "GitHub App key too old",
            Error::Arm { .. } => "Azure Resource Manager request failed",
            Error::Transport { .. } => "Network failure",
            Error::StillRunning { .. } => "Operation still running",
            Error::DoctorFound { .. } => "doctor found problems",
            Error::Blob { .. } => "Azure Storage request failed",
            Error::BuildFailed { .. } => "Image build failed",
            Error::JobNotSwitched { .. } => "Container Apps job not updated",
            Error::TrustStore { .. } => "Invalid SSL_CERT_FILE",
            Error::RunnerFile { .. } | Error::Unexpected { .. } => "aca-runner-action failed",
        }
    }

    /// Process exit code: 2 for input errors, 1 for everything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input { .. } | Error::PrivateKey(_) => 2,
            _ => 1,
        }
    }

    /// An input error.
    pub fn input(input: &'static str, message: impl Into<String>) -> Self {
        Error::Input {
            input,
            message: message.into(),
        }
    }
}
