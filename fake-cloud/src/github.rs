//! GitHub REST: App authentication, installations, installation tokens and Actions variables.

use crate::state::{State, Variable};
use crate::util::{Req, Resp, claim_i64, iso, jwt_payload, now_unix, random_alnum, stable_id};
use crate::{GithubApp, Installation, IssuedToken};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

const DOCS: &str = "https://docs.github.com/rest";
const CREATED_AT: &str = "2024-01-01T00:00:00Z";

fn gh_error(status: u16, message: &str) -> Resp {
    Resp::json(
        status,
        &json!({"message": message, "documentation_url": DOCS, "status": status.to_string()}),
    )
}

fn not_found() -> Resp {
    gh_error(404, "Not Found")
}

fn not_accessible() -> Resp {
    gh_error(403, "Resource not accessible by integration")
}

fn validation_failed(message: &str) -> Resp {
    Resp::json(422, &json!({"message": message, "documentation_url": DOCS}))
}

fn simple_user(url: &str, login: &str, kind: &str) -> Value {
    let id = stable_id(login);
    json!({
        "login": login,
        "id": id,
        "node_id": format!("MDEyOk9yZ2FuaXphdGlvbnt{id}"),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
        "gravatar_id": "",
        "url": format!("{url}/users/{login}"),
        "html_url": format!("https://github.com/{login}"),
        "followers_url": format!("{url}/users/{login}/followers"),
        "following_url": format!("{url}/users/{login}/following{{/other_user}}"),
        "gists_url": format!("{url}/users/{login}/gists{{/gist_id}}"),
        "starred_url": format!("{url}/users/{login}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{url}/users/{login}/subscriptions"),
        "organizations_url": format!("{url}/users/{login}/orgs"),
        "repos_url": format!("{url}/users/{login}/repos"),
        "events_url": format!("{url}/users/{login}/events{{/privacy}}"),
        "received_events_url": format!("{url}/users/{login}/received_events"),
        "type": kind,
        "site_admin": false,
        "user_view_type": "public",
    })
}

fn installation_json(url: &str, app: &GithubApp, inst: &Installation) -> Value {
    let settings = if inst.account_type == "Organization" {
        format!(
            "https://github.com/organizations/{}/settings/installations/{}",
            inst.account, inst.id
        )
    } else {
        format!("https://github.com/settings/installations/{}", inst.id)
    };
    json!({
        "id": inst.id,
        "account": simple_user(url, &inst.account, &inst.account_type),
        "repository_selection": inst.repository_selection,
        "access_tokens_url": format!("{url}/app/installations/{}/access_tokens", inst.id),
        "repositories_url": format!("{url}/installation/repositories"),
        "html_url": settings,
        "app_id": app.id,
        "client_id": app.client_id,
        "target_id": stable_id(&inst.account),
        "target_type": inst.account_type,
        "permissions": inst.permissions,
        "events": [],
        "created_at": CREATED_AT,
        "updated_at": CREATED_AT,
        "single_file_name": null,
        "has_multiple_single_files": false,
        "single_file_paths": [],
        "app_slug": app.slug,
        "suspended_by": null,
        "suspended_at": null,
    })
}

fn app_json(url: &str, app: &GithubApp) -> Value {
    let owner = app
        .installations
        .first()
        .map(|i| (i.account.clone(), i.account_type.clone()))
        .unwrap_or_else(|| ("octo-org".into(), "Organization".into()));
    let mut permissions = BTreeMap::new();
    for inst in &app.installations {
        for (k, v) in &inst.permissions {
            permissions.insert(k.clone(), v.clone());
        }
    }
    json!({
        "id": app.id,
        "slug": app.slug,
        "node_id": format!("MDM6QXBw{}", app.id),
        "client_id": app.client_id,
        "owner": simple_user(url, &owner.0, &owner.1),
        "name": app.name,
        "description": null,
        "external_url": format!("https://github.com/apps/{}", app.slug),
        "html_url": format!("https://github.com/apps/{}", app.slug),
        "created_at": CREATED_AT,
        "updated_at": CREATED_AT,
        "permissions": permissions,
        "events": [],
        "installations_count": app.installations.len(),
    })
}

