//! Azure Resource Manager: template deployments at resource-group and subscription scope
//! (PUT/GET, operations list, async status, What-If, preflight) and Container Apps Jobs and
//! apps, all in one resource registry: the jobs a deployment creates are visible to the Jobs
//! API.
//!
//! It also answers what a read-only preflight asks: the caller's effective permissions on a
//! scope (`Microsoft.Authorization/permissions`, from its role assignments and the built-in
//! role definitions in [`crate::roles`]), the subscription's Key Vaults as ARM resources, a
//! resource group's jobs and a job's executions.
//!
//! This module is the router: `route` parses a path, `auth` admits the request (token,
//! api-version, subscription, RBAC), and the handler of its concern answers: `deployment`
//! (the deployment simulation), `what_if`, `jobs`, `executions`, `permissions`, `vaults`,
//! `subscription`. `template` (with `expr`) evaluates a deployment's template, `resources`
//! refuses what a resource provider would, and `ids` spells every resource id and polling URL.

mod auth;
mod deployment;
mod executions;
mod expr;
mod ids;
mod jobs;
mod network;
mod permissions;
mod resources;
mod route;
mod subscription;
mod template;
mod vaults;
mod what_if;

pub(crate) use auth::{Action, admit, assign_role, remove_role};
pub(crate) use deployment::settle;
pub(crate) use executions::add as add_execution;
pub(crate) use jobs::{store_app, store_job, stored_app, stored_job};
pub(crate) use route::undescribed;

use crate::state::State;
use crate::util::{Req, Resp};
use route::{Kind, Route};

/// Evaluates one template expression at subscription scope (no parameters or variables), for
/// scripts that must know a name a template derives before the deployment runs.
pub(crate) fn evaluate(st: &State, expression: &str) -> Option<serde_json::Value> {
    let none = serde_json::Map::new();
    let ctx = expr::Ctx {
        params: &none,
        variables: &none,
        copy_index: None,
        subscription_id: &st.seed.subscription_id,
        tenant_id: &st.seed.tenant_id,
        resource_group: None,
        location: "westeurope",
        depth: 0,
    };
    expr::try_eval(expression, &ctx)
}

/// Answers an ARM request; `None` when no ARM route matches.
pub(crate) fn handle(st: &mut State, req: &Req) -> Option<Resp> {
    let route = route::route(&req.method, &req.segments())?;
    let sub = route.subscription(&st.seed.subscription_id);
    if let Err(refused) = admit(st, req, &sub, auth::action(&route)) {
        return Some(refused);
    }
    settle(st);
    Some(match route {
        Route::Subscriptions(id) => subscription::subscriptions(st, id.as_deref()),
        Route::DeletedVaults { sub } => subscription::deleted_vaults(st, &sub),
        Route::RoleAssignments { .. } => auth::role_assignments(st, req),
        Route::Deployment {
            sub,
            rg,
            name,
            kind,
        } => {
            let rg = rg.as_deref();
            match kind {
                Kind::Put => deployment::put(st, &sub, rg, &name, req),
                Kind::Get => deployment::get(st, &sub, rg, &name),
                Kind::Operations => deployment::operations(st, &sub, rg, &name, req),
                Kind::Validate => deployment::validate(st, &sub, rg, &name, req),
                Kind::WhatIf => what_if::post(st, &sub, rg, &name, req),
            }
        }
        Route::DeploymentStatus { op, .. } => deployment::status(st, &op),
        Route::WhatIfResult { id, .. } => what_if::result(st, &id),
        Route::Job {
            rg,
            name,
            put: false,
            ..
        } => jobs::get(st, &rg, &name),
        Route::Job {
            rg,
            name,
            put: true,
            ..
        } => jobs::put(st, &rg, &name, req),
        Route::JobStatus { op, .. } => jobs::status(st, req, &op),
        Route::Subnet {
            sub,
            rg,
            vnet,
            name,
        } => network::subnet(st, &sub, &rg, &vnet, &name),
        Route::AppList { kind, .. } => jobs::list(st, kind),
        Route::App {
            rg,
            name,
            put: false,
            ..
        } => jobs::get_app(st, &rg, &name),
        Route::App {
            sub,
            rg,
            name,
            put: true,
        } => jobs::put_app(st, &sub, &rg, &name, req),
        Route::Permissions { scope, .. } => permissions::list(st, &scope),
        Route::Vaults { .. } => vaults::list(st),
        Route::GroupJobs { sub, rg } => jobs::list_group(st, &sub, &rg),
        Route::Executions { rg, job, .. } => executions::list(st, &rg, &job, req),
    })
}
