//! Which ARM path is which: a request's method and path parsed into a [`Route`].

use crate::util::Req;

/// What a request does to a deployment.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Kind {
    Get,
    Put,
    WhatIf,
    Operations,
    /// `POST …/deployments/{name}/validate` (preflight; `az deployment group create` sends it
    /// before the PUT).
    Validate,
}

/// An ARM route the fake serves, with the names its path holds.
pub(super) enum Route {
    /// `GET /subscriptions` (`None`) or `GET /subscriptions/{id}` (what `az login` lists).
    Subscriptions(Option<String>),
    Deployment {
        sub: String,
        rg: Option<String>,
        name: String,
        kind: Kind,
    },
    DeploymentStatus {
        sub: String,
        op: String,
    },
    WhatIfResult {
        sub: String,
        id: String,
    },
    Job {
        sub: String,
        rg: String,
        name: String,
        put: bool,
    },
    JobStatus {
        sub: String,
        op: String,
    },
    /// `GET /subscriptions/{sub}/providers/Microsoft.KeyVault/deletedVaults`.
    DeletedVaults {
        sub: String,
    },
    /// `GET /subscriptions/{sub}/providers/Microsoft.Authorization/roleAssignments`.
    RoleAssignments {
        sub: String,
    },
    /// `GET /subscriptions/{sub}/providers/Microsoft.App/{jobs|containerApps}`.
    AppList {
        sub: String,
        kind: &'static str,
    },
    /// A container app (`Microsoft.App/containerApps`), read or written.
    App {
        sub: String,
        rg: String,
        name: String,
        put: bool,
    },
    /// `GET {scope}/providers/Microsoft.Authorization/permissions` for a resource group or a
    /// resource in one (`scope`: the path before `/providers/Microsoft.Authorization`).
    Permissions {
        sub: String,
        scope: String,
    },
    /// `GET /subscriptions/{sub}/providers/Microsoft.KeyVault/vaults`.
    Vaults {
        sub: String,
    },
    /// `GET /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.App/jobs`.
    GroupJobs {
        sub: String,
        rg: String,
    },
    /// `GET …/Microsoft.App/jobs/{job}/executions`.
    Executions {
        sub: String,
        rg: String,
        job: String,
    },
    /// `GET …/Microsoft.Network/virtualNetworks/{vnet}/subnets/{name}`.
    Subnet {
        sub: String,
        rg: String,
        vnet: String,
        name: String,
    },
}

impl Route {
    /// The subscription the route addresses (`default` for `GET /subscriptions`).
    pub(super) fn subscription(&self, default: &str) -> String {
        match self {
            Route::Subscriptions(id) => id.clone().unwrap_or_else(|| default.to_string()),
            Route::Deployment { sub, .. }
            | Route::DeploymentStatus { sub, .. }
            | Route::WhatIfResult { sub, .. }
            | Route::Job { sub, .. }
            | Route::JobStatus { sub, .. }
            | Route::DeletedVaults { sub }
            | Route::AppList { sub, .. }
            | Route::RoleAssignments { sub }
            | Route::App { sub, .. }
            | Route::Permissions { sub, .. }
            | Route::Vaults { sub }
            | Route::GroupJobs { sub, .. }
            | Route::Executions { sub, .. }
            | Route::Subnet { sub, .. } => sub.clone(),
        }
    }
}

/// Routes served for the `az` CLI that the vendored API description does not cover (subscription
/// listing, deployment preflight) or whose description is not vendored (the Key Vault
/// management plane's vault list): their exchanges are not contract-checked.
pub(crate) fn undescribed(req: &Req) -> bool {
    matches!(
        route(&req.method, &req.segments()),
        Some(
            Route::Subscriptions(_)
                | Route::DeletedVaults { .. }
                | Route::AppList { .. }
                | Route::App { .. }
                | Route::RoleAssignments { .. }
                | Route::Vaults { .. }
                | Route::Deployment {
                    kind: Kind::Validate,
                    ..
                }
        )
    )
}

