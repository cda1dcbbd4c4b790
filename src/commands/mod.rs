//! One module per command: each knows its workflow and calls the service modules; none builds an
//! HTTP request itself.

pub mod deploy;
pub mod rotate_key;
pub mod set_variables;