/// Authenticates an App JWT; returns the app.
fn app_auth(st: &State, req: &Req) -> Result<GithubApp, Resp> {
    let decode_err = || gh_error(401, "A JSON web token could not be decoded");
    let Some(jwt) = req.bearer() else {
        return Err(decode_err());
    };
    let Some(claims) = jwt_payload(&jwt) else {
        return Err(decode_err());
    };
    let iss = match claims.get("iss") {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => return Err(decode_err()),
    };
    let Some(app) = st
        .seed
        .github_apps
        .iter()
        .find(|a| a.id.to_string() == iss || (!a.client_id.is_empty() && a.client_id == iss))
    else {
        return Err(gh_error(
            401,
            &format!("'Issuer' claim ('iss') must be an Integer or Client ID; no app '{iss}'"),
        ));
    };
    if jsonwebtoken::decode_header(&jwt).map(|h| h.alg).ok() != Some(Algorithm::RS256) {
        return Err(decode_err());
    }
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let verified = app.public_key_pems.iter().any(|pem| {
        DecodingKey::from_rsa_pem(pem.as_bytes())
            .ok()
            .and_then(|k| jsonwebtoken::decode::<Value>(&jwt, &k, &validation).ok())
            .is_some()
    });
    if !verified {
        return Err(decode_err());
    }
    let now = now_unix();
    let (Some(iat), Some(exp)) = (claim_i64(&claims, "iat"), claim_i64(&claims, "exp")) else {
        return Err(gh_error(
            401,
            "'Issued at' and 'Expiration time' claims are required",
        ));
    };
    if iat > now + 60 {
        return Err(gh_error(
            401,
            "'Issued at' claim ('iat') must be an Integer representing a time in the past",
        ));
    }
    if exp <= now {
        return Err(gh_error(
            401,
            "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
        ));
    }
    if exp - now > 630 || exp - iat > 660 {
        return Err(gh_error(
            401,
            "'Expiration time' claim ('exp') is too far in the future",
        ));
    }
    Ok(app.clone())
}

/// Who called with a token.
enum Actor {
    Installation(IssuedToken),
    Workflow,
}

fn token_auth(st: &State, req: &Req) -> Result<Actor, Resp> {
    let Some((scheme, token)) = req.authorization() else {
        return Err(gh_error(401, "Requires authentication"));
    };
    if !scheme.eq_ignore_ascii_case("token") && !scheme.eq_ignore_ascii_case("bearer") {
        return Err(gh_error(401, "Bad credentials"));
    }
    if st.seed.workflow_tokens.contains(&token) {
        return Ok(Actor::Workflow);
    }
    if jwt_payload(&token).is_some() {
        return Err(not_accessible());
    }
    let Some(t) = st.tokens.iter().find(|t| t.token == token) else {
        return Err(gh_error(401, "Bad credentials"));
    };
    let expired = time::OffsetDateTime::parse(
        &t.expires_at,
        &time::format_description::well_known::Rfc3339,
    )
    .map(|e| e.unix_timestamp() <= now_unix())
    .unwrap_or(false);
    if t.revoked || expired {
        return Err(gh_error(401, "Bad credentials"));
    }
    Ok(Actor::Installation(t.clone()))
}

fn find_installation(st: &State, id: u64) -> Option<(GithubApp, Installation)> {
    st.seed.github_apps.iter().find_map(|a| {
        a.installations
            .iter()
            .find(|i| i.id == id)
            .map(|i| (a.clone(), i.clone()))
    })
}

fn covers_repo(inst: &Installation, full: &str) -> bool {
    let owner = full.split('/').next().unwrap_or_default();
    owner.eq_ignore_ascii_case(&inst.account)
        && (inst.repository_selection == "all"
            || inst
                .repositories
                .iter()
                .any(|r| r.eq_ignore_ascii_case(full)))
}

fn level(p: Option<&String>) -> u8 {
    match p.map(String::as_str) {
        Some("read") => 1,
        Some("write") => 2,
        Some("admin") => 3,
        _ => 0,
    }
}

/// The calling app (App JWT) and its installation that `which` picks, or GitHub's refusal
/// (401 for the JWT, 404 when no installation matches).
fn app_installation(
    st: &State,
    req: &Req,
    which: impl Fn(&Installation) -> bool,
) -> Result<(GithubApp, Installation), Resp> {
    let app = app_auth(st, req)?;
    let inst = app.installations.iter().find(|i| which(i)).cloned();
    inst.map(|inst| (app, inst)).ok_or_else(not_found)
}

/// The installation token of a request that may use `org`'s self-hosted runners at `needed`
/// (1 read, 2 write), or GitHub's refusal.
fn org_runners_token(st: &State, req: &Req, org: &str, needed: u8) -> Result<IssuedToken, Resp> {
    match token_auth(st, req)? {
        Actor::Installation(t)
            if level(t.permissions.get("organization_self_hosted_runners")) >= needed
                && installation_account_is(st, &t, org) =>
        {
            Ok(t)
        }
        _ => Err(not_accessible()),
    }
}

