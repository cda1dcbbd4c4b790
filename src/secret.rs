//! A string that cannot be printed, compared or copied by accident.
//!
//! [`Secret`] wraps [`secrecy::SecretString`]: the value is zeroed when dropped, `Debug` and
//! `Display` print `***`, and it is neither `Clone` nor comparable. Whoever must hand one out
//! from a cache shares it through an `Arc`. A secret is masked the moment it exists: its only
//! constructor takes the [`Runtime`] that registers it with the runner's mask list.

use std::fmt;

use secrecy::{ExposeSecret as _, SecretString};

use crate::runtime::Runtime;

/// Key material or a token. The value is reachable only through [`Secret::expose`], which is
/// called where a request is built or the secret is stored.
pub struct Secret(SecretString);

impl Secret {
    /// Wraps a value, registering it with `mask` (the runner's mask list and this process's
    /// redaction) first.
    pub fn masked(value: impl Into<String>, mask: &Runtime) -> Self {
        let value: String = value.into();
        mask.mask(&value);
        Secret(SecretString::from(value))
    }

    /// The secret value. Use it only to build a request or to store the secret.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_value() {
        let s = Secret::masked("hunter2-secret", &Runtime::default());
        assert_eq!(format!("{s} {s:?}"), "*** Secret(***)");
    }

    #[test]
    fn is_masked_the_moment_it_exists() {
        let rt = Runtime::default();
        let s = Secret::masked("hunter2-secret", &rt);
        assert_eq!(rt.redact("x hunter2-secret y"), "x *** y");
        assert_eq!(s.expose(), "hunter2-secret");
    }
}
