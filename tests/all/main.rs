//! End-to-end tests: the real binary against the fake cloud, as a runner runs the step.
#![allow(clippy::unwrap_used, missing_docs)]

mod action_yml;
mod bad_inputs;
mod bring_your_own;
mod build_image;
mod campaign;
mod concurrency;
mod consumers;
#[cfg(feature = "docker-tests")]
mod container;
mod deploy;
mod doctor;
mod fuzz_regressions;
mod helpers;
mod native;
mod private_network;
mod rbac;
mod rotate_key;
mod runner_plane;
mod seed_stack;
mod set_variables;
mod workflows;
