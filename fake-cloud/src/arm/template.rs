//! A deployment request read and its template evaluated, as a PUT, a What-If and a preflight
//! all start: body checks, parameters (passed, defaulted, Key Vault references), resources (copy
//! loops, conditions, nested inline templates) and outputs. Expressions are [`super::expr`]'s.

use super::expr::{self, Ctx, eval_str, eval_value, get_ci, provider_path, text, try_eval};
use super::ids::scope_path;
use crate::state::State;
use crate::util::{Req, Resp, azure_error, stable_id};
use serde_json::{Map, Value, json};

fn invalid_template(message: &str) -> Resp {
    azure_error(
        400,
        "InvalidTemplate",
        &format!("Deployment template validation failed: '{message}'."),
    )
}

/// A validated deployment request.
pub(super) struct Prepared {
    pub mode: String,
    pub params_echo: Value,
    pub outputs: Map<String, Value>,
    pub resources: Vec<Resource>,
    pub template_hash: String,
}

/// A resource the template deploys, evaluated.
pub(super) struct Resource {
    pub rtype: String,
    pub name: String,
    pub id: String,
    /// The `apiVersion` the template names it with (empty if none).
    pub api_version: String,
    /// The resource as the resource provider receives it.
    pub body: Value,
}

fn type_name(t: &str) -> String {
    match t.to_ascii_lowercase().as_str() {
        "string" => "String".into(),
        "int" => "Int".into(),
        "bool" => "Bool".into(),
        "object" => "Object".into(),
        "array" => "Array".into(),
        "securestring" => "SecureString".into(),
        "secureobject" => "SecureObject".into(),
        _ => t.to_string(),
    }
}

/// Validates a `Deployment`/`DeploymentWhatIf` body and evaluates its template.
fn prepare(
    st: &State,
    sub: &str,
    rg: Option<&str>,
    location: Option<&str>,
    body: &Value,
) -> Result<Prepared, Resp> {
    expr::clear_references();
    // Resources that exist already (a team's own vault, registry, identity) answer
    // `reference()` too, as ARM's do, whatever their resource group.
    for (id, existing) in &st.arm.registry {
        let rtype = existing
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let name = existing
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let mut view = runtime_view(st, rtype, name, id, existing);
        if let (Some(view), Some(Value::Object(props))) =
            (view.as_object_mut(), existing.get("properties"))
        {
            for (k, v) in props {
                view.insert(k.clone(), v.clone());
            }
        }
        expr::set_reference(id, view);
    }
    prepare_at(st, sub, rg, location, body)
}

/// What `reference()` returns for a planned resource: its properties, plus the read-only ones
/// the resource provider would add.
fn runtime_view(st: &State, rtype: &str, name: &str, id: &str, body: &Value) -> Value {
    let mut view = body.get("properties").cloned().unwrap_or_else(|| json!({}));
    if !view.is_object() {
        view = json!({});
    }
    match rtype.to_ascii_lowercase().as_str() {
        "microsoft.keyvault/vaults" => {
            view["vaultUri"] = json!(super::vaults::vault_uri(st, name));
        }
        "microsoft.managedidentity/userassignedidentities" => {
            view["principalId"] = json!(random_uuid_from(&format!("principal:{id}")));
            view["clientId"] = json!(random_uuid_from(&format!("client:{id}")));
            view["tenantId"] = json!(st.seed.tenant_id);
        }
        "microsoft.containerregistry/registries" => {
            view["loginServer"] = json!(st.login_server(name));
        }
        "microsoft.operationalinsights/workspaces" => {
            view["customerId"] = json!(random_uuid_from(&format!("workspace:{id}")));
        }
        _ => {}
    }
    view
}

/// A UUID-shaped stable hash (the same resource id gives the same principal id).
fn random_uuid_from(seed: &str) -> String {
    let h = stable_id(seed);
    let g = stable_id(&format!("{seed}#"));
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        h & 0xffff_ffff,
        (h >> 32) & 0xffff,
        (g >> 4) & 0xfff,
        (g >> 16) & 0xfff,
        (g >> 28) & 0xffff_ffff_ffff
    )
}

