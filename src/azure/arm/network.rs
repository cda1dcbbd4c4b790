//! A virtual network's subnet (`Subnets_Get`): what `builtin:prerequisites` checks of a team's
//! own subnet before deploying into it.

use azure_core::http::Method;
use serde::Deserialize;

use super::{Arm, arm_error};
use crate::error::Result;

/// `Subnets_Get`'s API version.
pub const NETWORK_API: &str = "2024-05-01";

/// A subnet, as far as the checks read it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Subnet {
    /// Its settings.
    pub properties: SubnetProperties,
}

/// The settings of a [`Subnet`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubnetProperties {
    /// Its prefix (`10.0.0.0/24`).
    pub address_prefix: Option<String>,
    /// Its prefixes, when it has several.
    pub address_prefixes: Vec<String>,
    /// The services it is delegated to.
    pub delegations: Vec<Delegation>,
}

/// A subnet delegation.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Delegation {
    /// The delegation's settings.
    pub properties: DelegationProperties,
}

/// The settings of a [`Delegation`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DelegationProperties {
    /// `Microsoft.App/environments`, …
    pub service_name: String,
}

impl SubnetProperties {
    /// Its first prefix.
    pub fn prefix(&self) -> Option<&str> {
        self.address_prefix
            .as_deref()
            .or_else(|| self.address_prefixes.first().map(String::as_str))
    }

    /// Whether it is delegated to `service`.
    pub fn delegated_to(&self, service: &str) -> bool {
        self.delegations
            .iter()
            .any(|d| d.properties.service_name.eq_ignore_ascii_case(service))
    }
}

impl Arm {
    /// The subnet `id`, or `None` when there is none (404).
    pub async fn subnet(&self, id: &str) -> Result<Option<Subnet>> {
        let resp = self.send(Method::Get, id, Some(NETWORK_API), None).await?;
        match resp.status {
            200 => Ok(Some(serde_json::from_value(resp.body).unwrap_or_default())),
            404 => Ok(None),
            _ => Err(arm_error(&format!("reading the subnet {id}"), &resp)),
        }
    }
}
