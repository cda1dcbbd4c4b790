//! `deploy` of `builtin:prerequisites`: the `project` name checked before anything is sent, a
//! soft-deleted vault of the same name found and recovered, and the deploy held until the
//! deploying principal can use the vault (SPEC §3.2, §3.1.6).

use std::time::{Duration, Instant};

use crate::azure::arm::deployments::Scope;
use crate::azure::arm::vaults::DeletedVaults;
use crate::error::{Error, Result};
use crate::say;
use crate::session::Session;
use crate::templates::{Parameters, Template};
/// How long the deploy waits for a fresh role assignment to reach Key Vault.
const SETTLE_LIMIT: Duration = Duration::from_secs(10 * 60);
/// The longest pause between two looks at the vault.
const SETTLE_STEP: Duration = Duration::from_secs(10);
/// A progress line at least this often while waiting.
const PROGRESS: Duration = Duration::from_secs(30);

/// Checks `project`: 3–14 lower-case letters, digits and single inner dashes (the seed's
/// `aca-gh-runners` fits), so that every name the template derives from it is valid.
pub fn check_project(project: &str) -> Result<()> {
    let valid = (3..=14).contains(&project.len())
        && project.starts_with(|c: char| c.is_ascii_lowercase())
        && project.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && !project.contains("--")
        && project
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let vault_part: String = project.chars().take(12).collect();
    if !valid || vault_part.ends_with('-') {
        return Err(Error::input(
            "parameters",
            format!(
                "`project` is `{project}`: it must be 3-14 lower-case letters, digits and single inner dashes, starting with a letter (e.g. aca-gh-runners), and its first 12 characters must not end with a dash (they name the vault kv-<project>-<suffix>)"
            ),
        ));
    }
    Ok(())
}

/// The template's defaults for the network it creates (templates/prerequisites.json).
const DEFAULT_PREFIXES: [(&str, &str); 3] = [
    ("vnetAddressPrefix", "10.60.0.0/22"),
    ("environmentSubnetPrefix", "10.60.0.0/24"),
    ("endpointSubnetPrefix", "10.60.1.0/27"),
];
/// The smallest subnet a workload-profiles environment accepts (Microsoft Learn, Container Apps
/// networking: "/27").
const SMALLEST_ENVIRONMENT_SUBNET: u8 = 27;

