//! Azure sign-in: the cloud's endpoints and the credential chosen by `azure-auth`.
//!
//! `oidc` exchanges a GitHub OIDC token for an Entra token. The GitHub token lives minutes, so a
//! fresh one is requested every time the credential needs a new Azure token. Every Azure token is
//! masked as soon as it exists.

use std::sync::Arc;

use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_core::http::ClientMethodOptions;
use base64::Engine as _;
use url::Url;

use crate::error::{Error, Result};
use crate::http::{Http, HttpRequest, azure_client_options};
use crate::secret::Secret;

/// The endpoints of one Azure cloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cloud {
    /// Entra authority host, e.g. `https://login.microsoftonline.com`.
    pub authority_host: Url,
    /// ARM endpoint, e.g. `https://management.azure.com`.
    pub resource_manager: Url,
    /// Key Vault DNS suffix, e.g. `vault.azure.net`.
    pub key_vault_suffix: String,
    /// Audience of the GitHub OIDC token Entra accepts.
    pub oidc_audience: String,
}

impl Cloud {
    /// The token scope of Azure Resource Manager (`{endpoint}/.default`).
    pub fn resource_manager_scope(&self) -> String {
        format!(
            "{}/.default",
            self.resource_manager.as_str().trim_end_matches('/')
        )
    }

    /// The token scope of Key Vault.
    pub fn key_vault_scope(&self) -> String {
        format!("https://{}/.default", self.key_vault_suffix)
    }

    /// The DNS suffix of the cloud's container registries (`.azurecr.io`, …).
    pub fn registry_suffix(&self) -> &'static str {
        match self.key_vault_suffix.as_str() {
            "vault.usgovcloudapi.net" => ".azurecr.us",
            "vault.azure.cn" => ".azurecr.cn",
            _ => ".azurecr.io",
        }
    }

    /// The cloud named by `azure-environment`, with the explicit endpoint inputs applied.
    pub fn resolve(
        environment: Option<&str>,
        authority_host: Option<&str>,
        resource_manager: Option<&str>,
        audience: Option<&str>,
    ) -> Result<Cloud> {
        let (authority, arm, suffix, aud) = match environment.unwrap_or("AzureCloud") {
            e if e.eq_ignore_ascii_case("AzureCloud") => (
                "https://login.microsoftonline.com",
                "https://management.azure.com",
                "vault.azure.net",
                "api://AzureADTokenExchange",
            ),
            e if e.eq_ignore_ascii_case("AzureUSGovernment") => (
                "https://login.microsoftonline.us",
                "https://management.usgovcloudapi.net",
                "vault.usgovcloudapi.net",
                "api://AzureADTokenExchangeUSGov",
            ),
            e if e.eq_ignore_ascii_case("AzureChinaCloud") => (
                "https://login.chinacloudapi.cn",
                "https://management.chinacloudapi.cn",
                "vault.azure.cn",
                "api://AzureADTokenExchangeChina",
            ),
            other => {
                return Err(Error::input(
                    "azure-environment",
                    format!(
                        "`{other}` is not an Azure environment; use AzureCloud, AzureUSGovernment or AzureChinaCloud (and `azure-authority-host`/`azure-resource-manager-url` for other clouds)"
                    ),
                ));
            }
        };
        let url = |input: &'static str, value: &str| {
            let parsed = Url::parse(value).map_err(|_| {
                Error::input(input, format!("`{value}` is not a URL; give https://host"))
            })?;
            if parsed.scheme() != "https" {
                return Err(Error::input(input, "must be an https:// URL"));
            }
            Ok(parsed)
        };
        Ok(Cloud {
            authority_host: url("azure-authority-host", authority_host.unwrap_or(authority))?,
            resource_manager: url(
                "azure-resource-manager-url",
                resource_manager.unwrap_or(arm),
            )?,
            key_vault_suffix: suffix.to_string(),
            oidc_audience: audience.unwrap_or(aud).to_string(),
        })
    }

    fn client_options(&self, http: &Arc<Http>) -> azure_core::http::ClientOptions {
        let mut custom = azure_core::cloud::CustomConfiguration::default();
        custom.authority_host = self
            .authority_host
            .as_str()
            .trim_end_matches('/')
            .to_string();
        let mut options = azure_client_options(http);
        options.cloud = Some(Arc::new(custom.into()));
        options
    }
}

