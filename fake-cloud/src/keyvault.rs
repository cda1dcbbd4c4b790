//! Key Vault secrets (`/secrets/...`); the vault URL is the server URL.

use crate::state::State;
use crate::util::{Req, Resp, azure_error, now_unix, random_hex};
use crate::{KvRole, SecretVersion};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

fn unauthorized(st: &State, message: &str) -> Resp {
    azure_error(401, "Unauthorized", message).with_header(
        "www-authenticate",
        format!(
            "Bearer authorization=\"{}/{}\", resource=\"https://vault.azure.net\"",
            st.authority(),
            st.seed.tenant_id
        ),
    )
}

fn not_found(name: &str) -> Resp {
    azure_error(
        404,
        "SecretNotFound",
        &format!(
            "A secret with (name/id) {name} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"
        ),
    )
}

fn bad_parameter(message: &str) -> Resp {
    azure_error(400, "BadParameter", message)
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Set,
    Get,
    Update,
    Versions,
}

impl Op {
    fn action(self) -> &'static str {
        match self {
            Op::Set => "Microsoft.KeyVault/vaults/secrets/setSecret/action",
            Op::Get => "Microsoft.KeyVault/vaults/secrets/getSecret/action",
            Op::Update => "Microsoft.KeyVault/vaults/secrets/update/action",
            Op::Versions => "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
        }
    }

    fn allowed(self, role: KvRole) -> bool {
        match role {
            KvRole::SecretsOfficer => true,
            KvRole::SecretsUser => matches!(self, Op::Get | Op::Versions),
            KvRole::None => false,
        }
    }
}

fn attributes(v: &SecretVersion) -> Value {
    let mut a = json!({
        "enabled": v.enabled,
        "created": v.created,
        "updated": v.updated,
        "recoveryLevel": "Recoverable+Purgeable",
        "recoverableDays": 90,
    });
    if let Some(exp) = v.exp {
        a["exp"] = json!(exp);
    }
    if let Some(nbf) = v.nbf {
        a["nbf"] = json!(nbf);
    }
    a
}

fn bundle(url: &str, name: &str, v: &SecretVersion, with_value: bool) -> Value {
    let mut b = json!({
        "id": format!("{url}/secrets/{name}/{}", v.version),
        "attributes": attributes(v),
    });
    if with_value {
        b["value"] = json!(v.value);
    }
    if let Some(ct) = &v.content_type {
        b["contentType"] = json!(ct);
    }
    if !v.tags.is_empty() {
        b["tags"] = json!(v.tags);
    }
    b
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 127
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Parsed optional fields shared by set and update bodies.
struct Fields {
    content_type: Option<String>,
    tags: Option<BTreeMap<String, String>>,
    enabled: Option<bool>,
    exp: Option<i64>,
    nbf: Option<i64>,
}

fn parse_fields(body: &Map<String, Value>) -> Result<Fields, String> {
    let content_type = match body.get("contentType") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err("contentType must be a string".into()),
    };
    let tags = match body.get("tags") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => {
            let mut t = BTreeMap::new();
            for (k, v) in m {
                let Some(s) = v.as_str() else {
                    return Err(format!("tag {k} must be a string"));
                };
                t.insert(k.clone(), s.to_string());
            }
            Some(t)
        }
        Some(_) => return Err("tags must be an object".into()),
    };
    let attrs = body.get("attributes").cloned().unwrap_or(Value::Null);
    let enabled = attrs.get("enabled").and_then(Value::as_bool);
    let exp = attrs.get("exp").and_then(Value::as_i64);
    let nbf = attrs.get("nbf").and_then(Value::as_i64);
    Ok(Fields {
        content_type,
        tags,
        enabled,
        exp,
        nbf,
    })
}

pub(crate) fn handle(st: &mut State, req: &Req) -> Option<Resp> {
    let segs = req.segments();
    let (op, name, version) = match (req.method.as_str(), segs.as_slice()) {
        ("PUT", [_, name]) => (Op::Set, name.clone(), None),
        ("GET", [_, name, v]) if v.eq_ignore_ascii_case("versions") => {
            (Op::Versions, name.clone(), None)
        }
        ("GET", [_, name]) => (Op::Get, name.clone(), None),
        ("GET", [_, name, v]) => (
            Op::Get,
            name.clone(),
            Some(v.clone()).filter(|v| !v.is_empty()),
        ),
        ("PATCH", [_, name, v]) if !v.is_empty() => (Op::Update, name.clone(), Some(v.clone())),
        _ => return None,
    };

    // Authentication first: the SDK's first (body-less) request discovers the challenge.
    let Some(bearer) = req.bearer() else {
        return Some(unauthorized(
            st,
            "AKV10000: Request is missing a Bearer or PoP token.",
        ));
    };
    let Some(token) = st.entra_tokens.iter().find(|t| t.token == bearer).cloned() else {
        return Some(unauthorized(
            st,
            "AKV10021: Invalid token: the token was not issued by a trusted issuer.",
        ));
    };
    if token.aud.trim_end_matches('/') != "https://vault.azure.net" {
        return Some(unauthorized(
            st,
            &format!(
                "AKV10022: Invalid audience. Expected https://vault.azure.net, found: {}.",
                token.aud
            ),
        ));
    }
    if token.exp <= now_unix() {
        return Some(unauthorized(st, "AKV10032: Token expired."));
    }
    let Some(api_version) = req.query_param("api-version").filter(|v| !v.is_empty()) else {
        return Some(bad_parameter(
            "The request URI contains an invalid or missing api-version query parameter.",
        ));
    };
    if !valid_name(&name) {
        return Some(bad_parameter(&format!(
            "The request URI contains an invalid name: {name}"
        )));
    }
    // A role assigned by a deployment takes a while to reach Key Vault.
    let settling = st
        .arm
        .rbac_changed
        .is_some_and(|t| t.elapsed() < std::time::Duration::from_millis(st.seed.kv_rbac_settle_ms));
    if settling || !op.allowed(st.kv_role) {
        return Some(Resp::json(
            403,
            &json!({"error": {
                "code": "Forbidden",
                "message": format!(
                    "Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: appid={};oid={};iss=https://sts.windows.net/{}/\r\nAction: '{}'\r\nResource: '/subscriptions/{}/resourcegroups/fake/providers/microsoft.keyvault/vaults/fake/secrets/{}'\r\nAssignment: (not found)\r\nDenyAssignmentId: null\r\nDecisionReason: null \r\nVault: fake;location=local\r\n",
                    token.client_id, st.seed.azure_object_id, st.seed.tenant_id, op.action(), st.seed.subscription_id, name.to_ascii_lowercase()
                ),
                "innererror": {"code": "ForbiddenByRbac"},
            }}),
        ));
    }

    let url = st.url.clone();
    Some(match op {
        Op::Set => set(st, &url, &name, req),
        Op::Get => get(st, &url, &name, version.as_deref()),
        Op::Update => update(st, &url, &name, version.as_deref().unwrap_or(""), req),
        Op::Versions => versions(st, &url, &name, &api_version, req),
    })
}

