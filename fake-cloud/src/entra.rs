//! The Entra ID token endpoint (`POST /{tenant}/oauth2/v2.0/token`, client credentials with a
//! federated assertion), the discovery documents MSAL reads before it asks for a token
//! (`GET /{tenant}/v2.0/.well-known/openid-configuration`, `GET /common/discovery/instance`) and
//! the IMDS managed-identity endpoint.

use crate::oidc::{ISSUER, mint, verify};
use crate::state::{EntraToken, State};
use crate::util::{Req, Resp, claim_i64, iso, now_unix, random_uuid};
use serde_json::{Value, json};
use std::collections::BTreeMap;

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn error(error: &str, code: u32, description: String) -> Resp {
    let trace = random_uuid();
    let corr = random_uuid();
    let now = iso(now_unix()).replace('Z', ".0000000Z").replace("T", " ");
    Resp::json(
        400,
        &json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {description} Trace ID: {trace} Correlation ID: {corr} Timestamp: {now}"),
            "error_codes": [code],
            "timestamp": now,
            "trace_id": trace,
            "correlation_id": corr,
        }),
    )
}

/// Issues an access token JWT for `aud` and records it.
fn issue(st: &mut State, aud: &str, client_id: &str) -> (String, i64) {
    let now = now_unix();
    let exp = now + 3599;
    let tenant = st.seed.tenant_id.clone();
    let claims = json!({
        "aud": aud,
        "iss": format!("https://sts.windows.net/{tenant}/"),
        "iat": now,
        "nbf": now,
        "exp": exp,
        "tid": tenant,
        "oid": st.seed.azure_object_id,
        "sub": st.seed.azure_object_id,
        "appid": client_id,
        "idtyp": "app",
        "ver": "1.0",
    });
    let token = mint(st, &claims);
    st.remember_issued(&token);
    st.entra_tokens.push(EntraToken {
        token: token.clone(),
        aud: aud.to_string(),
        exp,
        client_id: client_id.to_string(),
    });
    (token, exp)
}

/// Whether `segs` is one of the discovery documents [`handle`] serves.
pub(crate) fn is_discovery(segs: &[&str]) -> bool {
    matches!(segs, [_, "v2.0", ".well-known", "openid-configuration"])
        || matches!(segs, [_, "discovery", "instance"])
}

/// AADSTS90002; `kind` is `invalid_request` at the token endpoint and `invalid_tenant` in
/// discovery.
fn tenant_not_found(kind: &str, tenant: &str) -> Resp {
    error(
        kind,
        90002,
        format!(
            "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
        ),
    )
}

/// The tenant's OpenID Connect metadata (v2.0 endpoints) or the instance discovery answer.
fn discovery(st: &State, segs: &[String]) -> Resp {
    let base = st.url.trim_end_matches('/');
    let tenant = segs.first().map(String::as_str).unwrap_or_default();
    let host = base.trim_start_matches("https://");
    if segs.get(1).map(String::as_str) == Some("discovery") {
        let t = &st.seed.tenant_id;
        return Resp::json(
            200,
            &json!({
                "tenant_discovery_endpoint": format!("{base}/{t}/v2.0/.well-known/openid-configuration"),
                "api-version": "1.1",
                "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
            }),
        );
    }
    let known = ["common", "organizations"].contains(&tenant)
        || tenant.eq_ignore_ascii_case(&st.seed.tenant_id);
    if !known {
        return tenant_not_found("invalid_tenant", tenant);
    }
    let t = if tenant.eq_ignore_ascii_case(&st.seed.tenant_id) {
        st.seed.tenant_id.as_str()
    } else {
        "{tenantid}"
    };
    Resp::json(
        200,
        &json!({
            "token_endpoint": format!("{base}/{tenant}/oauth2/v2.0/token"),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": format!("{base}/{tenant}/discovery/v2.0/keys"),
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": format!("{base}/{t}/v2.0"),
            "request_uri_parameter_supported": false,
            "authorization_endpoint": format!("{base}/{tenant}/oauth2/v2.0/authorize"),
            "device_authorization_endpoint": format!("{base}/{tenant}/oauth2/v2.0/devicecode"),
            "end_session_endpoint": format!("{base}/{tenant}/oauth2/v2.0/logout"),
            "tenant_region_scope": null,
            "cloud_instance_name": "microsoftonline.com",
        }),
    )
}

