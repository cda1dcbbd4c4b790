//! Contract checks of exchanges against the official API descriptions in `api-specs/`.
//!
//! Each exchange is matched (method + path template, literal segments compared
//! case-insensitively) to an operation; required query parameters, the request body, the
//! response status and the response body are checked. The JSON-schema validator supports what
//! these files use: `$ref`, `type` (with OAS3 `nullable` and Swagger `x-nullable`),
//! `properties`, `required`, `additionalProperties`, `items`, `enum`, `allOf`, `anyOf` and
//! `oneOf` (one match is enough); `format` and `readOnly` are ignored.
//!
//! Deliberate leniencies (documented deviations of the real services from their descriptions):
//! - Swagger 2.0 (Azure) files: `null` is accepted for an optional property (AutoRest treats
//!   non-required properties as nullable; Key Vault sends `"nextLink": null`).
//! - GitHub: a 4xx/5xx status the operation does not declare is validated against
//!   `basic-error` instead of being reported (GitHub documents few error responses).
//! - A 401 answer to a request without body (the Key Vault challenge round trip, where the
//!   SDK strips the body) does not count as a missing request body.
//! - ARM (field note): real ARM returns errors *flat* where the 2025-04-01 deployments
//!   description nests an `ErrorResponse` (`{"error": ErrorDetail}`): e.g.
//!   `properties.error` of a failed deployment is `{"code": "DeploymentFailed", "message": ..,
//!   "details": [..]}`, and `{"error": {"code", "message"}}` bodies put `ErrorDetail` fields
//!   directly under `error`. A value in an `ErrorResponse` position that has no `error` key is
//!   therefore validated as an `ErrorDetail`.
//! - ARM `Permissions_ListForResource`: a top-level resource's path has no
//!   `{parentResourcePath}` segment; it is matched as an empty one (see
//!   `permissions_of_resource`).
//! - ARM polling URLs are not in the descriptions: `operationStatuses` (deployments) and
//!   `containerappsjobOperationStatuses` (jobs) are not checked; What-If `operationResults` is
//!   checked against the operation's final-state schema (`WhatIfOperationResult` for 200, no
//!   body for 202).

use crate::Service;
use serde_json::Value;
use std::sync::OnceLock;

const GITHUB: &str = include_str!("../api-specs/github.json");
const KEYVAULT: &str = include_str!("../api-specs/keyvault-secrets.json");
const ARM_DEPLOYMENTS: &str = include_str!("../api-specs/arm-deployments.json");
const CONTAINERAPPS_JOBS: &str = include_str!("../api-specs/containerapps-jobs.json");
const AUTHORIZATION_PERMISSIONS: &str = include_str!("../api-specs/authorization-permissions.json");
const NETWORK: &str = include_str!("../api-specs/network.json");

/// One loaded API description.
struct Spec {
    doc: Value,
    oas3: bool,
    ops: Vec<Operation>,
}

/// One operation of a description.
struct Operation {
    method: String,
    path_key: String,
    template: Vec<String>,
}

fn load(text: &str) -> Spec {
    let doc: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let oas3 = doc.get("openapi").is_some();
    let mut ops = Vec::new();
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        for (path_key, item) in paths {
            let Some(item) = item.as_object() else {
                continue;
            };
            for method in item.keys() {
                if matches!(
                    method.as_str(),
                    "get" | "put" | "post" | "patch" | "delete" | "head"
                ) {
                    ops.push(Operation {
                        method: method.to_ascii_uppercase(),
                        path_key: path_key.clone(),
                        template: split(path_key),
                    });
                }
            }
        }
    }
    Spec { doc, oas3, ops }
}

fn split(path: &str) -> Vec<String> {
    path.trim_start_matches('/')
        .split('/')
        .map(str::to_string)
        .collect()
}