/// Checks what `builtin:prerequisites` takes as literal parameters, before anything is sent:
/// `project`, `network`, the address prefixes (valid, the environment's subnet /27 or larger,
/// both subnets inside the network and apart) and the team's own subnet ids. `get` reads a
/// literal parameter.
pub fn check_parameters<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<()> {
    let bad = |message: String| Err(Error::input("parameters", message));
    if let Some(project) = get("project") {
        check_project(project)?;
    }
    let network = get("network").unwrap_or("public");
    if !matches!(network, "public" | "private") {
        return bad(format!(
            "`network` is `{network}`: it is `public` (the default) or `private`"
        ));
    }
    seed_naming(get("naming"))?;
    let subnet = get("subnetId").filter(|s| !s.is_empty());
    let endpoints = get("endpointSubnetId").filter(|s| !s.is_empty());
    for (name, id) in [("subnetId", subnet), ("endpointSubnetId", endpoints)] {
        if let Some(id) = id
            && subnet_network(id).is_none()
        {
            return bad(format!(
                "`{name}` is `{id}`: it is a subnet's resource id, /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Network/virtualNetworks/<network>/subnets/<subnet>"
            ));
        }
    }
    match (network, subnet, endpoints) {
        (_, None, Some(_)) => {
            return bad(
                "`endpointSubnetId` goes with `subnetId` (the team's own network); without `subnetId` the template creates the network and its endpoint subnet".into(),
            );
        }
        ("private", Some(_), None) => {
            return bad(
                "with `network: private` and `subnetId`, give `endpointSubnetId` too: a subnet of the same network for the private endpoints (the environment's subnet is delegated and cannot hold them)".into(),
            );
        }
        (_, Some(s), Some(e)) if subnet_network(s) != subnet_network(e) => {
            return bad(format!(
                "`endpointSubnetId` is in another virtual network than `subnetId`: the private DNS zones are linked to one network, `{}`",
                subnet_network(s).unwrap_or_default()
            ));
        }
        _ => {}
    }
    for (name, rtype) in EXISTING {
        if let Some(id) = get(name).filter(|s| !s.is_empty())
            && !is_resource_id(id, rtype)
        {
            return bad(format!(
                "`{name}` is `{id}`: it is the resource id of a {rtype}, /subscriptions/<id>/resourceGroups/<group>/providers/{rtype}/<name>"
            ));
        }
    }
    let given_id = |name| get(name).is_some_and(|s| !s.is_empty());
    if given_id("existingLogAnalyticsId") && given_id("existingEnvironmentId") {
        return bad(
            "`existingLogAnalyticsId` is the workspace of the environment the template creates; with `existingEnvironmentId` the environment keeps its own: drop it".into(),
        );
    }
    let given: Vec<&str> = DEFAULT_PREFIXES
        .iter()
        .filter(|(name, _)| get(name).is_some())
        .map(|(name, _)| *name)
        .collect();
    if subnet.is_some() && !given.is_empty() {
        return bad(format!(
            "`{}` applies to the network the template creates; with `subnetId` the team's network is used as it is",
            given.join("`, `")
        ));
    }
    if network == "private" && subnet.is_none() {
        check_prefixes(|name| {
            get(name).or_else(|| {
                DEFAULT_PREFIXES
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| *v)
            })
        })?;
    }
    Ok(())
}

/// Whether the `naming` parameter of a built-in template asks for the seed pipeline's names
/// (`seed`) or this action's (`default`, or not given); anything else is refused.
pub fn seed_naming(naming: Option<&str>) -> Result<bool> {
    match naming.unwrap_or("default") {
        "default" => Ok(false),
        "seed" => Ok(true),
        other => Err(Error::input(
            "parameters",
            format!(
                "`naming` is `{other}`: it is `default` or `seed` (the seed pipeline's names, to adopt a stack it built)"
            ),
        )),
    }
}

/// The prerequisites a team can bring by resource id, and their types.
const EXISTING: [(&str, &str); 5] = [
    (
        "existingLogAnalyticsId",
        "Microsoft.OperationalInsights/workspaces",
    ),
    ("existingEnvironmentId", "Microsoft.App/managedEnvironments"),
    (
        "existingRegistryId",
        "Microsoft.ContainerRegistry/registries",
    ),
    ("existingKeyVaultId", "Microsoft.KeyVault/vaults"),
    (
        "existingIdentityId",
        "Microsoft.ManagedIdentity/userAssignedIdentities",
    ),
];

/// The segments after `/providers/` of a resource id in a resource group
/// (`/subscriptions/<id>/resourceGroups/<group>/providers/…`), none of them empty.
fn provider_segments(id: &str) -> Option<Vec<&str>> {
    let segs: Vec<&str> = id.trim_end_matches('/').split('/').collect();
    match segs.as_slice() {
        ["", s, sub, r, rg, p, rest @ ..]
            if s.eq_ignore_ascii_case("subscriptions")
                && r.eq_ignore_ascii_case("resourceGroups")
                && p.eq_ignore_ascii_case("providers")
                && !sub.is_empty()
                && !rg.is_empty()
                && rest.iter().all(|x| !x.is_empty()) =>
        {
            Some(rest.to_vec())
        }
        _ => None,
    }
}

/// Whether `id` is the id of a resource of type `rtype` (`Namespace/type`) in a resource group.
fn is_resource_id(id: &str, rtype: &str) -> bool {
    let Some((namespace, kind)) = rtype.split_once('/') else {
        return false;
    };
    matches!(provider_segments(id).as_deref(),
        Some([ns, t, _]) if ns.eq_ignore_ascii_case(namespace) && t.eq_ignore_ascii_case(kind))
}