pub(crate) fn handle(st: &mut State, req: &Req) -> Option<Resp> {
    let segs = req.segments();
    if req.method == "GET" && is_discovery(&segs.iter().map(String::as_str).collect::<Vec<_>>()) {
        return Some(discovery(st, &segs));
    }
    if req.method != "POST" {
        return None;
    }
    let tenant = segs.first().cloned().unwrap_or_default();
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(&req.body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    if !tenant.eq_ignore_ascii_case(&st.seed.tenant_id) {
        return Some(tenant_not_found("invalid_request", &tenant));
    }
    if field("grant_type") != "client_credentials" {
        return Some(error(
            "unsupported_grant_type",
            70003,
            format!(
                "The app requested an unsupported grant type '{}'.",
                field("grant_type")
            ),
        ));
    }
    let client_id = field("client_id").to_string();
    if client_id != st.seed.azure_client_id {
        return Some(error(
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
        ));
    }
    if field("client_assertion_type") != ASSERTION_TYPE {
        return Some(error(
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_assertion_type'."
                .into(),
        ));
    }
    let Some(claims) = verify(st, field("client_assertion")) else {
        return Some(error(
            "invalid_client",
            700211,
            "No matching federated identity record found for presented assertion issuer. Please note that the matching is done using a case-sensitive comparison. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion.".into(),
        ));
    };
    if claims.get("iss").and_then(Value::as_str) != Some(ISSUER) {
        return Some(error(
            "invalid_client",
            700211,
            "No matching federated identity record found for presented assertion issuer.".into(),
        ));
    }
    let now = now_unix();
    let exp = claim_i64(&claims, "exp").unwrap_or(0);
    let nbf = claim_i64(&claims, "nbf").unwrap_or(0);
    if exp <= now || nbf > now + 300 {
        return Some(error(
            "invalid_client",
            700024,
            format!(
                "Client assertion is not within its valid time range. Current time: {}, assertion valid from {}, expiry time of assertion {}.",
                iso(now),
                iso(nbf),
                iso(exp)
            ),
        ));
    }
    let aud = claims.get("aud").and_then(Value::as_str).unwrap_or("");
    if aud != st.seed.expected_audience {
        return Some(error(
            "invalid_client",
            700212,
            format!(
                "No matching federated identity record found for presented assertion audience '{aud}'."
            ),
        ));
    }
    let sub = claims.get("sub").and_then(Value::as_str).unwrap_or("");
    if sub != st.seed.oidc_subject {
        return Some(error(
            "invalid_client",
            700213,
            format!(
                "No matching federated identity record found for presented assertion subject '{sub}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion."
            ),
        ));
    }
    let scope = field("scope");
    let Some(resource) = scope
        .strip_suffix("/.default")
        .filter(|r| !r.is_empty() && !r.contains(' '))
    else {
        return Some(error(
            "invalid_scope",
            70011,
            format!(
                "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."
            ),
        ));
    };
    let (token, _) = issue(st, resource, &client_id);
    Some(Resp::json(
        200,
        &json!({
            "token_type": "Bearer",
            "expires_in": 3599,
            "ext_expires_in": 3599,
            "access_token": token,
        }),
    ))
}

/// `GET /metadata/identity/oauth2/token?api-version=..&resource=..[&client_id=..]`, header
/// `Metadata: true` (as sent by azure_identity's `ManagedIdentityCredential`).
pub(crate) fn handle_imds(st: &mut State, req: &Req) -> Option<Resp> {
    if req.method != "GET" {
        return None;
    }
    let imds_error = |status: u16, error: &str, desc: &str| {
        Resp::json(status, &json!({"error": error, "error_description": desc}))
    };
    if !req
        .header("metadata")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        return Some(imds_error(
            400,
            "invalid_request",
            "Required metadata header not specified",
        ));
    }
    if req.query_param("api-version").is_none_or(|v| v.is_empty()) {
        return Some(imds_error(
            400,
            "invalid_request",
            "Required query variable 'api-version' is missing",
        ));
    }
    let Some(resource) = req.query_param("resource").filter(|r| !r.is_empty()) else {
        return Some(imds_error(
            400,
            "invalid_request",
            "Required query variable 'resource' is missing",
        ));
    };
    if let Some(cid) = req.query_param("client_id")
        && cid != st.seed.azure_client_id
    {
        return Some(imds_error(400, "invalid_request", "Identity not found"));
    }
    if let Some(oid) = req.query_param("object_id")
        && oid != st.seed.azure_object_id
    {
        return Some(imds_error(400, "invalid_request", "Identity not found"));
    }
    let resource = resource.trim_end_matches('/').to_string();
    let client_id = st.seed.azure_client_id.clone();
    let (token, exp) = issue(st, &resource, &client_id);
    Some(Resp::json(
        200,
        &json!({
            "access_token": token,
            "client_id": client_id,
            "expires_in": "3599",
            "expires_on": exp.to_string(),
            "ext_expires_in": "3599",
            "not_before": (exp - 3599).to_string(),
            "resource": resource,
            "token_type": "Bearer",
        }),
    ))
}