fn specs() -> &'static [(Service, Spec)] {
    static SPECS: OnceLock<Vec<(Service, Spec)>> = OnceLock::new();
    SPECS.get_or_init(|| {
        vec![
            (Service::GitHub, load(GITHUB)),
            (Service::KeyVault, load(KEYVAULT)),
            (Service::Arm, load(ARM_DEPLOYMENTS)),
            (Service::Arm, load(CONTAINERAPPS_JOBS)),
            (Service::Arm, load(AUTHORIZATION_PERMISSIONS)),
            (Service::Arm, load(NETWORK)),
        ]
    })
}

/// Maps a request path to the segments to match, applying service-specific aliases.
/// `None` means the route is a fake-only extension that is not checked.
fn normalize(service: Service, method: &str, path: &str) -> Option<Vec<String>> {
    let mut segs: Vec<String> = split(path)
        .into_iter()
        .map(|s| crate::util::percent_decode(&s))
        .collect();
    match service {
        Service::KeyVault if method == "GET" && segs.len() == 2 => segs.push(String::new()),
        Service::GitHub => {
            if segs.len() == 3 && segs[0] == "repos" {
                return None; // GET /repos/{owner}/{repo}: not in the trimmed description
            }
            if segs.len() >= 3 && segs[0] == "repositories" && segs[2] == "environments" {
                // Same operation shapes as /repos/{owner}/{repo}/environments/...
                let mut v = vec!["repos".to_string(), "_".into(), "_".into()];
                v.extend(segs.drain(2..));
                segs = v;
            }
        }
        Service::Arm => {
            let polls = [
                "operationstatuses",
                "operationresults",
                "containerappsjoboperationstatuses",
            ];
            if segs
                .iter()
                .any(|s| polls.contains(&s.to_ascii_lowercase().as_str()))
            {
                return None;
            }
            segs = permissions_of_resource(segs);
        }
        _ => {}
    }
    Some(segs)
}

/// `Permissions_ListForResource` names the resource path in three parameters,
/// `{resourceProviderNamespace}/{parentResourcePath}/{resourceType}/{resourceName}`; the
/// parent path is one segment there, and none (empty) for a top-level resource. A resource's
/// permissions path is reshaped so: `providers/NS/[PARENT/…/]TYPE/NAME/providers/
/// Microsoft.Authorization/permissions` with the parent segments joined into one.
fn permissions_of_resource(segs: Vec<String>) -> Vec<String> {
    let n = segs.len();
    let is_permissions = n >= 11
        && segs[4].eq_ignore_ascii_case("providers")
        && segs[n - 3..]
            .iter()
            .zip(["providers", "Microsoft.Authorization", "permissions"])
            .all(|(s, want)| s.eq_ignore_ascii_case(want));
    if !is_permissions {
        return segs;
    }
    let mut out = segs[..6].to_vec();
    out.push(segs[6..n - 5].join("/"));
    out.extend_from_slice(&segs[n - 5..]);
    out
}

/// Checks a What-If `operationResults` poll (the LRO's final state), if this is one.
fn check_arm_poll(
    method: &str,
    path: &str,
    status: u16,
    response_body: &[u8],
) -> Option<Vec<String>> {
    let segs = split(path);
    let is_poll = method == "GET"
        && segs.len() == 8
        && segs[6].eq_ignore_ascii_case("operationResults")
        && segs[4].eq_ignore_ascii_case("locations");
    if !is_poll {
        return None;
    }
    let label = format!("{method} {path}");
    let doc = &specs()
        .iter()
        .find(|(s, spec)| {
            *s == Service::Arm
                && spec
                    .doc
                    .pointer("/definitions/WhatIfOperationResult")
                    .is_some()
        })?
        .1
        .doc;
    let text = String::from_utf8_lossy(response_body);
    Some(match status {
        202 if text.trim().is_empty() => Vec::new(),
        202 => vec![format!(
            "{label}: response 202 has a body but the API description declares none"
        )],
        200 => match serde_json::from_str::<Value>(&text) {
            Ok(v) => validate_with(
                doc,
                &serde_json::json!({"$ref": "#/definitions/WhatIfOperationResult"}),
                &v,
                true,
            )
            .into_iter()
            .map(|e| format!("{label}: response 200 body: {e}"))
            .collect(),
            Err(_) => vec![format!("{label}: response 200 body is not JSON")],
        },
        _ => Vec::new(),
    })
}