fn prepare_at(
    st: &State,
    sub: &str,
    rg: Option<&str>,
    location: Option<&str>,
    body: &Value,
) -> Result<Prepared, Resp> {
    let props = body.get("properties").cloned().unwrap_or(Value::Null);
    let Some(template) = props.get("template").and_then(Value::as_object) else {
        return Err(azure_error(
            400,
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized: 'properties.template' must be a JSON object (fake-cloud does not support templateLink).",
        ));
    };
    if !template.contains_key("$schema") {
        return Err(invalid_template(
            "Required property '$schema' not found in JSON. Path '', line 1, position 1.",
        ));
    }
    let resources: Vec<Value> = match template.get("resources") {
        Some(Value::Array(a)) => a.clone(),
        Some(Value::Object(m)) => m.values().cloned().collect(),
        _ => {
            return Err(invalid_template(
                "Required property 'resources' not found in JSON. Path '', line 1, position 1.",
            ));
        }
    };
    let mode = match props.get("mode") {
        None | Some(Value::Null) => "Incremental".to_string(),
        Some(Value::String(m)) if m == "Incremental" || m == "Complete" => m.clone(),
        Some(other) => {
            return Err(azure_error(
                400,
                "InvalidRequestContent",
                &format!(
                    "The request content was invalid and could not be deserialized: 'Error converting value {other} to type 'DeploymentMode'. Path 'properties.mode'.'."
                ),
            ));
        }
    };
    let declared = template
        .get("parameters")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let passed = props
        .get("parameters")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let unknown: Vec<&str> = passed
        .keys()
        .filter(|k| get_ci(&declared, k).is_none())
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        let names: Vec<&str> = declared.keys().map(String::as_str).collect();
        return Err(invalid_template(&format!(
            "The template parameters '{}' in the parameters file are not valid; they are not present in the original template and can therefore not be provided at deployment time. The only supported parameters for this template are '{}'. Please see https://aka.ms/arm-pass-parameter-values for usage details.",
            unknown.join(", "),
            names.join(", ")
        )));
    }
    let variables = template
        .get("variables")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let tenant = st.seed.tenant_id.clone();
    let rg_location = rg
        .and_then(|rg| st.arm.resource(&scope_path(sub, Some(rg))))
        .and_then(|r| r.get("location").and_then(Value::as_str))
        .map(str::to_string)
        .or_else(|| location.map(str::to_string))
        .unwrap_or_else(|| "westus".into());
    // What every expression sees but the parameters (filled in as they are known).
    let no_params = Map::new();
    let scope = Ctx {
        params: &no_params,
        variables: &variables,
        copy_index: None,
        subscription_id: sub,
        tenant_id: &tenant,
        resource_group: rg,
        location: &rg_location,
        depth: 0,
    };
    let mut params = Map::new();
    let mut echo = Map::new();
    for (name, decl) in &declared {
        let value = if let Some(p) = get_ci(&passed, name) {
            match (p.get("value"), p.get("reference")) {
                (Some(v), _) => v.clone(),
                (None, Some(_)) => json!(format!("fake:keyvault-reference:{name}")),
                (None, None) => Value::Null,
            }
        } else if let Some(default) = decl.get("defaultValue") {
            // Defaults see the parameters declared before them.
            eval_value(
                default,
                &Ctx {
                    params: &params,
                    ..scope
                },
            )
        } else {
            return Err(invalid_template(&format!(
                "The value for the template parameter '{name}' at line '1' and column '1' is not provided. Please see https://aka.ms/arm-create-parameter-file for usage details."
            )));
        };
        let ptype = decl.get("type").and_then(Value::as_str).unwrap_or("string");
        let mut e = json!({"type": type_name(ptype)});
        if !ptype.to_ascii_lowercase().starts_with("secure") {
            e["value"] = value.clone();
        }
        echo.insert(name.clone(), e);
        params.insert(name.clone(), value);
    }
    let ctx = Ctx {
        params: &params,
        ..scope
    };

    // Resources (with copy loops and conditions).
    let mut planned = Vec::new();
    for res in &resources {
        if res.get("existing").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        let (count, looped) = match res.get("copy").and_then(|c| c.get("count")) {
            Some(Value::Number(n)) => (n.as_i64().unwrap_or(0), true),
            Some(Value::String(s)) => (
                try_eval(s, &ctx).and_then(|v| v.as_i64()).unwrap_or(0),
                true,
            ),
            _ => (1, false),
        };
        for i in 0..count.max(0) {
            let ictx = Ctx {
                copy_index: looped.then_some(i),
                ..ctx
            };
            if let Some(cond) = res.get("condition") {
                let c = match cond {
                    Value::String(s) => try_eval(s, &ictx),
                    other => Some(other.clone()),
                };
                if c == Some(Value::Bool(false)) {
                    continue;
                }
            }
            let api_version = match res.get("apiVersion") {
                Some(Value::String(v)) => {
                    try_eval(v, &ictx).map_or_else(|| v.clone(), |v| text(&v))
                }
                _ => String::new(),
            };
            let mut raw = res.as_object().cloned().unwrap_or_default();
            for k in ["copy", "dependsOn", "condition", "apiVersion", "comments"] {
                raw.remove(k);
            }
            let ev = eval_value(&Value::Object(raw), &ictx);
            let rtype = ev.get("type").map(text).unwrap_or_default();
            let last = rtype.rsplit('/').next().unwrap_or("resource").to_string();
            let name = match res.get("name") {
                Some(Value::String(n)) => match try_eval(n, &ictx) {
                    Some(v) => text(&v),
                    None => format!("{last}-{i}"),
                },
                _ => format!("{last}-{i}"),
            };
            let target_rg = match ev.get("resourceGroup") {
                Some(Value::String(r)) if !r.starts_with("fake:") => Some(r.clone()),
                _ => rg.map(str::to_string),
            };
            let id = if rg.is_none()
                && rtype.eq_ignore_ascii_case("Microsoft.Resources/resourceGroups")
            {
                format!("/subscriptions/{sub}/resourceGroups/{name}")
            } else {
                let names: Vec<String> = name.split('/').map(str::to_string).collect();
                let group = scope_path(sub, target_rg.as_deref());
                // An extension resource (a role assignment) lives under its `scope`: a
                // resource id, or `Type/name` of a resource of this group.
                let at = match ev.get("scope").and_then(Value::as_str) {
                    Some(s) if s.starts_with('/') => s.trim_end_matches('/').to_string(),
                    Some(s) if !s.is_empty() && !s.starts_with("fake:") => {
                        format!("{group}/providers/{}", s.trim_matches('/'))
                    }
                    _ => group,
                };
                format!("{at}{}", provider_path(&rtype, &names))
            };
            let mut body = json!({"id": id, "name": name, "type": rtype});
            for k in ["location", "tags", "identity", "sku", "kind", "zones"] {
                if let Some(v) = ev.get(k) {
                    body[k] = v.clone();
                }
            }
            body["properties"] = ev.get("properties").cloned().unwrap_or_else(|| json!({}));
            expr::set_reference(&id, runtime_view(st, &rtype, &name, &id, &body));
            let nested = res
                .pointer("/properties/template")
                .filter(|t| {
                    t.is_object() && rtype.eq_ignore_ascii_case("Microsoft.Resources/deployments")
                })
                .cloned();
            planned.push(Resource {
                rtype,
                name,
                id: id.clone(),
                api_version,
                body: body.clone(),
            });
            // An inline template with inner scope: its resources are deployed too, and its
            // outputs are what `reference(deployment).outputs` reads.
            if let Some(template) = nested {
                let inner = json!({"properties": {
                    "template": template,
                    "parameters": body["properties"].get("parameters").cloned().unwrap_or(json!({})),
                    "mode": "Incremental",
                }});
                let location = body
                    .get("location")
                    .and_then(Value::as_str)
                    .unwrap_or(&rg_location)
                    .to_string();
                if let Ok(p) = prepare_at(st, sub, target_rg.as_deref(), Some(&location), &inner) {
                    expr::set_reference(&id, json!({"outputs": p.outputs}));
                    planned.extend(p.resources);
                }
            }
        }
    }

    // Outputs.
    let mut outputs = Map::new();
    if let Some(outs) = template.get("outputs").and_then(Value::as_object) {
        for (name, o) in outs {
            // An output whose condition is false is left out, as ARM leaves it out.
            if let Some(cond) = o.get("condition") {
                let holds = match cond {
                    Value::String(s) => try_eval(s, &ctx),
                    v => Some(v.clone()),
                };
                if holds != Some(Value::Bool(true)) {
                    continue;
                }
            }
            let otype = o.get("type").and_then(Value::as_str).unwrap_or("string");
            let value = if let Some(copy) = o.get("copy") {
                let count = match copy.get("count") {
                    Some(Value::String(s)) => try_eval(s, &ctx).and_then(|v| v.as_i64()),
                    Some(v) => v.as_i64(),
                    None => None,
                }
                .unwrap_or(0);
                let input = copy.get("input").cloned().unwrap_or(Value::Null);
                Value::Array(
                    (0..count.max(0))
                        .map(|i| {
                            eval_value(
                                &input,
                                &Ctx {
                                    copy_index: Some(i),
                                    ..ctx
                                },
                            )
                        })
                        .collect(),
                )
            } else {
                match o.get("value") {
                    Some(Value::String(s)) => eval_str(s, &ctx),
                    Some(v) => eval_value(v, &ctx),
                    None => Value::Null,
                }
            };
            outputs.insert(
                name.clone(),
                json!({"type": type_name(otype), "value": value}),
            );
        }
    }
    let template_hash = stable_id(&Value::Object(template.clone()).to_string()).to_string();
    Ok(Prepared {
        mode,
        params_echo: Value::Object(echo),
        outputs,
        resources: planned,
        template_hash,
    })
}

