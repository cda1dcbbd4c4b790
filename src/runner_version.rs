//! `actions/runner` versions: the one the runner image is built with by default, the oldest
//! GitHub still registers, and parsing `runner-version`.

use std::fmt;

/// The `RUNNER_VERSION` default of `runner/Dockerfile` (a test keeps the two equal). The
/// scheduled workflow builds with `runner-version: latest`, so this only matters for a first
/// build by hand.
pub const DEFAULT: &str = "2.336.0";

/// GitHub refuses to register runners older than this (enforced since 2026-09-25).
pub const MINIMUM: RunnerVersion = RunnerVersion(2, 329, 0);

/// A runner version, `major.minor.patch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RunnerVersion(pub u32, pub u32, pub u32);

impl RunnerVersion {
    /// Parses `2.336.0` (a leading `v` is accepted).
    pub fn parse(text: &str) -> Option<RunnerVersion> {
        let mut parts = text.trim().trim_start_matches('v').split('.');
        let mut next = || parts.next()?.parse::<u32>().ok();
        let version = RunnerVersion(next()?, next()?, next()?);
        parts.next().is_none().then_some(version)
    }
}

impl fmt::Display for RunnerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_order() {
        assert_eq!(
            RunnerVersion::parse("v2.336.0"),
            Some(RunnerVersion(2, 336, 0))
        );
        assert_eq!(
            RunnerVersion::parse("2.321.0"),
            Some(RunnerVersion(2, 321, 0))
        );
        assert!(RunnerVersion::parse("2.321").is_none());
        assert!(RunnerVersion::parse("2.321.0.1").is_none());
        assert!(RunnerVersion::parse("latest").is_none());
        assert!(RunnerVersion::parse("2.321.0").unwrap() < MINIMUM);
        assert!(RunnerVersion::parse(DEFAULT).unwrap() >= MINIMUM);
    }
}