fn find_op<'a>(spec: &'a Spec, method: &str, segs: &[String]) -> Option<&'a Operation> {
    spec.ops
        .iter()
        .filter(|op| op.method.eq_ignore_ascii_case(method) && op.template.len() == segs.len())
        .filter(|op| {
            op.template
                .iter()
                .zip(segs)
                .all(|(t, s)| (t.starts_with('{') && t.ends_with('}')) || t.eq_ignore_ascii_case(s))
        })
        .max_by_key(|op| op.template.iter().filter(|t| !t.starts_with('{')).count())
}

/// The path template (`"GET /secrets/{secret-name}/versions"`) an exchange matches, if any.
pub fn operation(service: Service, method: &str, path: &str) -> Option<String> {
    let segs = normalize(service, method, path)?;
    specs()
        .iter()
        .filter(|(s, _)| *s == service)
        .find_map(|(_, spec)| find_op(spec, method, &segs))
        .map(|op| format!("{} {}", op.method, op.path_key))
}

/// Resolves a local `$ref` (`#/a/b/c`).
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    let mut cur = v;
    for _ in 0..16 {
        match cur.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let ptr = r.trim_start_matches('#');
                match doc.pointer(ptr) {
                    Some(t) => cur = t,
                    None => return &Value::Null,
                }
            }
            None => return cur,
        }
    }
    cur
}