/// The `page` and `per_page` query parameters of a list request.
#[derive(Clone, Copy)]
struct Page {
    page: usize,
    per_page: usize,
}

impl Page {
    /// The page a request asks for (from 1); `per_page` defaults to `default`, at most `max`.
    fn of(req: &Req, default: usize, max: usize) -> Page {
        let number = |name: &str| req.query_param(name).and_then(|p| p.parse::<usize>().ok());
        Page {
            page: number("page").unwrap_or(1).max(1),
            per_page: number("per_page").unwrap_or(default).clamp(1, max),
        }
    }

    /// The items on this page.
    fn of_items<T>(self, items: &[T]) -> impl Iterator<Item = &T> {
        items
            .iter()
            .skip((self.page - 1) * self.per_page)
            .take(self.per_page)
    }
}

pub(crate) fn handle(st: &mut State, req: &Req) -> Option<Resp> {
    let segs = req.segments();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let url = st.url.clone();
    let resp = match (req.method.as_str(), s.as_slice()) {
        ("GET", ["app"]) => match app_auth(st, req) {
            Ok(app) => Resp::json(200, &app_json(&url, &app)),
            Err(e) => e,
        },
        ("GET", ["app", "installations", id]) => {
            match app_installation(st, req, |i| id.parse() == Ok(i.id)) {
                Ok((app, inst)) => Resp::json(200, &installation_json(&url, &app, &inst)),
                Err(e) => e,
            }
        }
        ("POST", ["app", "installations", id, "access_tokens"]) => {
            match app_installation(st, req, |i| id.parse() == Ok(i.id)) {
                Ok((app, inst)) => access_token(st, req, &app, &inst),
                Err(e) => e,
            }
        }
        ("GET", ["repos", owner, repo, "installation"]) => {
            let full = format!("{owner}/{repo}");
            match app_installation(st, req, |i| covers_repo(i, &full)) {
                Ok((app, inst)) => Resp::json(200, &installation_json(&url, &app, &inst)),
                Err(e) => e,
            }
        }
        ("GET", ["orgs", org, "installation"]) => {
            let org_account = |i: &Installation| {
                i.account.eq_ignore_ascii_case(org) && i.account_type == "Organization"
            };
            match app_installation(st, req, org_account) {
                Ok((app, inst)) => Resp::json(200, &installation_json(&url, &app, &inst)),
                Err(e) => e,
            }
        }
        ("DELETE", ["installation", "token"]) => match token_auth(st, req) {
            Ok(Actor::Installation(t)) => {
                for x in st.tokens.iter_mut().filter(|x| x.token == t.token) {
                    x.revoked = true;
                }
                Resp::empty(204)
            }
            Ok(Actor::Workflow) => not_accessible(),
            Err(e) => e,
        },
        ("GET", ["repos", owner, repo]) => get_repo(st, req, &format!("{owner}/{repo}")),
        ("POST", ["orgs", org, "actions", "runners", "registration-token"]) => {
            match org_runners_token(st, req, org, 2) {
                Ok(_) => {
                    let token = random_alnum(29).to_ascii_uppercase();
                    st.remember_issued(&token);
                    Resp::json(
                        201,
                        &json!({"token": token, "expires_at": iso(now_unix() + 3600)}),
                    )
                }
                Err(e) => e,
            }
        }
        ("GET", ["orgs", org, "actions", "runners"]) => match org_runners_token(st, req, org, 1) {
            Ok(_) => {
                let scope = format!("org:{}", org.to_ascii_lowercase());
                let runners: Vec<Value> = st
                    .runners
                    .iter()
                    .filter(|r| r.scope == scope)
                    .map(runner_json)
                    .collect();
                Resp::json(
                    200,
                    &json!({"total_count": runners.len(), "runners": runners}),
                )
            }
            Err(e) => e,
        },
        ("POST", ["orgs", org, "actions", "runners", "generate-jitconfig"]) => {
            match org_runners_token(st, req, org, 2) {
                Ok(_) => {
                    let scope = format!("org:{}", org.to_ascii_lowercase());
                    jit_config(st, req, scope)
                }
                Err(e) => e,
            }
        }
        (
            "POST",
            [
                "repos",
                owner,
                repo,
                "actions",
                "runners",
                "generate-jitconfig",
            ],
        ) => {
            let full = format!("{owner}/{repo}");
            match token_auth(st, req) {
                Ok(Actor::Installation(t)) if !token_sees_repo(st, &t, &full) => not_found(),
                Ok(Actor::Installation(t)) if level(t.permissions.get("administration")) >= 2 => {
                    let scope = format!("repo:{}", full.to_ascii_lowercase());
                    jit_config(st, req, scope)
                }
                Ok(_) => not_accessible(),
                Err(e) => e,
            }
        }
        ("GET", ["orgs", org, "actions", "runner-groups"]) => {
            match org_runners_token(st, req, org, 1) {
                Ok(_) => runner_groups(st, req, org),
                Err(e) => e,
            }
        }
        ("GET", ["rate_limit"]) => match token_auth(st, req) {
            Ok(_) => rate_limit(st),
            Err(e) => e,
        },
        ("GET", ["installation", "repositories"]) => match token_auth(st, req) {
            Ok(Actor::Installation(t)) => installation_repositories(st, req, &t),
            Ok(Actor::Workflow) => not_accessible(),
            Err(e) => e,
        },
        ("GET", ["repos", "actions", "runner", "releases", "latest"]) => {
            // Public: any caller, with or without a token.
            release_json(st)
        }
        (_, ["repos", owner, repo, "actions", "variables", rest @ ..]) => {
            let scope = Scope::Repo(format!("{owner}/{repo}"));
            variables(st, req, &scope, rest)?
        }
        (_, ["orgs", org, "actions", "variables", rest @ ..]) => {
            variables(st, req, &Scope::Org((*org).to_string()), rest)?
        }
        (
            _,
            [
                "repos",
                owner,
                repo,
                "environments",
                env,
                "variables",
                rest @ ..,
            ],
        ) => {
            let scope = Scope::Env(format!("{owner}/{repo}"), (*env).to_string());
            variables(st, req, &scope, rest)?
        }
        (
            _,
            [
                "repositories",
                id,
                "environments",
                env,
                "variables",
                rest @ ..,
            ],
        ) => match id.parse().ok().and_then(|id| st.repo_by_id(id)) {
            Some(full) => {
                let scope = Scope::Env(full, (*env).to_string());
                variables(st, req, &scope, rest)?
            }
            None => not_found(),
        },
        _ => return None,
    };
    Some(resp)
}