/// The route of `method` and the path segments `segs` (literal segments compared
/// case-insensitively), if the fake serves it.
pub(super) fn route(method: &str, segs: &[String]) -> Option<Route> {
    let lower: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
    let l: Vec<&str> = lower.iter().map(String::as_str).collect();
    let s = |i: usize| segs[i].clone();
    let dep = |rg: Option<String>, name: String, kind: Kind| {
        Some(Route::Deployment {
            sub: s(1),
            rg,
            name,
            kind,
        })
    };
    if let Some(permissions) = permissions(method, segs, &l) {
        return Some(permissions);
    }
    match (method, l.as_slice()) {
        ("GET", ["subscriptions"]) => Some(Route::Subscriptions(None)),
        ("GET", ["subscriptions", _]) => Some(Route::Subscriptions(Some(s(1)))),
        (
            "POST",
            [
                "subscriptions",
                _,
                "resourcegroups",
                _,
                "providers",
                "microsoft.resources",
                "deployments",
                _,
                "validate",
            ],
        ) => dep(Some(s(3)), s(7), Kind::Validate),
        (
            "POST",
            [
                "subscriptions",
                _,
                "providers",
                "microsoft.resources",
                "deployments",
                _,
                "validate",
            ],
        ) => dep(None, s(5), Kind::Validate),
        (
            "GET" | "PUT",
            [
                "subscriptions",
                _,
                "resourcegroups",
                _,
                "providers",
                "microsoft.resources",
                "deployments",
                _,
            ],
        ) => dep(
            Some(s(3)),
            s(7),
            if method == "PUT" {
                Kind::Put
            } else {
                Kind::Get
            },
        ),
        (
            "POST",
            [
                "subscriptions",
                _,
                "resourcegroups",
                _,
                "providers",
                "microsoft.resources",
                "deployments",
                _,
                "whatif",
            ],
        ) => dep(Some(s(3)), s(7), Kind::WhatIf),
        (
            "GET",
            [
                "subscriptions",
                _,
                "resourcegroups",
                _,
                "providers",
                "microsoft.resources",
                "deployments",
                _,
                "operations",
            ],
        ) => dep(Some(s(3)), s(7), Kind::Operations),
        (
            "GET",
            [
                "subscriptions",
                _,
                "resourcegroups",
                _,
                "deployments",
                _,
                "operations",
            ],
        ) => dep(Some(s(3)), s(5), Kind::Operations),
        (
            "GET" | "PUT",
            [
                "subscriptions",
                _,
                "providers",
                "microsoft.resources",
                "deployments",
                _,
            ],
        ) => dep(
            None,
            s(5),
            if method == "PUT" {
                Kind::Put
            } else {
                Kind::Get
            },
        ),
        (
            "POST",
            [
                "subscriptions",
                _,
                "providers",
                "microsoft.resources",
                "deployments",
                _,
                "whatif",
            ],
        ) => dep(None, s(5), Kind::WhatIf),
        (
            "GET",
            [
                "subscriptions",
                _,
                "providers",
                "microsoft.resources",
                "deployments",
                _,
                "operations",
            ],
        ) => dep(None, s(5), Kind::Operations),
        (
            "GET",
            [
                "subscriptions",
                _,
                "providers",
                "microsoft.resources",
                "deployments",
                _,
                "operationstatuses",
                _,
            ],
        ) => Some(Route::DeploymentStatus {
            sub: s(1),
            op: s(7),
        }),
        (
            "GET",
            [
                "subscriptions",
                _,
                "providers",
                "microsoft.resources",
                "locations",
                _,
                "operationresults",
                _,
            ],
        ) => Some(Route::WhatIfResult {
            sub: s(1),
            id: s(7),
        }),
        (
            "GET" | "PUT",
            [
                "subscriptions",
                _,
                "resourcegroups",
                _,
                "providers",
                "microsoft.app",
                "jobs",
                _,
            ],
        ) => Some(Route::Job {
            sub: s(1),
            rg: s(3),
            name: s(7),
            put: method == "PUT",
        }),
        (
            "GET",
            [
                "subscriptions",
                _,
                "providers",
                "microsoft.app",
                "locations",
                _,
                "containerappsjoboperationstatuses",
                _,
            ],
        ) => Some(Route::JobStatus {
            sub: s(1),
            op: s(7),
        }),
        (
            "GET",
            [
                "subscriptions",
                _,
                "providers",
                "microsoft.keyvault",
                "deletedvaults",
            ],
        ) => Some(Route::DeletedVaults { sub: s(1) }),
        (
            "GET",
            [
                "subscriptions",
                _,
                "providers",
                "microsoft.authorization",
                "roleassignments",
            ],
        ) => Some(Route::RoleAssignments { sub: s(1) }),
        ("GET", ["subscriptions", _, "providers", "microsoft.app", "jobs"]) => {
            Some(Route::AppList {
                sub: s(1),
                kind: "Microsoft.App/jobs",
            })
        }
        (
            "GET",
            [
                "subscriptions",
                _,
                "providers",
                "microsoft.app",
                "containerapps",
            ],
        ) => Some(Route::AppList {
            sub: s(1),
            kind: "Microsoft.App/containerApps",
        }),
        (
            "GET",
            [
                "subscriptions",
                _,
                "resourcegroups",
                _,
                "providers",
                "microsoft.network",
                "virtualnetworks",
                _,
                "subnets",
                _,
            ],
        ) => Some(Route::Subnet {
            sub: s(1),
            rg: s(3),
            vnet: s(7),
            name: s(9),
        }),
        (
            "GET" | "PUT",
            [
                "subscriptions",
                _,
                "resourcegroups",
                _,
                "providers",
                "microsoft.app",
                "containerapps",
                _,
            ],
        ) => Some(Route::App {
            sub: s(1),
            rg: s(3),
            name: s(7),
            put: method == "PUT",
        }),
        (
            "GET",
            [
                "subscriptions",
                _,
                "providers",
                "microsoft.keyvault",
                "vaults",
            ],
        ) => Some(Route::Vaults { sub: s(1) }),
        (
            "GET",
            [
                "subscriptions",
                _,
                "resourcegroups",
                _,
                "providers",
                "microsoft.app",
                "jobs",
            ],
        ) => Some(Route::GroupJobs {
            sub: s(1),
            rg: s(3),
        }),
        (
            "GET",
            [
                "subscriptions",
                _,
                "resourcegroups",
                _,
                "providers",
                "microsoft.app",
                "jobs",
                _,
                "executions",
            ],
        ) => Some(Route::Executions {
            sub: s(1),
            rg: s(3),
            job: s(7),
        }),
        _ => None,
    }
}

