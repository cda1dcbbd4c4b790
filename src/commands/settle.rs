//! Fresh role assignments settle (SPEC §3.1.6): Azure RBAC takes minutes to reach Key Vault, so
//! a `403 ForbiddenByRbac` for a caller whose Key Vault role was assigned less than 15 minutes
//! ago is waited out (bounded, a progress line every 30 s); any other 403 fails at once.

use std::future::Future;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::say;
use crate::session::Session;

/// An assignment younger than this may not have reached Key Vault yet.
pub const FRESH: Duration = Duration::from_secs(15 * 60);
/// The longest wait for one.
pub const LIMIT: Duration = Duration::from_secs(10 * 60);
/// A progress line at least this often.
const PROGRESS: Duration = Duration::from_secs(30);
/// The longest pause between two tries.
const STEP: Duration = Duration::from_secs(10);

/// Key Vault's data-plane roles: Secrets Officer, Secrets User, Administrator, Reader.
const KEY_VAULT_ROLES: [&str; 4] = [
    "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
    "4633458b-17de-408a-b874-0445c86b69e6",
    "00482a5a-887f-4fb3-b363-3b7fe8e74483",
    "21090545-7ca7-4776-b22c-e363652d74d2",
];

/// The creation time of the caller's newest Key Vault role assignment that is younger than
/// [`FRESH`] and covers the vault (`vault`: its name when the URL tells it), if any.
async fn fresh_assignment(
    session: &Session,
    subscription: &str,
    vault: Option<&str>,
) -> Result<Option<OffsetDateTime>> {
    let token = session
        .arm_token("Check azure-client-id, azure-tenant-id and azure-auth")
        .await?;
    let Some(principal) = crate::azure::auth::object_id_of(&token) else {
        return Ok(None);
    };
    let assignments = session
        .arm()
        .await?
        .role_assignments_of(subscription, &principal)
        .await?;
    let now = OffsetDateTime::now_utc();
    Ok(assignments
        .into_iter()
        .filter(|a| KEY_VAULT_ROLES.contains(&a.role.as_str()))
        .filter(|a| {
            let scope = a.scope.to_ascii_lowercase();
            let on_a_vault = scope.contains("/providers/microsoft.keyvault/vaults/");
            match vault {
                // A vault scope must be this vault; a subscription or group scope covers it.
                Some(name) if on_a_vault => scope.ends_with(&format!(
                    "/providers/microsoft.keyvault/vaults/{}",
                    name.to_ascii_lowercase()
                )),
                _ => true,
            }
        })
        .filter_map(|a| a.created_on)
        .filter(|c| now - *c < FRESH)
        .max())
}

/// Runs `op`; while it meets `403 ForbiddenByRbac` and the caller's Key Vault role is fresh,
/// waits and runs it again (at most [`LIMIT`]). Any other outcome is returned as it is.
pub async fn retry_while_settling<T, F, Fut>(
    session: &Session,
    subscription: Option<&str>,
    vault: Option<&str>,
    mut op: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let started = Instant::now();
    let mut fresh: Option<Option<OffsetDateTime>> = None;
    let mut last_line: Option<Instant> = None;
    let mut pause = Duration::from_secs(1);
    loop {
        let e = match op().await {
            Err(e @ Error::KeyVaultForbidden { .. }) => e,
            other => return other,
        };
        let rbac = matches!(&e, Error::KeyVaultForbidden { code, .. } if code == "ForbiddenByRbac");
        let Some(subscription) = subscription.filter(|_| rbac) else {
            return Err(e);
        };
        if fresh.is_none() {
            // The lookup's own failure leaves the vault's answer to be reported.
            fresh = Some(
                fresh_assignment(session, subscription, vault)
                    .await
                    .unwrap_or(None),
            );
        }
        let Some(Some(created)) = fresh else {
            return Err(e);
        };
        if started.elapsed() >= LIMIT {
            return Err(e);
        }
        if last_line.is_none_or(|t| t.elapsed() >= PROGRESS) {
            let age = (OffsetDateTime::now_utc() - created).whole_seconds().max(0);
            say!(
                "Key Vault refuses the caller (403 ForbiddenByRbac), whose Key Vault role was assigned {age} s ago: waiting for Azure RBAC to apply it ({} s so far, at most {} minutes)",
                started.elapsed().as_secs(),
                LIMIT.as_secs() / 60
            );
            last_line = Some(Instant::now());
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(STEP);
    }
}
