//! One module per command. Each `run` orchestrates: it takes its checked request (from
//! [`crate::plan`]), calls the client modules, writes its outputs and summary, and returns a
//! typed outcome that later commands of the step take. None builds a URL, a request body or a
//! polling loop.

pub mod build_image;
pub mod deploy;
pub mod doctor;
pub mod prerequisites;
pub mod rotate_key;
pub mod runner_jobs;
pub mod set_variables;
pub mod settle;

use std::collections::BTreeMap;

use crate::github::GitHubConfig;

/// What the commands of the step produced so far, for the ones after them.
#[derive(Debug, Default)]
pub struct Earlier {
    /// `rotate-key`'s outcome.
    pub rotate: Option<rotate_key::Outcome>,
    /// `build-image`'s outcome.
    pub build: Option<build_image::Outcome>,
    /// `deploy`'s outcome.
    pub deploy: Option<deploy::Outcome>,
}

impl Earlier {
    /// The step outputs set so far, by name: what `{ output: NAME }` takes.
    pub fn outputs(&self) -> BTreeMap<String, String> {
        let rotate = self.rotate.iter().flat_map(|o| &o.outputs);
        let build = self.build.iter().flat_map(|o| &o.outputs);
        let deploy = self.deploy.iter().flat_map(|o| &o.outputs);
        rotate.chain(build).chain(deploy).cloned().collect()
    }
}

/// What every command may know of the step beyond its own request.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The GitHub side: App, key, installation, owner, repository.
    pub github: &'a GitHubConfig,
    /// The permissions of the step's installation token.
    pub token_permissions: &'a BTreeMap<String, String>,
    /// The earlier commands' outcomes.
    pub earlier: &'a Earlier,
}