/// The virtual network id (lower-cased) of a subnet's resource id.
fn subnet_network(id: &str) -> Option<String> {
    match provider_segments(id).as_deref() {
        Some([ns, vt, _, st, name])
            if ns.eq_ignore_ascii_case("Microsoft.Network")
                && vt.eq_ignore_ascii_case("virtualNetworks")
                && st.eq_ignore_ascii_case("subnets") =>
        {
            let id = id.trim_end_matches('/');
            Some(id[..id.len() - name.len() - "/subnets/".len()].to_ascii_lowercase())
        }
        _ => None,
    }
}

/// An IPv4 prefix `a.b.c.d/n`: the network address and the length.
fn cidr(text: &str) -> Option<(u32, u8)> {
    let (addr, len) = text.split_once('/')?;
    let addr: std::net::Ipv4Addr = addr.parse().ok()?;
    let len: u8 = len.parse().ok().filter(|l| *l <= 32)?;
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    let base = u32::from(addr);
    (base & mask == base).then_some((base, len))
}

fn check_prefixes<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<()> {
    let bad = |message: String| Err(Error::input("parameters", message));
    let mut parsed = Vec::new();
    for (name, _) in DEFAULT_PREFIXES {
        let text = get(name).unwrap_or_default();
        match cidr(text) {
            Some(p) => parsed.push((name, text, p)),
            None => {
                return bad(format!(
                    "`{name}` is `{text}`: it is an IPv4 prefix whose address is the network's own, e.g. 10.60.0.0/24"
                ));
            }
        }
    }
    let Ok(
        [
            (_, vnet_text, vnet),
            (env_name, env_text, env),
            (pe_name, pe_text, pe),
        ],
    ) = <[_; 3]>::try_from(parsed)
    else {
        return Ok(());
    };
    if env.1 > SMALLEST_ENVIRONMENT_SUBNET {
        return bad(format!(
            "`{env_name}` is `{env_text}`: a workload-profiles environment needs a /{SMALLEST_ENVIRONMENT_SUBNET} or larger subnet, and its size cannot change once the environment exists"
        ));
    }
    let end = |(base, len): (u32, u8)| u64::from(base) + (1u64 << (32 - len)) - 1;
    let inside = |inner: (u32, u8)| inner.0 >= vnet.0 && end(inner) <= end(vnet);
    for (name, text, p) in [(env_name, env_text, env), (pe_name, pe_text, pe)] {
        if !inside(p) {
            return bad(format!(
                "`{name}` is `{text}`, outside the network's `vnetAddressPrefix` `{vnet_text}`"
            ));
        }
    }
    if u64::from(env.0) <= end(pe) && u64::from(pe.0) <= end(env) {
        return bad(format!(
            "`{env_name}` `{env_text}` and `{pe_name}` `{pe_text}` overlap: the subnets must be apart"
        ));
    }
    Ok(())
}

/// Fills what the action knows of `builtin:prerequisites`: a soft-deleted vault of this
/// project's name to recover, and the deploying principal (its object id and kind, from its
/// Azure token) that the template makes Key Vault Secrets Officer.
pub async fn fill(
    session: &Session,
    scope: &Scope,
    template: &Template,
    params: &mut Parameters,
) -> Result<()> {
    if let Some(project) = params.text("project").map(str::to_string) {
        check_project(&project)?;
        if let Scope::Subscription {
            subscription,
            location,
        } = scope
        {
            let seed = params.text("naming") == Some("seed");
            // A team's own vault is used as it is: nothing to recover.
            if params.text("existingKeyVaultId").is_none_or(str::is_empty) {
                recover_vault(session, subscription, &project, seed, location, params).await?;
            }
        }
    }
    check_team_subnets(session, params).await?;
    if params.contains("deployerObjectId") {
        return Ok(());
    }
    let token = session
        .arm_token("The deploying principal's object id comes from its Azure token: check the Azure inputs, or pass `deployerObjectId` in `parameters`")
        .await?;
    let oid = crate::azure::auth::object_id_of(&token).ok_or_else(|| {
        Error::input(
            "parameters",
            "the Azure token carries no object id (oid): pass `deployerObjectId` in `parameters`",
        )
    })?;
    say!("Deploying principal (Key Vault Secrets Officer): {oid}");
    params.set("deployerObjectId", oid);
    if template.declares("deployerPrincipalType") && !params.contains("deployerPrincipalType") {
        let kind = match crate::azure::auth::claim_of(&token, "idtyp").as_deref() {
            Some("user") => "User",
            _ => "ServicePrincipal",
        };
        params.set("deployerPrincipalType", kind);
    }
    Ok(())
}

