//! The GitHub Actions OIDC token issuer (`GET /_actions/idtoken`).

use crate::state::State;
use crate::util::{Req, Resp, now_unix, random_uuid};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Value, json};

/// Issuer of the OIDC tokens.
pub(crate) const ISSUER: &str = "https://token.actions.githubusercontent.com";

/// Signs claims with the fake's HS256 secret.
pub(crate) fn mint(st: &State, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("JWT".into());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(&st.hs_secret))
        .unwrap_or_default()
}

/// Verifies the signature of a JWT minted by [`mint`] and returns its claims
/// (time claims are not checked here).
pub(crate) fn verify(st: &State, token: &str) -> Option<Value> {
    let mut v = Validation::new(Algorithm::HS256);
    v.validate_exp = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    jsonwebtoken::decode::<Value>(token, &DecodingKey::from_secret(&st.hs_secret), &v)
        .ok()
        .map(|d| d.claims)
}

pub(crate) fn handle(st: &mut State, req: &Req) -> Option<Resp> {
    if req.method != "GET" {
        return None;
    }
    if req.bearer().as_deref() != Some(st.seed.oidc_request_token.as_str()) {
        return Some(Resp::json(
            401,
            &json!({"message": "Unauthorized: a valid ACTIONS_ID_TOKEN_REQUEST_TOKEN bearer token is required"}),
        ));
    }
    let audience = req
        .query_param("audience")
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "https://github.com/octo-org".into());
    let now = now_unix();
    let (repo, reference) = subject_parts(&st.seed.oidc_subject);
    let claims = json!({
        "iss": ISSUER,
        "sub": st.seed.oidc_subject,
        "aud": audience,
        "iat": now,
        "nbf": now - 5,
        "exp": now + 300,
        "jti": random_uuid(),
        "repository": repo,
        "repository_owner": repo.split('/').next().unwrap_or_default(),
        "ref": reference,
        "event_name": "workflow_dispatch",
        "runner_environment": "github-hosted",
    });
    let token = mint(st, &claims);
    st.remember_issued(&token);
    Some(Resp::json(200, &json!({"value": token})))
}

/// Extracts the repository and ref from a subject like `repo:o/r:ref:refs/heads/main`.
fn subject_parts(sub: &str) -> (String, String) {
    let mut parts = sub.splitn(3, ':');
    let _ = parts.next();
    let repo = parts.next().unwrap_or_default().to_string();
    let rest = parts.next().unwrap_or_default();
    let reference = rest.strip_prefix("ref:").unwrap_or_default().to_string();
    (repo, reference)
}