/// Checks one exchange; returns violation messages (empty if it conforms or is not checked).
pub fn check(
    service: Service,
    method: &str,
    path: &str,
    query: &str,
    request_body: &[u8],
    status: u16,
    response_body: &[u8],
) -> Vec<String> {
    let label = format!("{method} {path}");
    // ARM reads JSON with comments and bare names (what `az` sends); judge the JSON it read.
    let lenient = (service == Service::Arm)
        .then(|| crate::util::parse_lenient_json(request_body))
        .flatten()
        .map(|v| v.to_string().into_bytes());
    let request_body = lenient.as_deref().unwrap_or(request_body);
    if service == Service::Arm
        && let Some(v) = check_arm_poll(method, path, status, response_body)
    {
        return v;
    }
    let Some(segs) = normalize(service, method, path) else {
        return Vec::new();
    };
    let candidates: Vec<&Spec> = specs()
        .iter()
        .filter(|(s, _)| *s == service)
        .map(|(_, s)| s)
        .collect();
    if candidates.is_empty() {
        return Vec::new();
    }
    let Some((spec, op)) = candidates
        .iter()
        .find_map(|spec| find_op(spec, method, &segs).map(|op| (*spec, op)))
    else {
        return vec![format!("{label}: no operation in the API description")];
    };
    let doc = &spec.doc;
    let Some(path_item) = doc.get("paths").and_then(|p| p.get(&op.path_key)) else {
        return Vec::new();
    };
    let Some(operation) = path_item.get(op.method.to_ascii_lowercase()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let query_pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();

    // Parameters (path item + operation).
    let params: Vec<&Value> = path_item
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .chain(
            operation
                .get("parameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten(),
        )
        .map(|p| resolve(doc, p))
        .collect();
    let empty_401 = status == 401 && request_body.iter().all(u8::is_ascii_whitespace);
    let body_text = String::from_utf8_lossy(request_body);
    let has_body = !body_text.trim().is_empty();
    for p in &params {
        let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
        let required = p.get("required").and_then(Value::as_bool).unwrap_or(false);
        match p.get("in").and_then(Value::as_str) {
            Some("query")
                if required && !query_pairs.iter().any(|(k, v)| k == name && !v.is_empty()) =>
            {
                out.push(format!(
                    "{label}: missing required query parameter '{name}'"
                ));
            }
            Some("body") => {
                if let Some(schema) = p.get("schema") {
                    check_request_body(
                        doc, spec.oas3, schema, required, &body_text, has_body, empty_401, &label,
                        &mut out,
                    );
                }
            }
            _ => {}
        }
    }
    if let Some(rb) = operation.get("requestBody") {
        let rb = resolve(doc, rb);
        let required = rb.get("required").and_then(Value::as_bool).unwrap_or(false);
        if let Some(schema) = json_content_schema(rb) {
            check_request_body(
                doc, spec.oas3, schema, required, &body_text, has_body, empty_401, &label, &mut out,
            );
        }
    }

    // Response.
    let responses = operation.get("responses");
    let declared = responses
        .and_then(|r| r.get(status.to_string()))
        .or_else(|| responses.and_then(|r| r.get("default")));
    let schema: Option<&Value> = match declared {
        Some(r) => {
            let r = resolve(doc, r);
            if spec.oas3 {
                json_content_schema(r)
            } else {
                r.get("schema")
            }
        }
        None if spec.oas3 && status >= 400 => doc.pointer("/components/schemas/basic-error"),
        None => {
            out.push(format!(
                "{label}: response status {status} is not declared by the API description"
            ));
            None
        }
    };
    let resp_text = String::from_utf8_lossy(response_body);
    match schema {
        Some(schema) => match serde_json::from_str::<Value>(&resp_text) {
            Ok(v) => {
                for e in validate_with(doc, schema, &v, !spec.oas3) {
                    out.push(format!("{label}: response {status} body: {e}"));
                }
            }
            Err(_) => out.push(format!(
                "{label}: response {status} body is not JSON: {:?}",
                truncate(&resp_text)
            )),
        },
        None if declared.is_some() && !resp_text.trim().is_empty() => out.push(format!(
            "{label}: response {status} has a body but the API description declares none"
        )),
        None => {}
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn check_request_body(
    doc: &Value,
    oas3: bool,
    schema: &Value,
    required: bool,
    body_text: &str,
    has_body: bool,
    empty_401: bool,
    label: &str,
    out: &mut Vec<String>,
) {
    if !has_body {
        if required && !empty_401 {
            out.push(format!("{label}: request body is required"));
        }
        return;
    }
    match serde_json::from_str::<Value>(body_text) {
        Ok(v) => {
            for e in validate_with(doc, schema, &v, !oas3) {
                out.push(format!("{label}: request body: {e}"));
            }
        }
        Err(_) => out.push(format!(
            "{label}: request body is not JSON: {:?}",
            truncate(body_text)
        )),
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(200).collect()
}

fn json_content_schema(r: &Value) -> Option<&Value> {
    let content = r.get("content")?.as_object()?;
    content
        .iter()
        .find(|(k, _)| k.starts_with("application/json"))
        .and_then(|(_, v)| v.get("schema"))
}

/// Validates `value` against `schema` (resolving `$ref`s inside `doc`); returns errors like
/// `$.attributes.created: expected integer, got string`. Optional properties may not be null.
pub fn validate(doc: &Value, schema: &Value, value: &Value) -> Vec<String> {
    validate_with(doc, schema, value, false)
}

fn validate_with(doc: &Value, schema: &Value, value: &Value, lenient_null: bool) -> Vec<String> {
    let mut errs = Vec::new();
    validate_at(doc, schema, value, "$", lenient_null, &mut errs, 0);
    errs
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "integer" => type_name(v) == "integer",
        "number" => v.is_number(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        "null" => v.is_null(),
        _ => true,
    }
}

fn validate_at(
    doc: &Value,
    schema: &Value,
    value: &Value,
    path: &str,
    lenient_null: bool,
    errs: &mut Vec<String>,
    depth: usize,
) {
    if depth > 64 {
        return;
    }
    // Field note: real ARM sends ErrorResponse flat (see the module docs).
    if schema.get("$ref").and_then(Value::as_str) == Some("#/definitions/ErrorResponse")
        && value.is_object()
        && value.get("error").is_none()
        && let Some(detail) = doc.pointer("/definitions/ErrorDetail")
    {
        validate_at(doc, detail, value, path, lenient_null, errs, depth + 1);
        return;
    }
    let schema = resolve(doc, schema);
    let Some(obj) = schema.as_object() else {
        return;
    };
    let nullable = obj.get("nullable").and_then(Value::as_bool) == Some(true)
        || obj.get("x-nullable").and_then(Value::as_bool) == Some(true);
    if value.is_null() && nullable {
        return;
    }
    if let Some(all) = obj.get("allOf").and_then(Value::as_array) {
        for s in all {
            validate_at(doc, s, value, path, lenient_null, errs, depth + 1);
        }
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(alts) = obj.get(key).and_then(Value::as_array) {
            let mut first_errors = None;
            let ok = alts.iter().any(|s| {
                let mut e = Vec::new();
                validate_at(doc, s, value, path, lenient_null, &mut e, depth + 1);
                if first_errors.is_none() {
                    first_errors = Some(e.clone());
                }
                e.is_empty()
            });
            if !ok {
                let detail = first_errors
                    .and_then(|e| e.into_iter().next())
                    .unwrap_or_default();
                errs.push(format!(
                    "{path}: matches none of the {key} alternatives (first: {detail})"
                ));
            }
        }
    }
    let types: Vec<&str> = match obj.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !types.is_empty() && !types.iter().any(|t| type_matches(t, value)) {
        errs.push(format!(
            "{path}: expected {}, got {}",
            types.join("|"),
            type_name(value)
        ));
        return;
    }
    if let Some(en) = obj.get("enum").and_then(Value::as_array)
        && !en.contains(value)
    {
        errs.push(format!(
            "{path}: {value} is not one of {}",
            Value::Array(en.clone())
        ));
    }
    if let Value::Object(map) = value {
        let required: Vec<&str> = obj
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for r in &required {
            if !map.contains_key(*r) {
                errs.push(format!("{path}: missing required property '{r}'"));
            }
        }
        let props = obj.get("properties").and_then(Value::as_object);
        for (k, v) in map {
            let child = format!("{path}.{k}");
            match props.and_then(|p| p.get(k)) {
                Some(ps) => {
                    if v.is_null() && lenient_null && !required.contains(&k.as_str()) {
                        continue;
                    }
                    validate_at(doc, ps, v, &child, lenient_null, errs, depth + 1);
                }
                None => match obj.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        errs.push(format!("{path}: unexpected property '{k}'"));
                    }
                    Some(s @ Value::Object(_)) => {
                        validate_at(doc, s, v, &child, lenient_null, errs, depth + 1);
                    }
                    _ => {}
                },
            }
        }
    }
    if let (Value::Array(items), Some(item_schema)) = (value, obj.get("items")) {
        for (i, v) in items.iter().enumerate() {
            validate_at(
                doc,
                item_schema,
                v,
                &format!("{path}[{i}]"),
                lenient_null,
                errs,
                depth + 1,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kv() -> &'static Value {
        &specs()[1].1.doc
    }

    #[test]
    fn all_specs_load() {
        for (name, s) in specs() {
            assert!(!s.ops.is_empty(), "{name:?} has no operations");
        }
    }

    #[test]
    fn matches_paths() {
        assert_eq!(
            operation(Service::KeyVault, "GET", "/secrets/x/versions").as_deref(),
            Some("GET /secrets/{secret-name}/versions")
        );
        assert_eq!(
            operation(Service::KeyVault, "GET", "/secrets/x").as_deref(),
            Some("GET /secrets/{secret-name}/{secret-version}")
        );
        assert_eq!(
            operation(Service::KeyVault, "GET", "/secrets/x/").as_deref(),
            Some("GET /secrets/{secret-name}/{secret-version}")
        );
        assert_eq!(
            operation(Service::KeyVault, "PUT", "/Secrets/x").as_deref(),
            Some("PUT /secrets/{secret-name}")
        );
        assert_eq!(
            operation(
                Service::GitHub,
                "POST",
                "/app/installations/5/access_tokens"
            )
            .as_deref(),
            Some("POST /app/installations/{installation_id}/access_tokens")
        );
        assert_eq!(
            operation(
                Service::GitHub,
                "GET",
                "/repositories/7/environments/prod/variables/X"
            )
            .as_deref(),
            Some("GET /repos/{owner}/{repo}/environments/{environment_name}/variables/{name}")
        );
        assert_eq!(operation(Service::GitHub, "GET", "/nope"), None);
    }

    #[test]
    fn validates_secret_bundle() {
        let schema = json!({"$ref": "#/definitions/SecretBundle"});
        let good = json!({"value": "v", "id": "https://x/secrets/a/b",
            "attributes": {"enabled": true, "created": 1, "updated": 2, "recoveryLevel": "Recoverable+Purgeable"},
            "tags": {"a": "b"}});
        assert!(validate(kv(), &schema, &good).is_empty());
        let bad = json!({"value": "v", "attributes": {"created": "yesterday", "recoveryLevel": "Nope"}, "tags": {"a": 1}});
        let errs = validate(kv(), &schema, &bad);
        assert!(
            errs.contains(&"$.attributes.created: expected integer, got string".to_string()),
            "{errs:?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.starts_with("$.attributes.recoveryLevel:"))
        );
        assert!(
            errs.iter()
                .any(|e| e.starts_with("$.tags.a: expected string"))
        );
    }

    #[test]
    fn validates_github_installation_and_nullable() {
        let doc = &specs()[0].1.doc;
        let schema = json!({"$ref": "#/components/schemas/installation-token"});
        assert!(validate(doc, &schema, &json!({"token": "t", "expires_at": "x"})).is_empty());
        let errs = validate(doc, &schema, &json!({"token": 5}));
        assert_eq!(errs.len(), 2, "{errs:?}");
        let empty = json!({"$ref": "#/components/schemas/empty-object"});
        assert!(validate(doc, &empty, &json!({})).is_empty());
        assert_eq!(validate(doc, &empty, &json!({"a": 1})).len(), 1);
        // nullable + anyOf
        let inst = json!({"$ref": "#/components/schemas/installation"});
        let errs = validate(doc, &inst, &json!({"account": null}));
        assert!(errs.iter().all(|e| !e.starts_with("$.account")), "{errs:?}");
        let errs = validate(doc, &inst, &json!({"account": 3}));
        assert!(
            errs.iter()
                .any(|e| e.starts_with("$.account: matches none")),
            "{errs:?}"
        );
    }

    #[test]
    fn checks_exchanges() {
        // nextLink null is tolerated in Swagger files; a wrong type is not.
        let v = check(
            Service::KeyVault,
            "GET",
            "/secrets/a/versions",
            "api-version=7.6",
            b"",
            200,
            br#"{"value":[],"nextLink":null}"#,
        );
        assert!(v.is_empty(), "{v:?}");
        let v = check(
            Service::KeyVault,
            "PUT",
            "/secrets/x",
            "",
            br#"{"value":"s"}"#,
            200,
            br#"{"attributes":{"created":"now"}}"#,
        );
        assert_eq!(
            v,
            vec![
                "PUT /secrets/x: missing required query parameter 'api-version'".to_string(),
                "PUT /secrets/x: response 200 body: $.attributes.created: expected integer, got string"
                    .to_string()
            ]
        );
        // The challenge round trip: no body, 401.
        let v = check(
            Service::KeyVault,
            "PUT",
            "/secrets/x",
            "api-version=7.6",
            b"",
            401,
            br#"{"error":{"code":"Unauthorized","message":"m"}}"#,
        );
        assert!(v.is_empty(), "{v:?}");
        // GitHub: undeclared 409 is checked against basic-error; 200 for a 201 op is flagged.
        let v = check(
            Service::GitHub,
            "POST",
            "/repos/o/r/actions/variables",
            "",
            br#"{"name":"A","value":"b"}"#,
            409,
            br#"{"message":"Already exists"}"#,
        );
        assert!(v.is_empty(), "{v:?}");
        let v = check(
            Service::GitHub,
            "POST",
            "/repos/o/r/actions/variables",
            "",
            br#"{"name":"A"}"#,
            200,
            b"{}",
        );
        assert_eq!(v.len(), 2, "{v:?}");
        assert_eq!(
            check(Service::GitHub, "GET", "/nope", "", b"", 404, b"{}"),
            vec!["GET /nope: no operation in the API description".to_string()]
        );
    }

    #[test]
    fn matches_permission_paths() {
        let rg = "GET /subscriptions/{subscriptionId}/resourcegroups/{resourceGroupName}/providers/Microsoft.Authorization/permissions";
        let resource = "GET /subscriptions/{subscriptionId}/resourcegroups/{resourceGroupName}/providers/{resourceProviderNamespace}/{parentResourcePath}/{resourceType}/{resourceName}/providers/Microsoft.Authorization/permissions";
        let base = "/subscriptions/s/resourceGroups/g";
        let of = |p: &str| operation(Service::Arm, "GET", &format!("{base}{p}"));
        let perms = "/providers/Microsoft.Authorization/permissions";
        assert_eq!(of(perms).as_deref(), Some(rg));
        assert_eq!(
            of(&format!("/providers/Microsoft.KeyVault/vaults/v{perms}")).as_deref(),
            Some(resource)
        );
        assert_eq!(
            of(&format!(
                "/providers/Microsoft.KeyVault/vaults/v/secrets/s{perms}"
            ))
            .as_deref(),
            Some(resource)
        );
        assert_eq!(
            of("/providers/Microsoft.App/jobs/j/executions").as_deref(),
            Some(
                "GET /subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.App/jobs/{jobName}/executions"
            )
        );
        // Unchanged: other paths of the same length.
        assert_eq!(
            permissions_of_resource(split(
                "/subscriptions/s/resourceGroups/g/providers/Microsoft.App/jobs/j/x/y/z"
            )),
            split("/subscriptions/s/resourceGroups/g/providers/Microsoft.App/jobs/j/x/y/z")
        );
    }

    #[test]
    fn checks_arm_exchanges() {
        let dep = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Resources/deployments/d";
        assert_eq!(
            operation(Service::Arm, "GET", dep).as_deref(),
            Some(
                "GET /subscriptions/{subscriptionId}/resourcegroups/{resourceGroupName}/providers/Microsoft.Resources/deployments/{deploymentName}"
            )
        );
        // Flat errors (field note) pass; a wrong type inside them does not.
        let failed = br#"{"id":"x","properties":{"provisioningState":"Failed","error":{"code":"DeploymentFailed","message":"m","details":[{"code":"c","message":"m"}]}}}"#;
        assert!(
            check(
                Service::Arm,
                "GET",
                dep,
                "api-version=2025-04-01",
                b"",
                200,
                failed
            )
            .is_empty()
        );
        let bad = br#"{"properties":{"provisioningState":"Nope","error":{"code":1}}}"#;
        assert_eq!(
            check(
                Service::Arm,
                "GET",
                dep,
                "api-version=2025-04-01",
                b"",
                200,
                bad
            )
            .len(),
            2
        );
        let flat = br#"{"error":{"code":"DeploymentNotFound","message":"m"}}"#;
        assert!(
            check(
                Service::Arm,
                "GET",
                dep,
                "api-version=2025-04-01",
                b"",
                404,
                flat
            )
            .is_empty()
        );
        // Polls: operationStatuses unchecked, What-If results against WhatIfOperationResult.
        let poll =
            "/subscriptions/s/providers/Microsoft.Resources/locations/westus/operationResults/1";
        assert!(check(Service::Arm, "GET", poll, "", b"", 202, b"").is_empty());
        assert_eq!(
            check(
                Service::Arm,
                "GET",
                poll,
                "",
                b"",
                200,
                br#"{"properties":{"changes":[{}]}}"#
            )
            .len(),
            1
        );
        let status =
            "/subscriptions/s/providers/Microsoft.Resources/deployments/d/operationStatuses/1";
        assert!(check(Service::Arm, "GET", status, "", b"", 200, b"{}").is_empty());
        // Jobs.
        let job = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.App/jobs/j";
        let v = check(
            Service::Arm,
            "GET",
            job,
            "api-version=2025-07-01",
            b"",
            200,
            br#"{"properties":{}}"#,
        );
        assert_eq!(v.len(), 1, "{v:?}");
    }
}