/// How the action signs in to Azure (`azure-auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// GitHub OIDC token exchanged as a client assertion.
    Oidc,
    /// The managed identity of the machine.
    ManagedIdentity,
    /// A federated token file (`AZURE_FEDERATED_TOKEN_FILE`), as on AKS.
    WorkloadIdentity,
    /// The Azure CLI's signed-in account (local use).
    Cli,
}

impl AuthMethod {
    /// Parses `azure-auth`; `None` picks `oidc` on a runner and `cli` elsewhere.
    pub fn parse(value: Option<&str>, on_runner: bool) -> Result<AuthMethod> {
        Ok(match value {
            None => {
                if on_runner {
                    AuthMethod::Oidc
                } else {
                    AuthMethod::Cli
                }
            }
            Some("oidc") => AuthMethod::Oidc,
            Some("managed-identity") => AuthMethod::ManagedIdentity,
            Some("workload-identity") => AuthMethod::WorkloadIdentity,
            Some("cli") => AuthMethod::Cli,
            Some(other) => {
                return Err(Error::input(
                    "azure-auth",
                    format!(
                        "`{other}` is not supported; use oidc, managed-identity, workload-identity or cli"
                    ),
                ));
            }
        })
    }
}

/// What is needed to build a credential.
#[derive(Debug, Clone)]
pub struct AzureIdentity {
    /// The sign-in method.
    pub method: AuthMethod,
    /// `azure-client-id`.
    pub client_id: Option<String>,
    /// `azure-tenant-id`.
    pub tenant_id: Option<String>,
    /// The cloud.
    pub cloud: Cloud,
}

/// Builds the credential for `identity`, wrapped so that every token is masked and every failure
/// says what to check.
pub fn credential(identity: &AzureIdentity, http: &Arc<Http>) -> Result<Arc<dyn TokenCredential>> {
    let options = identity.cloud.client_options(http);
    let inner: Arc<dyn TokenCredential> = match identity.method {
        AuthMethod::Oidc => {
            let request_url = std::env::var("ACTIONS_ID_TOKEN_REQUEST_URL")
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or(Error::OidcUnavailable)?;
            let request_token = std::env::var("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or(Error::OidcUnavailable)?;
            let tenant = required(&identity.tenant_id, "azure-tenant-id")?;
            let client = required(&identity.client_id, "azure-client-id")?;
            let assertion = GithubOidcAssertion {
                http: http.clone(),
                request_url,
                request_token: Secret::masked(request_token, crate::runtime::Runtime::get()),
                audience: identity.cloud.oidc_audience.clone(),
            };
            azure_identity::ClientAssertionCredential::new(
                tenant,
                client,
                assertion,
                Some(azure_identity::ClientAssertionCredentialOptions {
                    client_options: options,
                }),
            )
            .map_err(|e| config_error(&e))?
        }
        AuthMethod::ManagedIdentity => {
            let opts = azure_identity::ManagedIdentityCredentialOptions {
                user_assigned_id: identity
                    .client_id
                    .clone()
                    .map(azure_identity::UserAssignedId::ClientId),
                client_options: options,
            };
            azure_identity::ManagedIdentityCredential::new(Some(opts))
                .map_err(|e| config_error(&e))?
        }
        AuthMethod::WorkloadIdentity => {
            let opts = azure_identity::WorkloadIdentityCredentialOptions {
                credential_options: azure_identity::ClientAssertionCredentialOptions {
                    client_options: options,
                },
                client_id: identity.client_id.clone(),
                tenant_id: identity.tenant_id.clone(),
                ..Default::default()
            };
            azure_identity::WorkloadIdentityCredential::new(Some(opts)).map_err(|e| {
                Error::AzureAuth {
                    detail: crate::runtime::Runtime::get().redact(&e.to_string()),
                    hint: "workload identity needs AZURE_FEDERATED_TOKEN_FILE, and a client and tenant id (inputs or AZURE_CLIENT_ID/AZURE_TENANT_ID)".into(),
                }
            })?
        }
        AuthMethod::Cli => {
            let opts = azure_identity::AzureCliCredentialOptions {
                tenant_id: identity.tenant_id.clone(),
                ..Default::default()
            };
            azure_identity::AzureCliCredential::new(Some(opts)).map_err(|e| config_error(&e))?
        }
    };
    Ok(Arc::new(MaskingCredential {
        inner,
        method: identity.method,
    }))
}

fn required(value: &Option<String>, input: &'static str) -> Result<String> {
    value.clone().ok_or_else(|| {
        Error::input(
            input,
            "is required for Azure sign-in with `azure-auth: oidc`; set it to the Entra application's value (usually `${{ vars.AZURE_CLIENT_ID }}` / `${{ vars.AZURE_TENANT_ID }}`)",
        )
    })
}

fn config_error(e: &azure_core::Error) -> Error {
    Error::AzureAuth {
        detail: crate::runtime::Runtime::get().redact(&e.to_string()),
        hint: "check `azure-client-id`, `azure-tenant-id` and `azure-auth`".into(),
    }
}

/// Wraps a credential: masks each token it returns and turns failures into [`Error::AzureAuth`]
/// text that says what to check.
#[derive(Debug)]
struct MaskingCredential {
    inner: Arc<dyn TokenCredential>,
    method: AuthMethod,
}

#[async_trait::async_trait]
impl TokenCredential for MaskingCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        match self.inner.get_token(scopes, options).await {
            Ok(token) => {
                crate::runtime::Runtime::get().mask(token.token.secret());
                crate::debug!("Azure token for {} obtained", scopes.join(" "));
                Ok(token)
            }
            Err(e) => {
                let detail = auth_failure_text(&e, self.method);
                Err(azure_core::Error::with_message(
                    azure_core::error::ErrorKind::Credential,
                    detail,
                ))
            }
        }
    }
}

