//! The listener, routing, faults, latency, request log and the admin API.

use crate::state::{State, lock};
use crate::util::{Req, Resp, jwt_payload, now_unix, random_uuid};
use crate::{
    ArmRole, FailDeployment, Fault, FaultAction, GithubApp, KvRole, LoggedRequest,
    NewSecretVersion, Service, contract,
};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_rustls::TlsAcceptor;

/// Returned from the service to make hyper close the connection without a response.
#[derive(Debug)]
struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("fault: dropping connection")
    }
}

impl std::error::Error for DropConnection {}

type Shared = Arc<Mutex<State>>;

/// Accepts connections until `shutdown` fires.
pub(crate) async fn serve(
    listener: std::net::TcpListener,
    acceptor: TlsAcceptor,
    shared: Shared,
    mut shutdown: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("fake-cloud: cannot use listener: {e}");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let Ok((tcp, _peer)) = accepted else { continue };
                let acceptor = acceptor.clone();
                let shared = shared.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let svc = service_fn(move |req| handle(shared.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                });
            }
        }
    }
}

/// The service a path belongs to (the registry data plane, told apart by host too, is decided
/// before).
fn service_of(path: &str) -> Service {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if path == "/_actions/idtoken" {
        Service::Oidc
    } else if path == "/metadata/identity/oauth2/token" {
        Service::Imds
    } else if segs[0] == "secrets" {
        // Before Entra's routes: a secret may be named `discovery`.
        Service::KeyVault
    } else if segs.len() == 4 && segs[1] == "oauth2" && segs[2] == "v2.0" && segs[3] == "token"
        || crate::entra::is_discovery(&segs)
    {
        Service::Entra
    } else if segs[0].eq_ignore_ascii_case("subscriptions") {
        Service::Arm
    } else if crate::releases::is_release_path(&segs) {
        Service::Releases
    } else {
        Service::GitHub
    }
}

fn auth_kind(st: &State, req: &Req) -> String {
    let Some((scheme, cred)) = req.authorization() else {
        return if req.header("authorization").is_some() {
            "malformed".into()
        } else {
            "none".into()
        };
    };
    let kind = if cred.starts_with("ghs_") {
        "installation"
    } else if st.seed.workflow_tokens.contains(&cred) {
        "workflow"
    } else if cred == st.seed.oidc_request_token {
        "oidc-request"
    } else if jwt_payload(&cred).is_some() {
        "jwt"
    } else {
        "opaque"
    };
    format!("{scheme}({kind})")
}

fn to_hyper(resp: Resp) -> Response<Full<Bytes>> {
    let mut builder = Response::builder().status(resp.status);
    for (k, v) in &resp.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    builder
        .body(Full::new(Bytes::from(resp.body)))
        .unwrap_or_else(|_| {
            let mut r = Response::new(Full::new(Bytes::from_static(b"bad response")));
            *r.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
            r
        })
}