/// `runner` as GitHub describes a self-hosted runner.
fn runner_json(r: &crate::JitRunner) -> Value {
    let labels: Vec<Value> = r
        .labels
        .iter()
        .enumerate()
        .map(|(i, l)| json!({"id": i + 1, "name": l, "type": "custom"}))
        .collect();
    json!({
        "id": r.id,
        "runner_group_id": r.runner_group_id,
        "name": r.name,
        "os": "linux",
        "status": "offline",
        "busy": false,
        "ephemeral": true,
        "labels": labels,
    })
}

/// `generate-jitconfig` at organization (`org:NAME`) or repository (`repo:OWNER/NAME`) scope.
fn jit_config(st: &mut State, req: &Req, scope: String) -> Resp {
    let Some(Value::Object(body)) = req.json() else {
        return validation_failed("Invalid request.\n\nBody must be an object.");
    };
    let name = str_field(&body, "name").unwrap_or_default().to_string();
    let group = body.get("runner_group_id").and_then(Value::as_u64);
    let labels: Vec<String> = body
        .get("labels")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let (Some(group), false, false) = (group, name.is_empty(), labels.is_empty()) else {
        return validation_failed(
            "Invalid request.\n\n\"name\", \"runner_group_id\" and \"labels\" are required.",
        );
    };
    if name.chars().count() > 64 {
        return validation_failed(
            "Invalid request.\n\nThe runner name must be 64 characters or fewer.",
        );
    }
    if labels.len() > 100 {
        return validation_failed("Invalid request.\n\nAt most 100 labels are allowed.");
    }
    let known_group = group == 1 || st.seed.runner_groups.iter().any(|g| g.id == group);
    if !known_group || (scope.starts_with("repo:") && group != 1) {
        return not_found();
    }
    if st
        .runners
        .iter()
        .any(|r| r.scope == scope && r.name.eq_ignore_ascii_case(&name))
    {
        return gh_error(
            409,
            "Already exists - A runner with the same name already exists.",
        );
    }
    let id = st.runners.len() as u64 + 101;
    let work_folder = str_field(&body, "work_folder")
        .unwrap_or("_work")
        .to_string();
    let credentials = random_alnum(40);
    let config = json!({
        ".runner": base64_text(&json!({
            "agentId": id, "agentName": name, "poolId": group,
            "serverUrl": format!("{}/_services/pipelines/fake", st.url),
            "workFolder": work_folder, "ephemeral": true,
        }).to_string()),
        ".credentials": base64_text(&json!({"scheme": "OAuth", "data": {"clientId": random_alnum(12)}}).to_string()),
        ".credentials_rsaparams": base64_text(&credentials),
    });
    let encoded = base64_text(&config.to_string());
    st.remember_issued(&encoded);
    st.remember_issued(&credentials);
    let runner = crate::JitRunner {
        id,
        name,
        scope,
        runner_group_id: group,
        labels,
        work_folder,
        encoded_jit_config: encoded.clone(),
    };
    let json = runner_json(&runner);
    st.runners.push(runner);
    Resp::json(201, &json!({"runner": json, "encoded_jit_config": encoded}))
}