/// The team's own subnets (`subnetId`, `endpointSubnetId`) must exist, and the environment's
/// be delegated to `Microsoft.App/environments` and /27 or larger, before anything is deployed
/// into them: an environment on a wrong subnet fails minutes into the deployment, and its
/// subnet's size cannot change afterwards.
async fn check_team_subnets(session: &Session, params: &Parameters) -> Result<()> {
    const DELEGATION: &str = "Microsoft.App/environments";
    let bad = |message: String| Err(Error::input("parameters", message));
    for name in ["subnetId", "endpointSubnetId"] {
        let Some(id) = params.text(name).filter(|s| !s.is_empty()) else {
            continue;
        };
        let Some(subnet) = session.arm().await?.subnet(id).await? else {
            return bad(format!(
                "`{name}` names the subnet {id}, which does not exist (or the Azure identity cannot read it)"
            ));
        };
        let props = &subnet.properties;
        let delegated = props.delegated_to(DELEGATION);
        if name == "subnetId" {
            if !delegated {
                return bad(format!(
                    "`subnetId` {id} is not delegated to {DELEGATION}: delegate it (az network vnet subnet update --delegations {DELEGATION}) before the environment is injected"
                ));
            }
            match props.prefix().and_then(cidr) {
                Some((_, len)) if len > SMALLEST_ENVIRONMENT_SUBNET => {
                    return bad(format!(
                        "`subnetId` {id} is a /{len}: a workload-profiles environment needs a /{SMALLEST_ENVIRONMENT_SUBNET} or larger subnet"
                    ));
                }
                _ => {}
            }
        } else if delegated {
            return bad(format!(
                "`endpointSubnetId` {id} is delegated to {DELEGATION}: private endpoints need a subnet of their own"
            ));
        }
    }
    Ok(())
}

/// The shape of the vault name the template gives this project: its fixed prefix and the
/// number of suffix characters after it (`kv-<first 12 of project>-<6>`; with `naming: seed`,
/// the first 24 characters of `kv-<project>-<13>`).
fn vault_name_shape(project: &str, seed: bool) -> (String, usize) {
    if seed {
        let prefix = format!("kv-{project}-");
        let room = 24usize.saturating_sub(prefix.len()).min(13);
        (prefix, room)
    } else {
        (
            format!("kv-{}-", project.chars().take(12).collect::<String>()),
            6,
        )
    }
}