async fn handle(
    shared: Shared,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, DropConnection> {
    let (parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes().to_vec(),
        Err(_) => return Err(DropConnection),
    };
    let host = parts
        .uri
        .authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| {
            parts
                .headers
                .get("host")
                .and_then(|h| h.to_str().ok())
                .map(str::to_string)
        });
    let req = Req {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        headers: parts.headers,
        body,
    };
    if req.path.starts_with("/_fake/") {
        return Ok(to_hyper(admin(&shared, &req)));
    }

    let registry_data = crate::acr::data_target(host.as_deref(), &req.path);
    let service = if registry_data.is_some() {
        Service::Acr
    } else {
        service_of(&req.path)
    };
    let (at_ms, auth, fault, latency) = {
        let mut st = lock(&shared);
        let at_ms = st.elapsed_ms();
        let auth = auth_kind(&st, &req);
        let fault = take_fault(&mut st.faults, &req);
        (at_ms, auth, fault, st.latency_ms)
    };
    let mut delay = latency;
    if let Some(FaultAction::Latency { ms }) = &fault {
        delay += ms;
    }
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }

    // ACR Tasks talk to Azurite, so they run without holding the state lock.
    let acr = if service == Service::Arm
        && !matches!(fault, Some(FaultAction::Drop | FaultAction::Status { .. }))
        && crate::acr::is_acr_path(&req.path)
    {
        Some(crate::acr::handle(&shared, &req).await)
    } else {
        None
    };

    let mut st = lock(&shared);
    st.address(host.as_deref());
    let mut entry = LoggedRequest {
        seq: 0,
        at_ms,
        done_ms: 0.0,
        method: req.method.clone(),
        path: req.path.clone(),
        query: req.query.clone(),
        service,
        status: 0,
        auth,
        request_body: String::from_utf8_lossy(&req.body).into_owned(),
        response_body: String::new(),
    };
    let drop_after = matches!(fault, Some(FaultAction::DropAfterApplied));
    let (resp, check) = match fault {
        Some(FaultAction::Drop) => {
            entry.done_ms = st.elapsed_ms();
            st.log(entry);
            return Err(DropConnection);
        }
        Some(FaultAction::Status {
            status,
            retry_after,
            body,
        }) => {
            let body = body.unwrap_or_else(|| fault_body(service, status));
            let mut r = Resp::json(status, &body);
            if let Some(s) = retry_after {
                r = r.with_header("retry-after", s.to_string());
            }
            (r, false)
        }
        _ => match (acr, &registry_data) {
            // No API description of ACR Tasks or the registry API is vendored: no contract check.
            (Some(r), _) => (r, false),
            (None, Some((registry, path))) => (
                crate::acr::handle_data(&mut st, registry, path, &req),
                false,
            ),
            (None, None) => dispatch(&mut st, service, &req, &mut entry),
        },
    };
    if drop_after {
        entry.status = resp.status;
        entry.response_body = "(dropped after it was applied)".into();
        entry.done_ms = st.elapsed_ms();
        st.log(entry);
        return Err(DropConnection);
    }
    let resp = decorate(service, resp);
    if check {
        let violations = contract::check(
            entry.service,
            &req.method,
            &req.path,
            &req.query,
            &req.body,
            resp.status,
            &resp.body,
        );
        st.violations.extend(violations);
    }
    entry.status = resp.status;
    entry.response_body = if service == Service::Releases && resp.status == 200 {
        format!("({} bytes)", resp.body.len())
    } else {
        String::from_utf8_lossy(&resp.body).into_owned()
    };
    entry.done_ms = st.elapsed_ms();
    st.log(entry);
    drop(st);
    Ok(to_hyper(resp))
}

/// Runs the service handler; returns the response and whether to contract-check it.
fn dispatch(
    st: &mut State,
    service: Service,
    req: &Req,
    entry: &mut LoggedRequest,
) -> (Resp, bool) {
    let handled = match service {
        Service::Oidc => crate::oidc::handle(st, req),
        Service::Imds => crate::entra::handle_imds(st, req),
        Service::Entra => crate::entra::handle(st, req),
        Service::KeyVault => crate::keyvault::handle(st, req),
        Service::Arm => crate::arm::handle(st, req),
        Service::GitHub => crate::github::handle(st, req),
        Service::Releases => crate::releases::handle(st, req),
        // The registry data plane is served before dispatch; `Unknown` is what this decides.
        Service::Acr | Service::Unknown => None,
    };
    match handled {
        Some(r) => {
            let described = service != Service::Arm || !crate::arm::undescribed(req);
            (
                r,
                described && matches!(service, Service::GitHub | Service::KeyVault | Service::Arm),
            )
        }
        None => {
            entry.service = Service::Unknown;
            let r = Resp::json(
                404,
                &json!({"message": format!("fake-cloud: no route for {} {}", req.method, req.path)}),
            );
            (r, false)
        }
    }
}

/// Adds service-typical response headers.
fn decorate(service: Service, mut resp: Resp) -> Resp {
    match service {
        Service::GitHub => {
            resp.headers.extend([
                ("x-github-request-id".into(), random_uuid().to_uppercase()),
                ("x-ratelimit-limit".into(), "5000".into()),
                ("x-ratelimit-remaining".into(), "4999".into()),
                ("x-ratelimit-used".into(), "1".into()),
                ("x-ratelimit-resource".into(), "core".into()),
                ("x-ratelimit-reset".into(), (now_unix() + 3600).to_string()),
            ]);
            if !resp.headers.iter().any(|(k, _)| k == "content-type") && !resp.body.is_empty() {
                resp.headers.push((
                    "content-type".into(),
                    "application/json; charset=utf-8".into(),
                ));
            }
        }
        Service::KeyVault | Service::Entra => {
            resp.headers.push(("x-ms-request-id".into(), random_uuid()));
        }
        Service::Arm => {
            let id = random_uuid();
            resp.headers.extend([
                ("x-ms-request-id".into(), id.clone()),
                ("x-ms-correlation-request-id".into(), id),
                (
                    "x-ms-ratelimit-remaining-subscription-reads".into(),
                    "11999".into(),
                ),
            ]);
        }
        Service::Oidc | Service::Imds | Service::Acr | Service::Releases | Service::Unknown => {}
    }
    resp
}

