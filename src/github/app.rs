//! The App side: App JWTs, the App itself, its installations, installation tokens and their
//! revocation.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Serialize;

use super::models::{Message, RawToken, TokenRequest};
use super::{Answer, Auth, GitHub, Installation, InstallationToken, models::AppInfo};
use crate::error::{Error, Result};
use crate::key::AppKey;
use crate::secret::Secret;

/// The JOSE header of every App JWT.
const JWT_HEADER: &str = r#"{"typ":"JWT","alg":"RS256"}"#;

/// The claims of an App JWT.
#[derive(Serialize)]
struct Claims<'a> {
    exp: i64,
    iat: i64,
    iss: Issuer<'a>,
}

/// The JWT's issuer: a numeric App id as a number, a client id (`Iv…`) as a string.
#[derive(Serialize)]
#[serde(untagged)]
enum Issuer<'a> {
    Id(u64),
    ClientId(&'a str),
}

fn base64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl GitHub {
    /// Signs an App JWT (RS256): `iat` 60 s in the past, `exp` 9 minutes ahead, `iss` the app id
    /// (numeric ids as numbers, client ids as strings). The JWT is masked at once.
    pub fn app_jwt(&self, app_id: &str, key: &AppKey) -> Result<Secret> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let iss = match app_id.parse::<u64>() {
            Ok(n) => Issuer::Id(n),
            Err(_) => Issuer::ClientId(app_id),
        };
        let claims = serde_json::to_vec(&Claims {
            exp: now + 540,
            iat: now - 60,
            iss,
        })
        .map_err(|_| Error::PrivateKey("it cannot sign a JWT".into()))?;
        let signing_input = format!(
            "{}.{}",
            base64url(JWT_HEADER.as_bytes()),
            base64url(&claims)
        );
        let signature = key.sign_rs256(signing_input.as_bytes())?;
        Ok(self.secret(format!("{signing_input}.{}", base64url(&signature))))
    }

    /// `GET /app` with the App JWT: which App the key belongs to.
    pub async fn app(&self, jwt: &Secret, app_id: &str, key: &AppKey) -> Result<AppInfo> {
        let refusal = match self
            .get::<AppInfo>("/app", Auth::App(jwt), "GET /app")
            .await?
        {
            Answer::Ok { value, .. } => return Ok(value),
            Answer::Refused(r) => r,
        };
        let text = refusal.body;
        match refusal.status {
            401 if text.contains("'iat'") || text.contains("'exp'") => Err(Error::GitHub {
                action: "GET /app".into(),
                status: 401,
                detail: self.rt.redact(
                    &serde_json::from_str::<Message>(&text)
                        .map(|m| m.message)
                        .unwrap_or_default(),
                ),
                fix: "GitHub refused the JWT's time claims: check the runner's clock (it must be within a minute of GitHub's)".into(),
            }),
            401 => Err(Error::KeyRejected {
                app_id: app_id.to_string(),
                fingerprint: key.fingerprint().to_string(),
            }),
            status => Err(self.refused("reading the App (GET /app)", status, &text)),
        }
    }

    /// The installation on `owner` (an organization or user) or on `owner/repo`: the
    /// repository's first, then the organization's, then the user's.
    pub async fn find_installation(
        &self,
        jwt: &Secret,
        app_id: &str,
        owner: &str,
        repository: Option<&str>,
    ) -> Result<Installation> {
        let mut attempts: Vec<(String, String)> = Vec::new();
        if let Some(repo) = repository {
            attempts.push((
                format!("/repos/{repo}/installation"),
                format!("repository {repo}"),
            ));
        }
        attempts.push((
            format!("/orgs/{owner}/installation"),
            format!("organization {owner}"),
        ));
        attempts.push((
            format!("/users/{owner}/installation"),
            format!("user {owner}"),
        ));
        for (path, _) in &attempts {
            match self
                .get::<Installation>(path, Auth::App(jwt), "finding the installation")
                .await?
            {
                Answer::Ok { value, .. } => return Ok(value),
                Answer::Refused(r) if r.status == 404 => continue,
                Answer::Refused(r) => {
                    return Err(self.refused(
                        &format!("finding the App's installation ({path})"),
                        r.status,
                        &r.body,
                    ));
                }
            }
        }
        Err(Error::NotInstalled {
            app_id: app_id.to_string(),
            target: attempts
                .iter()
                .map(|(_, t)| t.clone())
                .collect::<Vec<_>>()
                .join(", nor on "),
        })
    }

    /// `GET /app/installations/{id}`.
    pub async fn installation(&self, jwt: &Secret, app_id: &str, id: u64) -> Result<Installation> {
        let path = format!("/app/installations/{id}");
        match self
            .get::<Installation>(&path, Auth::App(jwt), "reading the installation")
            .await?
        {
            Answer::Ok { value, .. } => Ok(value),
            Answer::Refused(r) if r.status == 404 => Err(Error::input(
                "installation-id",
                format!(
                    "installation {id} does not belong to GitHub App {app_id}; remove the input to discover it, or copy the id from the installation's settings URL"
                ),
            )),
            Answer::Refused(r) => Err(self.refused("reading the installation", r.status, &r.body)),
        }
    }

    /// Mints an installation token, asking for `permissions` only (all granted when `None`).
    pub async fn installation_token(
        &self,
        jwt: &Secret,
        id: u64,
        permissions: Option<&BTreeMap<String, String>>,
    ) -> Result<InstallationToken> {
        self.installation_token_for(jwt, id, permissions, &[]).await
    }

    /// Mints an installation token for `permissions` (all granted when `None`), limited to
    /// `repositories` (names without owner) when any are given.
    pub async fn installation_token_for(
        &self,
        jwt: &Secret,
        id: u64,
        permissions: Option<&BTreeMap<String, String>>,
        repositories: &[String],
    ) -> Result<InstallationToken> {
        let path = format!("/app/installations/{id}/access_tokens");
        let body = (permissions.is_some() || !repositories.is_empty()).then_some(TokenRequest {
            permissions,
            repositories,
        });
        let action = "creating an installation token";
        match self
            .call::<RawToken>(
                http::Method::POST,
                &path,
                Auth::App(jwt),
                body.as_ref(),
                action,
            )
            .await?
        {
            Answer::Ok { value: raw, .. } => Ok(InstallationToken {
                token: self.secret(raw.token),
                expires_at: raw.expires_at,
                permissions: raw.permissions,
            }),
            Answer::Refused(r) => Err(self.refused(action, r.status, &r.body)),
        }
    }

    /// `DELETE /installation/token`: revokes the token it is called with (one already gone
    /// counts as revoked).
    pub async fn revoke(&self, token: &Secret) -> Result<()> {
        let resp = self
            .send(
                http::Method::DELETE,
                "/installation/token",
                Auth::Token(token),
                None::<&()>,
            )
            .await?;
        match resp.status {
            204 | 401 => Ok(()),
            status => Err(self.refused("revoking the installation token", status, &resp.text())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::pkcs8::DecodePublicKey as _;
    use rsa::signature::Verifier as _;

    #[test]
    fn an_app_jwt_is_rs256_with_githubs_claims() {
        let pem = include_str!("../../tests/fixtures/keys/app1.pkcs1.pem");
        let key = AppKey::parse(pem).unwrap();
        let http = crate::http::Http::from_env(crate::http::RetryPolicy::default()).unwrap();
        let gh = GitHub::new(
            http,
            "https://api.github.test",
            crate::runtime::Runtime::get(),
        );
        let jwt = gh.app_jwt("12345", &key).unwrap();
        let parts: Vec<&str> = jwt.expose().split('.').collect();
        assert_eq!(parts.len(), 3);
        let decode = |p: &str| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .unwrap()
        };
        assert_eq!(decode(parts[0]), JWT_HEADER.as_bytes());
        let claims: serde_json::Value = serde_json::from_slice(&decode(parts[1])).unwrap();
        assert_eq!(claims["iss"], 12345);
        let (iat, exp) = (
            claims["iat"].as_i64().unwrap(),
            claims["exp"].as_i64().unwrap(),
        );
        assert_eq!(exp - iat, 600);
        let client_id = gh.app_jwt("Iv1.abc", &key).unwrap();
        let part = client_id.expose().split('.').nth(1).unwrap().to_string();
        let claims: serde_json::Value = serde_json::from_slice(&decode(&part)).unwrap();
        assert_eq!(claims["iss"], "Iv1.abc");

        let public = rsa::RsaPublicKey::from_public_key_pem(include_str!(
            "../../tests/fixtures/keys/app1.public.pem"
        ))
        .unwrap();
        let signature = Signature::try_from(decode(parts[2]).as_slice()).unwrap();
        VerifyingKey::<sha2::Sha256>::new(public)
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
            .expect("the signature verifies with the App's public key");
    }
}