fn base64_text(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn runner_groups(st: &State, req: &Req, org: &str) -> Resp {
    let url = st.url.clone();
    let mut groups = vec![crate::RunnerGroup {
        id: 1,
        name: "Default".into(),
    }];
    groups.extend(st.seed.runner_groups.iter().cloned());
    let items: Vec<Value> = Page::of(req, 30, 100)
        .of_items(&groups)
        .map(|g| {
            json!({
                "id": g.id,
                "name": g.name,
                "visibility": "all",
                "default": g.id == 1,
                "runners_url": format!("{url}/orgs/{org}/actions/runner-groups/{}/runners", g.id),
                "inherited": false,
                "allows_public_repositories": false,
            })
        })
        .collect();
    Resp::json(
        200,
        &json!({"total_count": groups.len(), "runner_groups": items}),
    )
}

fn rate_limit(st: &State) -> Resp {
    let limit = st.seed.github_rate_limit;
    let used = st
        .requests
        .iter()
        .filter(|r| r.service == crate::Service::GitHub)
        .count() as u64;
    let core = json!({
        "limit": limit,
        "remaining": limit.saturating_sub(used),
        "reset": now_unix() + 3600,
        "used": used.min(limit),
    });
    let other = json!({"limit": 60, "remaining": 60, "reset": now_unix() + 3600, "used": 0});
    Resp::json(
        200,
        &json!({
            "resources": {"core": core, "search": other, "graphql": other,
                "actions_runner_registration": {"limit": 10000, "remaining": 10000, "reset": now_unix() + 3600, "used": 0}},
            "rate": core,
        }),
    )
}

fn installation_repositories(st: &mut State, req: &Req, t: &IssuedToken) -> Resp {
    let Some((_, inst)) = find_installation(st, t.installation_id) else {
        return not_found();
    };
    let names: Vec<String> = if t.repositories.is_empty() {
        inst.repositories.clone()
    } else {
        t.repositories.clone()
    };
    let url = st.url.clone();
    let mut items = Vec::new();
    for full in Page::of(req, 30, 100).of_items(&names) {
        items.push(repository_json(st, &url, full));
    }
    Resp::json(
        200,
        &json!({"total_count": names.len(), "repository_selection": inst.repository_selection, "repositories": items}),
    )
}

fn release_json(st: &State) -> Resp {
    let url = st.url.clone();
    let tag = st.seed.runner_release.clone();
    let id = stable_id(&tag);
    let author = simple_user(&url, "github-actions[bot]", "Bot");
    let base = format!("{url}/repos/actions/runner/releases/{id}");
    Resp::json(
        200,
        &json!({
            "url": base, "html_url": format!("https://github.com/actions/runner/releases/tag/{tag}"),
            "assets_url": format!("{base}/assets"),
            "upload_url": format!("https://uploads.github.com/repos/actions/runner/releases/{id}/assets{{?name,label}}"),
            "tarball_url": format!("{url}/repos/actions/runner/tarball/{tag}"),
            "zipball_url": format!("{url}/repos/actions/runner/zipball/{tag}"),
            "id": id, "node_id": format!("RE_fake{id}"), "tag_name": tag, "target_commitish": "main",
            "name": tag, "draft": false, "prerelease": false, "immutable": false,
            "created_at": CREATED_AT, "published_at": CREATED_AT, "author": author, "assets": [],
        }),
    )
}

fn installation_account_is(st: &State, t: &IssuedToken, account: &str) -> bool {
    find_installation(st, t.installation_id)
        .is_some_and(|(_, i)| i.account.eq_ignore_ascii_case(account))
}

fn get_repo(st: &mut State, req: &Req, full: &str) -> Resp {
    match token_auth(st, req) {
        Ok(Actor::Installation(t)) if !token_sees_repo(st, &t, full) => return not_found(),
        Ok(_) => {}
        Err(e) => return e,
    }
    let id = st.repo_id(full);
    let (owner, name) = full.split_once('/').unwrap_or((full, ""));
    let url = st.url.clone();
    Resp::json(
        200,
        &json!({
            "id": id,
            "node_id": format!("R_fake{id}"),
            "name": name,
            "full_name": full,
            "owner": simple_user(&url, owner, "Organization"),
            "private": true,
            "visibility": "private",
            "html_url": format!("https://github.com/{full}"),
            "url": format!("{url}/repos/{full}"),
            "default_branch": "main",
        }),
    )
}

fn token_sees_repo(st: &State, t: &IssuedToken, full: &str) -> bool {
    if !t.repositories.is_empty() {
        return t.repositories.iter().any(|r| r.eq_ignore_ascii_case(full));
    }
    find_installation(st, t.installation_id).is_some_and(|(_, i)| covers_repo(&i, full))
}

fn access_token(st: &mut State, req: &Req, app: &GithubApp, inst: &Installation) -> Resp {
    let body = match req.json() {
        None => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => return validation_failed("Invalid request.\n\nBody must be an object."),
    };
    let mut permissions = inst.permissions.clone();
    if let Some(Value::Object(req_perms)) = body.get("permissions") {
        permissions = BTreeMap::new();
        for (k, v) in req_perms {
            let want = v.as_str().unwrap_or_default().to_string();
            let wanted_level = level(Some(&want));
            if wanted_level == 0 || level(inst.permissions.get(k)) < wanted_level {
                return validation_failed(
                    "The permissions requested are not granted to this installation.",
                );
            }
            permissions.insert(k.clone(), want);
        }
    }
    let mut repositories = Vec::new();
    if let Some(Value::Array(names)) = body.get("repositories") {
        for n in names {
            let n = n.as_str().unwrap_or_default();
            let full = if n.contains('/') {
                n.to_string()
            } else {
                format!("{}/{n}", inst.account)
            };
            repositories.push(full);
        }
    }
    if let Some(Value::Array(ids)) = body.get("repository_ids") {
        for id in ids {
            match id.as_u64().and_then(|id| st.repo_by_id(id)) {
                Some(full) => repositories.push(full),
                None => repositories.push(format!("#{id}")),
            }
        }
    }
    if repositories.iter().any(|r| !covers_repo(inst, r)) {
        return validation_failed(
            "There is at least one repository that does not exist or is not accessible to the parent installation.",
        );
    }
    let token = format!("ghs_{}", random_alnum(36));
    let expires_at = iso(now_unix() + 3600);
    let selection = if repositories.is_empty() {
        inst.repository_selection.clone()
    } else {
        "selected".into()
    };
    st.remember_issued(&token);
    st.tokens.push(IssuedToken {
        token: token.clone(),
        app_id: app.id,
        installation_id: inst.id,
        permissions: permissions.clone(),
        repositories,
        expires_at: expires_at.clone(),
        revoked: false,
    });
    Resp::json(
        201,
        &json!({
            "token": token,
            "expires_at": expires_at,
            "permissions": permissions,
            "repository_selection": selection,
        }),
    )
}

/// A variable scope.
enum Scope {
    Repo(String),
    Org(String),
    Env(String, String),
}

impl Scope {
    fn key(&self) -> String {
        match self {
            Scope::Repo(r) => format!("repo:{r}"),
            Scope::Org(o) => format!("org:{o}"),
            Scope::Env(r, e) => format!("env:{r}:{e}"),
        }
        .to_ascii_lowercase()
    }

    fn base_path(&self) -> String {
        match self {
            Scope::Repo(r) => format!("/repos/{r}/actions/variables"),
            Scope::Org(o) => format!("/orgs/{o}/actions/variables"),
            Scope::Env(r, e) => format!("/repos/{r}/environments/{e}/variables"),
        }
    }
}

/// Checks that the actor may read (`write == false`) or write the scope.
fn authorize(st: &State, actor: &Actor, scope: &Scope, write: bool) -> Result<(), Resp> {
    let t = match actor {
        Actor::Workflow => {
            return if write || matches!(scope, Scope::Org(_)) {
                Err(not_accessible())
            } else {
                Ok(())
            };
        }
        Actor::Installation(t) => t,
    };
    let need = if write { 2 } else { 1 };
    match scope {
        Scope::Org(org) => {
            if !installation_account_is(st, t, org) {
                return Err(not_found());
            }
            if level(t.permissions.get("organization_actions_variables")) < need {
                return Err(not_accessible());
            }
        }
        Scope::Repo(full) | Scope::Env(full, _) => {
            if !token_sees_repo(st, t, full) {
                return Err(not_found());
            }
            let mut have = level(t.permissions.get("actions_variables"));
            if matches!(scope, Scope::Env(..)) {
                have = have.max(level(t.permissions.get("environments")));
            }
            if have < need {
                return Err(not_accessible());
            }
        }
    }
    Ok(())
}

fn variable_json(st: &State, scope: &Scope, v: &Variable) -> Value {
    let mut j = json!({
        "name": v.name,
        "value": v.value,
        "created_at": v.created_at,
        "updated_at": v.updated_at,
    });
    if let Scope::Org(org) = scope {
        j["visibility"] = json!(v.visibility.clone().unwrap_or_else(|| "all".into()));
        if v.visibility.as_deref() == Some("selected") {
            j["selected_repositories_url"] = json!(format!(
                "{}/orgs/{org}/actions/variables/{}/repositories",
                st.url, v.name
            ));
        }
    }
    j
}

fn valid_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    first_ok
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.to_ascii_uppercase().starts_with("GITHUB_")
}