/// A service-typical error body for a status fault.
fn fault_body(service: Service, status: u16) -> Value {
    let message = match status {
        429 => "Too many requests",
        403 => {
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
        }
        500 => "Internal server error",
        502 => "Bad gateway",
        503 => "Service unavailable",
        504 => "Gateway timeout",
        _ => "Injected fault",
    };
    match service {
        Service::GitHub => json!({
            "message": message,
            "documentation_url": "https://docs.github.com/rest",
            "status": status.to_string(),
        }),
        Service::Entra | Service::Imds => json!({
            "error": "temporarily_unavailable",
            "error_description": format!("AADSTS50196: {message}"),
            "error_codes": [50196],
            "timestamp": crate::util::iso(now_unix()),
            "trace_id": random_uuid(),
            "correlation_id": random_uuid(),
        }),
        Service::KeyVault => {
            json!({"error": {"code": if status == 429 { "Throttled" } else { "InternalServerError" }, "message": message}})
        }
        Service::Oidc | Service::Arm | Service::Acr | Service::Releases | Service::Unknown => {
            json!({"error": {"code": if status == 429 { "TooManyRequests" } else { "InternalServerError" }, "message": message}})
        }
    }
}

/// Pops the first matching fault (decrementing `times`).
fn take_fault(faults: &mut [Fault], req: &Req) -> Option<FaultAction> {
    let f = faults.iter_mut().find(|f| {
        f.times > 0
            && req.path.contains(&f.path_contains)
            && f.method
                .as_ref()
                .is_none_or(|m| m.eq_ignore_ascii_case(&req.method))
    })?;
    f.times -= 1;
    Some(f.action.clone())
}

fn ok_json(v: &impl serde::Serialize) -> Resp {
    match serde_json::to_value(v) {
        Ok(v) => Resp::json(200, &v),
        Err(e) => Resp::json(500, &json!({"message": e.to_string()})),
    }
}

fn bad(msg: String) -> Resp {
    Resp::json(400, &json!({"message": msg}))
}