/// Turns a credential failure into one sentence with what to check.
fn auth_failure_text(e: &azure_core::Error, method: AuthMethod) -> String {
    let mut chain = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        source = s.source();
    }
    // Our own errors (OIDC) come through unchanged.
    if let Some(pos) = chain.find(OIDC_MARK) {
        return chain[pos + OIDC_MARK.len()..].to_string();
    }
    let chain = crate::runtime::Runtime::get().redact(&chain);
    let aadsts = chain
        .find("AADSTS")
        .map(|i| {
            let rest = &chain[i..];
            let end = rest.find(['"', '\r', '\n']).unwrap_or(rest.len());
            // Cut on a character boundary: descriptions carry display names.
            rest[..end]
                .replace("\\r\\n", " ")
                .chars()
                .take(400)
                .collect::<String>()
                .trim()
                .to_string()
        })
        .unwrap_or_default();
    let hint = match aadsts.get(..12).unwrap_or("") {
        "AADSTS700213" | "AADSTS70021:" | "AADSTS700211" => {
            "the Entra application has no federated credential that matches this workflow: add one whose issuer is https://token.actions.githubusercontent.com and whose subject matches the job (repo:OWNER/REPO:ref:refs/heads/BRANCH, or :environment:NAME when the job uses an environment)"
        }
        "AADSTS700016" => {
            "`azure-client-id` is not an application in the tenant `azure-tenant-id` names: check both"
        }
        "AADSTS90002:" => "`azure-tenant-id` is not a tenant: check it",
        "AADSTS700024" => {
            "the GitHub OIDC token is outside its validity window: check the runner's clock"
        }
        _ => match method {
            AuthMethod::Oidc => {
                "check `azure-client-id`, `azure-tenant-id` and the Entra application's federated credential for this repository"
            }
            AuthMethod::ManagedIdentity => {
                "check that the machine has a managed identity (and `azure-client-id` for a user-assigned one)"
            }
            AuthMethod::WorkloadIdentity => {
                "check AZURE_FEDERATED_TOKEN_FILE and the federated credential of the Entra application"
            }
            AuthMethod::Cli => "run `az login` first, or choose another `azure-auth`",
        },
    };
    if aadsts.is_empty() {
        format!("Azure sign-in failed ({}). Fix: {hint}", summarize(&chain))
    } else {
        format!("Entra ID refused the sign-in: {aadsts}. Fix: {hint}")
    }
}

fn summarize(chain: &str) -> String {
    chain.chars().take(300).collect()
}

const OIDC_MARK: &str = "[aca-oidc] ";

/// Supplies GitHub OIDC tokens as Entra client assertions, fetching a fresh one each time.
#[derive(Debug)]
struct GithubOidcAssertion {
    http: Arc<Http>,
    request_url: String,
    request_token: Secret,
    audience: String,
}