fn set(st: &mut State, url: &str, name: &str, req: &Req) -> Resp {
    let Some(Value::Object(body)) = req.json() else {
        return bad_parameter("The request body must be a JSON object.");
    };
    let Some(value) = body.get("value").and_then(Value::as_str) else {
        return bad_parameter("Property value is required and must be a string.");
    };
    let f = match parse_fields(&body) {
        Ok(f) => f,
        Err(e) => return bad_parameter(&e),
    };
    let now = now_unix();
    let v = SecretVersion {
        version: random_hex(32),
        value: value.to_string(),
        content_type: f.content_type,
        tags: f.tags.unwrap_or_default(),
        enabled: f.enabled.unwrap_or(true),
        created: now,
        updated: now,
        exp: f.exp,
        nbf: f.nbf,
    };
    st.insert_version(name, v.clone());
    Resp::json(200, &bundle(url, name, &v, true))
}

fn get(st: &State, url: &str, name: &str, version: Option<&str>) -> Resp {
    let Some(secret) = st.secrets.get(&name.to_ascii_lowercase()) else {
        return not_found(name);
    };
    let v = match version {
        // Versions are kept ordered by `created`; the last one is the latest.
        None => secret.versions.last(),
        Some(ver) => secret
            .versions
            .iter()
            .find(|v| v.version.eq_ignore_ascii_case(ver)),
    };
    let Some(v) = v else {
        return not_found(&format!("{name}/{}", version.unwrap_or_default()));
    };
    if !v.enabled {
        return Resp::json(
            403,
            &json!({"error": {"code": "Forbidden", "message": "Operation get is not allowed on a disabled secret.", "innererror": {"code": "SecretDisabled"}}}),
        );
    }
    Resp::json(200, &bundle(url, &secret.name, v, true))
}

fn update(st: &mut State, url: &str, name: &str, version: &str, req: &Req) -> Resp {
    let body = match req.json() {
        Some(Value::Object(b)) => b,
        None => Map::new(),
        Some(_) => return bad_parameter("The request body must be a JSON object."),
    };
    let f = match parse_fields(&body) {
        Ok(f) => f,
        Err(e) => return bad_parameter(&e),
    };
    let Some(secret) = st.secrets.get_mut(&name.to_ascii_lowercase()) else {
        return not_found(name);
    };
    let display = secret.name.clone();
    let Some(v) = secret
        .versions
        .iter_mut()
        .find(|v| v.version.eq_ignore_ascii_case(version))
    else {
        return not_found(&format!("{name}/{version}"));
    };
    if let Some(ct) = f.content_type {
        v.content_type = Some(ct);
    }
    if let Some(t) = f.tags {
        v.tags = t;
    }
    if let Some(e) = f.enabled {
        v.enabled = e;
    }
    if f.exp.is_some() {
        v.exp = f.exp;
    }
    if f.nbf.is_some() {
        v.nbf = f.nbf;
    }
    v.updated = now_unix();
    let v = v.clone();
    Resp::json(200, &bundle(url, &display, &v, false))
}

fn versions(st: &State, url: &str, name: &str, api_version: &str, req: &Req) -> Resp {
    let max = match req.query_param("maxresults") {
        None => 25,
        Some(m) => match m.parse::<usize>() {
            Ok(n) if (1..=25).contains(&n) => n,
            _ => {
                return bad_parameter(&format!(
                    "Invalid value for maxresults: {m}. It must be between 1 and 25."
                ));
            }
        },
    };
    let page = max.min(st.seed.kv_page_size.max(1));
    let skip: usize = req
        .query_param("$skiptoken")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let Some(secret) = st.secrets.get(&name.to_ascii_lowercase()) else {
        return not_found(name);
    };
    let items: Vec<Value> = secret
        .versions
        .iter()
        .skip(skip)
        .take(page)
        .map(|v| bundle(url, &secret.name, v, false))
        .collect();
    let next = skip + page;
    let next_link = if next < secret.versions.len() {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        ser.append_pair("api-version", api_version)
            .append_pair("$skiptoken", &next.to_string())
            .append_pair("maxresults", &max.to_string());
        Value::String(format!(
            "{url}/secrets/{}/versions?{}",
            secret.name,
            ser.finish()
        ))
    } else {
        Value::Null
    };
    Resp::json(200, &json!({"value": items, "nextLink": next_link}))
}