/// `GET {scope}/providers/Microsoft.Authorization/permissions` with `scope` a resource group
/// (`/subscriptions/{sub}/resourceGroups/{rg}`) or a resource in one
/// (`…/providers/{namespace}/{type}/{name}`, nested types too).
fn permissions(method: &str, segs: &[String], lower: &[&str]) -> Option<Route> {
    let n = lower.len();
    let tail = ["providers", "microsoft.authorization", "permissions"];
    let group = n == 7;
    // namespace + (type, name) pairs between `providers` and the tail
    let resource = n >= 11 && lower[4] == "providers" && (n - 9).is_multiple_of(2);
    if method != "GET"
        || !(group || resource)
        || lower[0] != "subscriptions"
        || lower[2] != "resourcegroups"
        || lower[n - 3..] != tail
    {
        return None;
    }
    Some(Route::Permissions {
        sub: segs[1].clone(),
        scope: format!("/{}", segs[..n - 3].join("/")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(path: &str) -> Option<Route> {
        let segs: Vec<String> = path
            .trim_start_matches('/')
            .split('/')
            .map(str::to_string)
            .collect();
        route("GET", &segs)
    }

    #[test]
    fn permission_scopes() {
        let scope = |path: &str| match parse(path) {
            Some(Route::Permissions { scope, .. }) => Some(scope),
            _ => None,
        };
        assert_eq!(
            scope(
                "/subscriptions/s/resourceGroups/g/providers/Microsoft.Authorization/permissions"
            )
            .as_deref(),
            Some("/subscriptions/s/resourceGroups/g")
        );
        assert_eq!(
            scope("/subscriptions/s/resourceGroups/g/providers/Microsoft.KeyVault/vaults/v/providers/Microsoft.Authorization/permissions").as_deref(),
            Some("/subscriptions/s/resourceGroups/g/providers/Microsoft.KeyVault/vaults/v")
        );
        assert_eq!(
            scope("/subscriptions/s/resourceGroups/g/providers/Microsoft.KeyVault/vaults/v/secrets/x/providers/Microsoft.Authorization/permissions").as_deref(),
            Some("/subscriptions/s/resourceGroups/g/providers/Microsoft.KeyVault/vaults/v/secrets/x")
        );
        // Not a resource: a namespace and a type without a name.
        assert_eq!(
            scope(
                "/subscriptions/s/resourceGroups/g/providers/Microsoft.KeyVault/vaults/providers/Microsoft.Authorization/permissions"
            ),
            None
        );
        assert_eq!(
            scope("/subscriptions/s/providers/Microsoft.Authorization/permissions"),
            None
        );
        assert!(matches!(
            parse("/subscriptions/s/resourceGroups/g/providers/Microsoft.App/jobs/j/executions"),
            Some(Route::Executions { .. })
        ));
        assert!(matches!(
            parse("/subscriptions/s/resourceGroups/g/providers/Microsoft.App/jobs"),
            Some(Route::GroupJobs { .. })
        ));
        assert!(matches!(
            parse("/subscriptions/s/providers/Microsoft.KeyVault/vaults"),
            Some(Route::Vaults { .. })
        ));
    }
}
