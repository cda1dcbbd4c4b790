//! A string that cannot be printed by accident.

use std::fmt;

/// Key material or a token. `Debug` and `Display` print `***`; the value is reachable only
/// through [`Secret::expose`], which is called where a request is built.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value and registers it with the runner's mask list at once.
    pub fn masked(value: impl Into<String>) -> Self {
        let value = value.into();
        crate::runtime::Runtime::get().mask(&value);
        Secret(value)
    }

    /// Wraps a value that is already masked (or must not be, such as an empty string).
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value. Use it only to build a request or to store the secret.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
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
        let s = Secret::new("hunter2-secret");
        assert_eq!(format!("{s} {s:?}"), "*** Secret(***)");
    }
}