/// A soft-deleted vault of the name the template gives this project's vault
/// ([`vault_name_shape`]): recovered by the deployment when it is in the deployment's
/// location, else the error says what to do.
async fn recover_vault(
    session: &Session,
    subscription: &str,
    project: &str,
    seed: bool,
    location: &str,
    params: &mut Parameters,
) -> Result<()> {
    if params.contains("keyVaultCreateMode") {
        return Ok(());
    }
    let deleted = match session.arm().await?.deleted_vaults(subscription).await? {
        DeletedVaults::Found(found) => found,
        DeletedVaults::NotAllowed => {
            session.rt.warning(
                "could not look for a soft-deleted vault of this project's name (403 listing deleted vaults): if one exists, the deployment fails with ConflictError",
            );
            return Ok(());
        }
    };
    // This project's vault: its name in its resource group.
    let (prefix, suffix_len) = vault_name_shape(project, seed);
    let group = format!("/resourcegroups/rg-{project}/");
    let Some(vault) = deleted.into_iter().find(|v| {
        let n = &v.name;
        let name_fits = n.len() == prefix.len() + suffix_len
            && n.starts_with(&prefix)
            && n[prefix.len()..].chars().all(|c| c.is_ascii_alphanumeric());
        name_fits && v.properties.vault_id.to_ascii_lowercase().contains(&group)
    }) else {
        return Ok(());
    };
    // The template's own `location` parameter, when given, is where the vault goes.
    let location = params.text("location").unwrap_or(location).to_string();
    let name = &vault.name;
    let props = &vault.properties;
    let deleted_in = props.location.as_str();
    let same_place =
        |a: &str, b: &str| a.replace(' ', "").eq_ignore_ascii_case(&b.replace(' ', ""));
    if !same_place(deleted_in, &location) {
        let purge = if props.purge_protection_enabled == Some(true) {
            format!(
                "purge protection keeps it until {}",
                props
                    .scheduled_purge_date
                    .as_deref()
                    .unwrap_or("its purge date")
            )
        } else {
            format!("or purge it: az keyvault purge --name {name}")
        };
        return Err(Error::input(
            "location",
            format!(
                "the vault {name} this project deploys was deleted in {deleted_in} and is still soft-deleted; it can only be recovered there: deploy with `location: {deleted_in}`, choose another `project`, {purge}"
            ),
        ));
    }
    say!(
        "Key Vault {name} was deleted on {} and is soft-deleted: the deployment recovers it (with its secrets)",
        props.deletion_date.as_deref().unwrap_or("?")
    );
    params.set("keyVaultCreateMode", "recover");
    Ok(())
}

/// After `builtin:prerequisites`: holds the deploy until the vault it made answers the
/// deploying principal (bounded; a vault this runner cannot reach is left with a warning), or,
/// with `network: private`, says which later steps must run inside the network. Returns what
/// the step summary adds. `output` reads a deployment output.
pub async fn settle<'a>(
    session: &Session,
    output: impl Fn(&str) -> Option<&'a str>,
) -> Result<String> {
    if output("network") == Some("private") {
        let vault = output("keyVaultName").unwrap_or("the vault");
        let registry = output("acrName").unwrap_or("the registry");
        say!(
            "network: private: {vault} and {registry} accept private-endpoint traffic only; rotate-key and build-image must now run inside the network"
        );
        return Ok(format!(
            "**Private network.** `{vault}` and `{registry}` now accept traffic only through their private endpoints in `{}`. Run `rotate-key` and `build-image` inside that network: on the project's own runners (`runs-on: [self-hosted, <pool label>]`) with `uses: OWNER/aca-runner-action/native@v0` and `azure-auth: managed-identity`. `deploy`, `set-variables` and `doctor`'s Azure Resource Manager checks still run anywhere.\n",
            output("vnetId").unwrap_or("the virtual network")
        ));
    }
    if output("naming") == Some("seed") {
        return adopted_vault(session, output).await;
    }
    wait_for_new_vault(session, output).await?;
    Ok(String::new())
}

/// `naming: seed` adopts a vault the template grants the deployer nothing on (the seed wrote its
/// secret through Azure Resource Manager): one look, and the summary says when rotate-key will
/// need the role.
async fn adopted_vault<'a>(
    session: &Session,
    output: impl Fn(&str) -> Option<&'a str>,
) -> Result<String> {
    let (Some(vault), Some(secret)) = (output("keyVaultUri"), output("gitHubAppKeySecretName"))
    else {
        return Ok(String::new());
    };
    match session.key_vault(vault).await?.versions(secret).await {
        Ok(_) => Ok(String::new()),
        Err(Error::KeyVaultForbidden { .. }) => {
            let message = format!(
                "The deploying principal has no role on {vault} (naming: seed leaves roles to you): give it Key Vault Secrets Officer on the vault before rotate-key writes `{secret}` there"
            );
            session.rt.warning(&message);
            Ok(format!("**Adopted vault.** {message}.\n"))
        }
        Err(e) => Err(e),
    }
}