#[async_trait::async_trait]
impl azure_identity::ClientAssertion for GithubOidcAssertion {
    async fn secret(
        &self,
        _options: Option<ClientMethodOptions<'_>>,
    ) -> azure_core::Result<String> {
        self.fetch().await.map_err(|e| {
            azure_core::Error::with_message(
                azure_core::error::ErrorKind::Credential,
                format!("{OIDC_MARK}{e}"),
            )
        })
    }
}

impl GithubOidcAssertion {
    async fn fetch(&self) -> Result<String> {
        let sep = if self.request_url.contains('?') {
            '&'
        } else {
            '?'
        };
        let url = format!(
            "{}{sep}audience={}",
            self.request_url,
            url::form_urlencoded::byte_serialize(self.audience.as_bytes()).collect::<String>()
        );
        let url = Url::parse(&url).map_err(|_| Error::Unexpected {
            service: "the runner",
            detail: "ACTIONS_ID_TOKEN_REQUEST_URL is not a URL".into(),
        })?;
        let mut headers = http::HeaderMap::new();
        let auth = format!("Bearer {}", self.request_token.expose());
        let mut auth = http::HeaderValue::from_str(&auth).map_err(|_| Error::Unexpected {
            service: "the runner",
            detail: "ACTIONS_ID_TOKEN_REQUEST_TOKEN is not a header value".into(),
        })?;
        auth.set_sensitive(true);
        headers.insert(http::header::AUTHORIZATION, auth);
        headers.insert(
            http::header::ACCEPT,
            http::HeaderValue::from_static("application/json"),
        );
        let resp = self
            .http
            .send(HttpRequest {
                method: http::Method::GET,
                url,
                headers,
                body: bytes::Bytes::new(),
            })
            .await?;
        if resp.status != 200 {
            return Err(Error::Oidc {
                status: resp.status,
                detail: crate::runtime::Runtime::get().redact(&resp.text()),
            });
        }
        #[derive(serde::Deserialize)]
        struct IdToken {
            value: Option<String>,
        }
        let token = serde_json::from_slice::<IdToken>(&resp.body)
            .ok()
            .and_then(|t| t.value)
            .ok_or_else(|| Error::Oidc {
                status: 200,
                detail: "the answer has no `value` field".into(),
            })?;
        crate::runtime::Runtime::get().mask(&token);
        crate::debug!("GitHub OIDC token obtained for audience {}", self.audience);
        Ok(token)
    }
}

/// Converts a credential failure that surfaced through an SDK call into the user-facing error.
pub fn sign_in_error(e: &azure_core::Error) -> Option<Error> {
    if !matches!(e.kind(), azure_core::error::ErrorKind::Credential) {
        return None;
    }
    let text = e.to_string();
    if text.contains("ACTIONS_ID_TOKEN_REQUEST_URL is not set") {
        return Some(Error::OidcUnavailable);
    }
    Some(Error::AzureAuth {
        detail: crate::runtime::Runtime::get().redact(&text),
        hint: String::new(),
    })
}

/// Reads the `oid` (object id) claim of an Entra access token, for role assignments.
pub fn object_id_of(token: &AccessToken) -> Option<String> {
    claim_of(token, "oid")
}

/// Reads a string claim of an Entra access token (a JWT).
pub fn claim_of(token: &AccessToken, claim: &str) -> Option<String> {
    let payload = token.token.secret().split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get(claim)?.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sovereign_clouds_have_their_own_audience() {
        let gov = Cloud::resolve(Some("AzureUSGovernment"), None, None, None).unwrap();
        assert_eq!(gov.oidc_audience, "api://AzureADTokenExchangeUSGov");
        assert_eq!(gov.key_vault_suffix, "vault.usgovcloudapi.net");
        let cn = Cloud::resolve(Some("AzureChinaCloud"), None, None, None).unwrap();
        assert_eq!(cn.oidc_audience, "api://AzureADTokenExchangeChina");
        assert_eq!(
            cn.authority_host.as_str(),
            "https://login.chinacloudapi.cn/"
        );
    }

    #[test]
    fn explicit_endpoints_win() {
        let c = Cloud::resolve(
            None,
            Some("https://127.0.0.1:8443"),
            Some("https://127.0.0.1:8443"),
            Some("custom"),
        )
        .unwrap();
        assert_eq!(c.authority_host.as_str(), "https://127.0.0.1:8443/");
        assert_eq!(c.oidc_audience, "custom");
        assert!(Cloud::resolve(Some("Mars"), None, None, None).is_err());
        assert!(Cloud::resolve(None, Some("http://x"), None, None).is_err());
    }
}
