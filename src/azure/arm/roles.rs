//! Role assignments: which roles the caller holds where, and since when (SPEC §3.1.6).

use serde::Deserialize;
use time::OffsetDateTime;

use super::Arm;
use crate::error::Result;

/// API version of the role assignment list.
pub const ROLE_ASSIGNMENTS_API: &str = "2022-04-01";

/// One role assignment of a principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleAssignment {
    /// Where it applies (`/subscriptions/…[/resourceGroups/…[/providers/…]]`).
    pub scope: String,
    /// The role definition's GUID (last segment of its id), lower-case.
    pub role: String,
    /// When it was created.
    pub created_on: Option<OffsetDateTime>,
}

#[derive(Deserialize)]
struct Wire {
    #[serde(default)]
    properties: WireProperties,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct WireProperties {
    scope: String,
    role_definition_id: String,
    created_on: Option<String>,
}

impl Arm {
    /// Every role assignment of `principal` in `subscription` (any scope inside it and above).
    pub async fn role_assignments_of(
        &self,
        subscription: &str,
        principal: &str,
    ) -> Result<Vec<RoleAssignment>> {
        let path = format!(
            "/subscriptions/{subscription}/providers/Microsoft.Authorization/roleAssignments?$filter=assignedTo('{principal}')"
        );
        let items: Vec<Wire> = self
            .list(
                &path,
                ROLE_ASSIGNMENTS_API,
                "listing the caller's role assignments",
            )
            .await?;
        Ok(items
            .into_iter()
            .map(|a| RoleAssignment {
                scope: a.properties.scope,
                role: a
                    .properties
                    .role_definition_id
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_ascii_lowercase(),
                created_on: a.properties.created_on.and_then(|t| {
                    OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339).ok()
                }),
            })
            .collect())
    }
}