/// Holds the deploy until the vault `builtin:prerequisites` made answers the deploying principal.
async fn wait_for_new_vault<'a>(
    session: &Session,
    output: impl Fn(&str) -> Option<&'a str>,
) -> Result<()> {
    let Some(vault) = output("keyVaultUri") else {
        return Ok(());
    };
    let secret = output("gitHubAppKeySecretUri")
        .and_then(|u| u.rsplit('/').next())
        .unwrap_or("github-app-key");
    wait_for_vault(session, vault, secret).await
}

/// Holds the deploy until the deploying principal can use the vault: a role assigned minutes
/// ago is refused (403 ForbiddenByRbac) until Azure RBAC has applied it. Bounded, with a
/// progress line every 30 s; a vault the runner cannot reach (a private endpoint) is left with
/// a warning, as rotate-key waits out a fresh assignment itself.
async fn wait_for_vault(session: &Session, vault_url: &str, secret_name: &str) -> Result<()> {
    if url::Url::parse(vault_url).is_err() {
        return Ok(());
    }
    let kv = session.key_vault(vault_url).await?;
    let started = Instant::now();
    let mut last_line = Instant::now();
    let mut pause = Duration::from_secs(1);
    let mut said = false;
    loop {
        // The version list proves the right without reading the key itself.
        match kv.versions(secret_name).await {
            Ok(_) => {
                if said {
                    say!(
                        "Key Vault {vault_url} answers the deploying principal now ({} s)",
                        started.elapsed().as_secs()
                    );
                }
                return Ok(());
            }
            Err(Error::KeyVaultForbidden { code, .. }) if code == "ForbiddenByRbac" => {
                if started.elapsed() >= SETTLE_LIMIT {
                    return Err(Error::RoleNotEffective {
                        vault: vault_url.to_string(),
                        waited_minutes: SETTLE_LIMIT.as_secs() / 60,
                    });
                }
                if !said || last_line.elapsed() >= PROGRESS {
                    say!(
                        "Waiting for the role assignment on Key Vault {vault_url} to take effect (Azure RBAC takes minutes): {} s so far",
                        started.elapsed().as_secs()
                    );
                    said = true;
                    last_line = Instant::now();
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(SETTLE_STEP);
            }
            // A firewall, or public access turned off: this runner's network is refused.
            Err(Error::KeyVaultNetwork { fix, .. }) => {
                session.rt.warning(&format!(
                    "Key Vault {vault_url} refuses this runner's network, so the deploy cannot confirm the role took effect ({fix}); rotate-key waits out a fresh assignment itself"
                ));
                return Ok(());
            }
            Err(Error::Transport { host, .. }) => {
                session.rt.warning(&format!(
                    "cannot reach Key Vault {host} from this runner to confirm the role took effect (a private endpoint?); rotate-key waits out a fresh assignment itself"
                ));
                return Ok(());
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(params: &[(&str, &str)]) -> std::result::Result<(), String> {
        check_parameters(|name| params.iter().find(|(n, _)| *n == name).map(|(_, v)| *v))
            .map_err(|e| e.to_string())
    }

    const SUBNET: &str = "/subscriptions/s/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/hub/subnets/aca";
    const ENDPOINTS: &str = "/subscriptions/s/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/hub/subnets/pe";

    #[test]
    fn network_parameters_are_checked_before_anything_is_sent() {
        assert_eq!(check(&[]), Ok(()));
        assert_eq!(check(&[("network", "private")]), Ok(()));
        assert_eq!(
            check(&[
                ("network", "private"),
                ("subnetId", SUBNET),
                ("endpointSubnetId", ENDPOINTS)
            ]),
            Ok(())
        );
        // The team's own subnet in public mode: the environment is injected, nothing else.
        assert_eq!(check(&[("subnetId", SUBNET)]), Ok(()));
        let err = |params: &[(&str, &str)]| check(params).unwrap_err();
        assert!(err(&[("network", "internal")]).contains("`network` is `internal`"));
        assert!(err(&[("subnetId", "hub/aca")]).contains("a subnet's resource id"));
        assert!(
            err(&[("network", "private"), ("subnetId", SUBNET)])
                .contains("give `endpointSubnetId` too")
        );
        assert!(err(&[("endpointSubnetId", ENDPOINTS)]).contains("goes with `subnetId`"));
        let other = ENDPOINTS.replace("/hub/", "/spoke/");
        assert!(
            err(&[
                ("network", "private"),
                ("subnetId", SUBNET),
                ("endpointSubnetId", &other)
            ])
            .contains("another virtual network")
        );
        assert!(
            err(&[("subnetId", SUBNET), ("vnetAddressPrefix", "10.0.0.0/16")])
                .contains("with `subnetId` the team's network is used as it is")
        );
        let private = |name, value| err(&[("network", "private"), (name, value)]);
        assert!(private("environmentSubnetPrefix", "10.60.0.0/28").contains("/27 or larger"));
        assert!(private("environmentSubnetPrefix", "10.60.0.1/24").contains("IPv4 prefix"));
        assert!(private("environmentSubnetPrefix", "10.61.0.0/24").contains("outside the network"));
        assert!(private("endpointSubnetPrefix", "10.60.0.0/27").contains("overlap"));
        assert!(private("vnetAddressPrefix", "300.0.0.0/16").contains("IPv4 prefix"));
        let kv =
            "/subscriptions/s/resourceGroups/shared/providers/Microsoft.KeyVault/vaults/kv-team";
        assert_eq!(check(&[("existingKeyVaultId", kv)]), Ok(()));
        assert!(
            err(&[("existingRegistryId", kv)])
                .contains("resource id of a Microsoft.ContainerRegistry/registries")
        );
        let env = "/subscriptions/s/resourceGroups/shared/providers/Microsoft.App/managedEnvironments/cae";
        let law = "/subscriptions/s/resourceGroups/shared/providers/Microsoft.OperationalInsights/workspaces/law";
        assert!(
            err(&[
                ("existingEnvironmentId", env),
                ("existingLogAnalyticsId", law)
            ])
            .contains("drop it")
        );
        // The prefixes matter only for the network the template creates in private mode.
        assert_eq!(
            check(&[("environmentSubnetPrefix", "10.60.0.0/28")]),
            Ok(())
        );
    }

    #[test]
    fn the_vault_name_follows_the_naming() {
        assert_eq!(
            vault_name_shape("aca-gh-runners", false),
            ("kv-aca-gh-runne-".into(), 6)
        );
        // take('kv-aca-gh-runners-<13>', 24): six characters of the suffix are left.
        assert_eq!(
            vault_name_shape("aca-gh-runners", true),
            ("kv-aca-gh-runners-".into(), 6)
        );
        assert_eq!(vault_name_shape("abc", true), ("kv-abc-".into(), 13));
        assert!(
            check(&[("naming", "legacy")])
                .unwrap_err()
                .contains("`naming` is `legacy`")
        );
        assert_eq!(check(&[("naming", "seed")]), Ok(()));
    }

    #[test]
    fn project_names_are_checked() {
        for good in ["aca-gh-runners", "runners", "abc", "a1-b2"] {
            assert!(check_project(good).is_ok(), "{good}");
        }
        for bad in [
            "ab",
            "aca-gh-runners-x",
            "Runners",
            "1runners",
            "run--ners",
            "runners-",
            "abcdefghijk-x",
            "run_ners",
        ] {
            assert!(check_project(bad).is_err(), "{bad}");
        }
    }
}