fn str_field<'a>(body: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    body.get(k).and_then(Value::as_str)
}

fn variables(st: &mut State, req: &Req, scope: &Scope, rest: &[&str]) -> Option<Resp> {
    let write = !matches!(req.method.as_str(), "GET");
    let route_ok = matches!(
        (req.method.as_str(), rest),
        ("GET" | "POST", []) | ("GET" | "PATCH" | "DELETE", [_])
    );
    if !route_ok {
        return None;
    }
    let actor = match token_auth(st, req) {
        Ok(a) => a,
        Err(e) => return Some(e),
    };
    if let Err(e) = authorize(st, &actor, scope, write) {
        return Some(e);
    }
    let key = scope.key();
    let now = iso(now_unix());
    let resp = match (req.method.as_str(), rest) {
        ("GET", []) => {
            let asked = Page::of(req, 10, 30);
            let Page { page, per_page } = asked;
            let all: Vec<Variable> = st
                .variables
                .get(&key)
                .map(|m| m.values().cloned().collect())
                .unwrap_or_default();
            let items: Vec<Value> = asked
                .of_items(&all)
                .map(|v| variable_json(st, scope, v))
                .collect();
            let mut r = Resp::json(200, &json!({"total_count": all.len(), "variables": items}));
            let last = all.len().div_ceil(per_page).max(1);
            let base = format!("{}{}", st.url, scope.base_path());
            let mut links = Vec::new();
            if page < last {
                links.push(format!(
                    "<{base}?per_page={per_page}&page={}>; rel=\"next\"",
                    page + 1
                ));
                links.push(format!(
                    "<{base}?per_page={per_page}&page={last}>; rel=\"last\""
                ));
            }
            if page > 1 {
                links.push(format!(
                    "<{base}?per_page={per_page}&page=1>; rel=\"first\""
                ));
                links.push(format!(
                    "<{base}?per_page={per_page}&page={}>; rel=\"prev\"",
                    page - 1
                ));
            }
            if !links.is_empty() {
                r = r.with_header("link", links.join(", "));
            }
            r
        }
        ("POST", []) => {
            let Some(Value::Object(body)) = req.json() else {
                return Some(validation_failed(
                    "Invalid request.\n\nBody must be an object.",
                ));
            };
            let (Some(name), Some(value)) = (str_field(&body, "name"), str_field(&body, "value"))
            else {
                return Some(validation_failed(
                    "Invalid request.\n\n\"name\" and \"value\" are required.",
                ));
            };
            if !valid_variable_name(name) {
                return Some(validation_failed(&format!(
                    "Invalid request.\n\nInvalid variable name: {name}"
                )));
            }
            let visibility = str_field(&body, "visibility").map(str::to_string);
            if matches!(scope, Scope::Org(_))
                && !matches!(visibility.as_deref(), Some("all" | "private" | "selected"))
            {
                return Some(validation_failed(
                    "Invalid request.\n\n\"visibility\" must be one of all, private, selected.",
                ));
            }
            let upper = name.to_ascii_uppercase();
            let vars = st.variables.entry(key).or_default();
            if vars.contains_key(&upper) {
                return Some(gh_error(409, "Already exists - Variable already exists"));
            }
            vars.insert(
                upper.clone(),
                Variable {
                    name: upper,
                    value: value.to_string(),
                    created_at: now.clone(),
                    updated_at: now,
                    visibility: if matches!(scope, Scope::Org(_)) {
                        visibility
                    } else {
                        None
                    },
                    selected_repository_ids: ids(&body),
                },
            );
            Resp::json(201, &json!({}))
        }
        ("GET", [name]) => {
            match st
                .variables
                .get(&key)
                .and_then(|m| m.get(&name.to_ascii_uppercase()))
            {
                Some(v) => Resp::json(200, &variable_json(st, scope, v)),
                None => not_found(),
            }
        }
        ("PATCH", [name]) => {
            let body = match req.json() {
                Some(Value::Object(b)) => b,
                _ => {
                    return Some(validation_failed(
                        "Invalid request.\n\nBody must be an object.",
                    ));
                }
            };
            let upper = name.to_ascii_uppercase();
            let vars = st.variables.entry(key).or_default();
            let Some(mut v) = vars.remove(&upper) else {
                return Some(not_found());
            };
            if let Some(value) = str_field(&body, "value") {
                v.value = value.to_string();
            }
            if let Some(vis) = str_field(&body, "visibility")
                && matches!(scope, Scope::Org(_))
            {
                v.visibility = Some(vis.to_string());
            }
            if body.contains_key("selected_repository_ids") {
                v.selected_repository_ids = ids(&body);
            }
            if let Some(new_name) = str_field(&body, "name") {
                let new_upper = new_name.to_ascii_uppercase();
                if new_upper != upper && vars.contains_key(&new_upper) {
                    vars.insert(upper, v);
                    return Some(gh_error(409, "Already exists - Variable already exists"));
                }
                v.name = new_upper;
            }
            v.updated_at = now;
            vars.insert(v.name.clone(), v);
            Resp::empty(204)
        }
        ("DELETE", [name]) => {
            let removed = st
                .variables
                .get_mut(&key)
                .and_then(|m| m.remove(&name.to_ascii_uppercase()));
            match removed {
                Some(_) => Resp::empty(204),
                None => not_found(),
            }
        }
        _ => return None,
    };
    Some(resp)
}