/// The admin API (never logged, faulted or delayed).
fn admin(shared: &Shared, req: &Req) -> Resp {
    let mut st = lock(shared);
    let segs = req.segments();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match (req.method.as_str(), &segs[1..]) {
        ("GET", ["requests"]) => ok_json(&st.requests),
        ("GET", ["violations"]) => ok_json(&st.violations),
        ("GET", ["tokens"]) => ok_json(&st.tokens),
        ("GET", ["issued"]) => ok_json(&st.issued),
        ("GET", ["seed"]) => ok_json(&st.seed),
        ("GET", ["variables"]) => {
            let scope = req.query_param("scope").unwrap_or_default();
            ok_json(&st.variable_values(&scope))
        }
        ("GET", ["secrets", name]) => ok_json(&st.secret_versions(name)),
        ("POST", ["secrets", name]) => {
            match serde_json::from_slice::<NewSecretVersion>(&req.body) {
                Ok(v) => ok_json(&st.put_secret_version(name, v)),
                Err(e) => bad(format!("invalid NewSecretVersion: {e}")),
            }
        }
        // {"expression": "[uniqueString(subscription().id, 'x')]"} → {"value": …}
        ("POST", ["arm-expression"]) => {
            let expression = serde_json::from_slice::<Value>(&req.body)
                .ok()
                .and_then(|v| {
                    v.get("expression")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                });
            match expression.and_then(|e| crate::arm::evaluate(&st, &e)) {
                Some(value) => ok_json(&json!({"value": value})),
                None => bad("body must be {\"expression\": \"[...]\"} with an expression the fake evaluates".into()),
            }
        }
        ("POST", ["faults"]) => match serde_json::from_slice::<Fault>(&req.body) {
            Ok(f) => {
                st.faults.push(f);
                Resp::empty(204)
            }
            Err(e) => bad(format!("invalid Fault: {e}")),
        },
        ("POST", ["latency"]) => match serde_json::from_slice::<Value>(&req.body)
            .ok()
            .and_then(|v| v.get("ms").and_then(Value::as_u64))
        {
            Some(ms) => {
                st.latency_ms = ms;
                Resp::empty(204)
            }
            None => bad("expected {\"ms\": N}".into()),
        },
        ("POST", ["runner-release"]) => match serde_json::from_slice::<Value>(&req.body)
            .ok()
            .and_then(|v| v.get("tag").and_then(Value::as_str).map(str::to_string))
        {
            Some(tag) => {
                st.seed.runner_release = tag;
                Resp::empty(204)
            }
            None => bad("expected {\"tag\": \"v2.331.0\"}".into()),
        },
        ("POST", ["kv-role"]) => match serde_json::from_slice::<Value>(&req.body)
            .ok()
            .and_then(|v| v.get("role").cloned())
            .and_then(|r| serde_json::from_value::<KvRole>(r).ok())
        {
            Some(role) => {
                st.kv_role = role;
                Resp::empty(204)
            }
            None => bad("expected {\"role\": \"SecretsOfficer\"|\"SecretsUser\"|\"None\"}".into()),
        },
        ("POST", ["arm-role"]) => match serde_json::from_slice::<Value>(&req.body)
            .ok()
            .and_then(|v| v.get("role").cloned())
            .and_then(|r| serde_json::from_value::<ArmRole>(r).ok())
        {
            Some(role) => {
                st.arm_role = role;
                Resp::empty(204)
            }
            None => bad("expected {\"role\": \"Contributor\"|\"Reader\"|\"None\"}".into()),
        },
        ("POST", ["fail-deployment"]) => {
            match serde_json::from_slice::<FailDeployment>(&req.body) {
                Ok(f) => {
                    st.arm.failures.push(f);
                    Resp::empty(204)
                }
                Err(e) => bad(format!("invalid FailDeployment: {e}")),
            }
        }
        ("GET", ["deployments"]) => {
            crate::arm::settle(&mut st);
            let v: Vec<_> = st
                .arm
                .deployments
                .iter()
                .map(crate::state::Deployment::record)
                .collect();
            ok_json(&v)
        }
        ("GET", ["what-ifs"]) => {
            let v: Vec<_> = st
                .arm
                .what_ifs
                .iter()
                .map(crate::state::WhatIf::record)
                .collect();
            ok_json(&v)
        }
        ("GET", ["resources"]) => {
            crate::arm::settle(&mut st);
            ok_json(&st.arm.registry)
        }
        ("POST", ["apps"]) => match serde_json::from_slice::<GithubApp>(&req.body) {
            Ok(app) => {
                st.add_app(app);
                Resp::empty(204)
            }
            Err(e) => bad(format!("invalid GithubApp: {e}")),
        },
        _ => Resp::json(
            404,
            &json!({"message": format!("fake-cloud: no admin route for {} {}", req.method, req.path)}),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_paths() {
        assert_eq!(service_of("/_actions/idtoken"), Service::Oidc);
        assert_eq!(service_of("/abc/oauth2/v2.0/token"), Service::Entra);
        assert_eq!(service_of("/secrets/x/versions"), Service::KeyVault);
        assert_eq!(service_of("/app"), Service::GitHub);
        assert_eq!(service_of("/metadata/identity/oauth2/token"), Service::Imds);
        assert_eq!(
            service_of("/subscriptions/x/resourcegroups/y"),
            Service::Arm
        );
    }

    #[test]
    fn fault_json_shapes() {
        let f: Fault = serde_json::from_str(
            r#"{"method":"PUT","path_contains":"/secrets/","times":2,"action":{"status":{"status":429,"retry_after":1}}}"#,
        )
        .unwrap();
        assert_eq!(
            f.action,
            FaultAction::Status {
                status: 429,
                retry_after: Some(1),
                body: None
            }
        );
        let f: Fault =
            serde_json::from_str(r#"{"path_contains":"/x","times":1,"action":"drop"}"#).unwrap();
        assert_eq!(f.action, FaultAction::Drop);
        let f: Fault = serde_json::from_str(
            r#"{"path_contains":"/x","times":1,"action":{"latency":{"ms":5}}}"#,
        )
        .unwrap();
        assert_eq!(f.action, FaultAction::Latency { ms: 5 });
    }
}