/// The request body as a JSON object (read as leniently as ARM reads it).
pub(super) fn body_object(req: &Req) -> Result<Value, Resp> {
    match crate::util::parse_lenient_json(&req.body) {
        Some(v @ Value::Object(_)) => Ok(v),
        _ => Err(azure_error(
            400,
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized: the body must be a JSON object.",
        )),
    }
}

fn require_location(rg: Option<&str>, name: &str, body: &Value) -> Result<Option<String>, Resp> {
    let location = body
        .get("location")
        .and_then(Value::as_str)
        .filter(|l| !l.is_empty())
        .map(str::to_string);
    if rg.is_none() && location.is_none() {
        return Err(azure_error(
            400,
            "InvalidDeployment",
            &format!(
                "The deployment '{name}' at subscription scope is invalid: location is required."
            ),
        ));
    }
    Ok(location)
}

/// The request body, the deployment's location and the evaluated template: what a PUT, a
/// What-If and a validation all start from.
pub(super) fn evaluate(
    st: &State,
    sub: &str,
    rg: Option<&str>,
    name: &str,
    req: &Req,
) -> Result<(Value, Option<String>, Prepared), Resp> {
    let body = body_object(req)?;
    let location = require_location(rg, name, &body)?;
    let p = prepare(st, sub, rg, location.as_deref(), &body)?;
    Ok((body, location, p))
}