fn ids(body: &Map<String, Value>) -> Vec<u64> {
    body.get("selected_repository_ids")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default()
}

/// `repository` as GitHub describes it (every required field).
fn repository_json(st: &mut State, url: &str, full: &str) -> Value {
    let id = st.repo_id(full);
    let (owner, name) = full.split_once('/').unwrap_or((full, ""));
    let api = format!("{url}/repos/{full}");
    let mut repo = json!({
        "id": id,
        "node_id": format!("R_fake{id}"),
        "name": name,
        "full_name": full,
        "owner": simple_user(url, owner, "Organization"),
        "private": true,
        "visibility": "private",
        "html_url": format!("https://github.com/{full}"),
        "description": null,
        "fork": false,
        "url": api,
        "clone_url": format!("https://github.com/{full}.git"),
        "git_url": format!("git://github.com/{full}.git"),
        "ssh_url": format!("git@github.com:{full}.git"),
        "svn_url": format!("https://github.com/{full}"),
        "mirror_url": null,
        "homepage": null,
        "language": null,
        "license": null,
        "default_branch": "main",
        "forks": 0, "forks_count": 0, "open_issues": 0, "open_issues_count": 0, "size": 1,
        "stargazers_count": 0, "watchers": 0, "watchers_count": 0,
        "has_downloads": true, "has_issues": true, "has_projects": false, "has_wiki": false,
        "has_pages": false, "archived": false, "disabled": false,
        "pushed_at": CREATED_AT, "created_at": CREATED_AT, "updated_at": CREATED_AT,
    });
    for key in [
        "archive",
        "assignees",
        "blobs",
        "branches",
        "collaborators",
        "comments",
        "commits",
        "compare",
        "contents",
        "contributors",
        "deployments",
        "downloads",
        "events",
        "forks",
        "git_commits",
        "git_refs",
        "git_tags",
        "hooks",
        "issue_comment",
        "issue_events",
        "issues",
        "keys",
        "labels",
        "languages",
        "merges",
        "milestones",
        "notifications",
        "pulls",
        "releases",
        "stargazers",
        "statuses",
        "subscribers",
        "subscription",
        "tags",
        "teams",
        "trees",
    ] {
        repo[format!("{key}_url")] = json!(format!("{api}/{}", key.replace('_', "/")));
    }
    repo
}
