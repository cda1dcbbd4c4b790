//! One module per command: each knows its workflow and calls the service modules; none builds an
//! HTTP request itself.

pub mod build_image;
pub mod deploy;
pub mod prerequisites;
pub mod rotate_key;
pub mod runner_jobs;
pub mod set_variables;
pub mod settle;

use std::collections::BTreeMap;

use crate::cli::{Command, Inputs};
use crate::error::Result;

/// The commands' checked inputs, read before the first request: a bad input of a later
/// command stops the step before an earlier one wrote anything.
#[derive(Debug, Default)]
pub struct Plan {
    /// `build-image`.
    pub build_image: Option<build_image::Request>,
    /// `deploy`.
    pub deploy: Option<deploy::Request>,
    /// `set-variables`.
    pub set_variables: Option<set_variables::Request>,
}

impl Plan {
    /// Checks the inputs of every command in `commands`.
    pub fn from_inputs(commands: &[Command], inputs: &Inputs) -> Result<Plan> {
        let mut plan = Plan::default();
        // The Azure inputs are read when the first Azure token is needed: check them now.
        if commands.iter().any(|c| *c != Command::SetVariables) {
            crate::azure_auth::AuthMethod::parse(Inputs::text(&inputs.azure_auth).as_deref())?;
            crate::azure_auth::Cloud::resolve(
                Inputs::text(&inputs.azure_environment).as_deref(),
                Inputs::text(&inputs.azure_authority_host).as_deref(),
                Inputs::text(&inputs.azure_resource_manager_url).as_deref(),
                Inputs::text(&inputs.azure_audience).as_deref(),
            )?;
        }
        if commands.contains(&Command::BuildImage) {
            plan.build_image = Some(build_image::Request::from_inputs(inputs)?);
        }
        if commands.contains(&Command::Deploy) {
            plan.deploy = Some(deploy::Request::from_inputs(inputs)?);
        }
        if commands.contains(&Command::SetVariables) {
            plan.set_variables = Some(set_variables::Request::from_inputs(inputs)?);
        }
        Ok(plan)
    }
}

/// The permissions of the step's one installation token: the union of what its commands need,
/// and no more (GitHub scopes installation tokens down on request).
pub fn token_permissions(commands: &[Command], inputs: &Inputs) -> BTreeMap<String, String> {
    let mut wanted = BTreeMap::new();
    wanted.insert("metadata".to_string(), "read".to_string());
    if commands.contains(&Command::SetVariables) {
        let org = Inputs::text(&inputs.variables_scope).as_deref() == Some("organization");
        let name = if org {
            "organization_actions_variables"
        } else {
            "actions_variables"
        };
        wanted.insert(name.to_string(), "write".to_string());
    }
    wanted
}
