//! One module per command: each knows its workflow and calls the service modules; none builds an
//! HTTP request itself.

pub mod build_image;
pub mod deploy;
pub mod rotate_key;
pub mod set_variables;

use std::collections::BTreeMap;

use crate::cli::{Command, Inputs};

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
