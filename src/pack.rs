//! The build context as `az acr build` uploads it: a deterministic tar.gz of the context folder
//! without what `.dockerignore` excludes (Docker's rules: `#` comments, `!` exceptions, `*`, `?`,
//! `**`, the last matching line wins, and a pattern that matches a folder excludes what is in it).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// One `.dockerignore` line.
#[derive(Debug, Clone)]
struct Rule {
    segments: Vec<String>,
    exclude: bool,
}

/// The rules of a `.dockerignore` file.
#[derive(Debug, Clone, Default)]
pub struct DockerIgnore {
    rules: Vec<Rule>,
}

impl DockerIgnore {
    /// Parses the text of a `.dockerignore` file.
    pub fn parse(text: &str) -> DockerIgnore {
        let mut rules = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exclude, pattern) = match line.strip_prefix('!') {
                Some(p) => (false, p.trim()),
                None => (true, line),
            };
            let segments: Vec<String> = pattern
                .trim_start_matches('/')
                .split('/')
                .filter(|s| !s.is_empty() && *s != ".")
                .map(str::to_string)
                .collect();
            if !segments.is_empty() {
                rules.push(Rule { segments, exclude });
            }
        }
        DockerIgnore { rules }
    }

    /// Whether the context-relative path (with `/` separators) is excluded.
    pub fn excludes(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let mut excluded = false;
        for rule in &self.rules {
            // A rule matches the path itself or any folder above it.
            let hit = (1..=parts.len()).any(|n| match_segments(&rule.segments, &parts[..n]));
            if hit {
                excluded = rule.exclude;
            }
        }
        excluded
    }
}

fn match_segments(pattern: &[String], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((first, rest)) if first == "**" => {
            (0..=path.len()).any(|skip| match_segments(rest, &path[skip..]))
        }
        Some((first, rest)) => match path.split_first() {
            Some((p, path_rest)) => {
                glob(first.as_bytes(), p.as_bytes()) && match_segments(rest, path_rest)
            }
            None => false,
        },
    }
}

/// Go's `filepath.Match` within one path segment: `*`, `?`, `[...]`, `\` escapes.
fn glob(p: &[u8], s: &[u8]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|i| glob(rest, &s[i..])),
        Some((b'?', rest)) => !s.is_empty() && glob(rest, &s[1..]),
        Some((b'[', rest)) => {
            let Some(close) = rest.iter().position(|&c| c == b']') else {
                return false;
            };
            let Some((&c, s_rest)) = s.split_first() else {
                return false;
            };
            let (negate, class) = match rest[..close].split_first() {
                Some((b'^' | b'!', cls)) => (true, cls),
                _ => (false, &rest[..close]),
            };
            let mut found = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == b'-' {
                    found |= class[i] <= c && c <= class[i + 2];
                    i += 3;
                } else {
                    found |= class[i] == c;
                    i += 1;
                }
            }
            found != negate && glob(&rest[close + 1..], s_rest)
        }
        Some((b'\\', rest)) if !rest.is_empty() => {
            !s.is_empty() && s[0] == rest[0] && glob(&rest[1..], &s[1..])
        }
        Some((&c, rest)) => !s.is_empty() && s[0] == c && glob(rest, &s[1..]),
    }
}

/// What was packed.
#[derive(Debug)]
pub struct Packed {
    /// The tar.gz bytes.
    pub archive: Vec<u8>,
    /// Files (and symlinks) in the archive.
    pub files: usize,
    /// Paths `.dockerignore` excluded.
    pub excluded: usize,
}

/// Packs `context` into a deterministic tar.gz (sorted entries, zero times and owners), leaving out
/// what its `.dockerignore` excludes; the Dockerfile and `.dockerignore` always go in. Symlinks are
/// stored as links.
pub fn pack(context: &Path, dockerfile: &str) -> Result<Packed> {
    let meta = std::fs::metadata(context).map_err(|e| {
        Error::input(
            "context",
            format!(
                "`{}` cannot be read ({e}); give the build context folder",
                context.display()
            ),
        )
    })?;
    if !meta.is_dir() {
        return Err(Error::input(
            "context",
            format!("`{}` is not a folder", context.display()),
        ));
    }
    let ignore = match std::fs::read_to_string(context.join(".dockerignore")) {
        Ok(text) => DockerIgnore::parse(&text),
        Err(_) => DockerIgnore::default(),
    };
    let dockerfile_rel = dockerfile.trim_start_matches("./").to_string();
    if !context.join(&dockerfile_rel).is_file() {
        return Err(Error::input(
            "dockerfile",
            format!(
                "`{dockerfile_rel}` is not a file in the build context `{}`",
                context.display()
            ),
        ));
    }
    let mut entries: Vec<(String, PathBuf)> = Vec::new();
    let mut excluded = 0;
    walk(
        context,
        "",
        &ignore,
        &dockerfile_rel,
        &mut entries,
        &mut excluded,
    )?;
    entries.sort();

    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.follow_symlinks(false);
    let mut files = 0;
    for (rel, full) in &entries {
        let meta = std::fs::symlink_metadata(full).map_err(|e| io_error(full, e))?;
        let mut header = tar::Header::new_gnu();
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(full).map_err(|e| io_error(full, e))?;
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            header.set_mode(0o777);
            tar.append_link(&mut header, rel, &target)
                .map_err(|e| io_error(full, e))?;
            files += 1;
        } else if meta.is_dir() {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_size(0);
            header.set_mode(0o755);
            tar.append_data(&mut header, format!("{rel}/"), std::io::empty())
                .map_err(|e| io_error(full, e))?;
        } else {
            let data = std::fs::read(full).map_err(|e| io_error(full, e))?;
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(data.len() as u64);
            header.set_mode(if is_executable(&meta) { 0o755 } else { 0o644 });
            tar.append_data(&mut header, rel, data.as_slice())
                .map_err(|e| io_error(full, e))?;
            files += 1;
        }
    }
    let gz = tar.into_inner().map_err(|e| io_error(context, e))?;
    let archive = gz.finish().map_err(|e| io_error(context, e))?;
    Ok(Packed {
        archive,
        files,
        excluded,
    })
}

fn walk(
    root: &Path,
    rel: &str,
    ignore: &DockerIgnore,
    dockerfile: &str,
    out: &mut Vec<(String, PathBuf)>,
    excluded: &mut usize,
) -> Result<()> {
    let dir = if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    };
    let read = std::fs::read_dir(&dir).map_err(|e| io_error(&dir, e))?;
    for entry in read {
        let entry = entry.map_err(|e| io_error(&dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let child = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let always = child == dockerfile || child == ".dockerignore";
        let file_type = entry.file_type().map_err(|e| io_error(&entry.path(), e))?;
        if !always && ignore.excludes(&child) {
            // An exception below an excluded folder still needs the walk.
            if file_type.is_dir() && ignore.rules.iter().any(|r| !r.exclude) {
                let before = out.len();
                walk(root, &child, ignore, dockerfile, out, excluded)?;
                if out.len() > before {
                    out.push((child, entry.path()));
                }
            } else {
                *excluded += 1;
            }
            continue;
        }
        out.push((child.clone(), entry.path()));
        if file_type.is_dir() {
            walk(root, &child, ignore, dockerfile, out, excluded)?;
        }
    }
    Ok(())
}

#[cfg(unix)]
fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_meta: &std::fs::Metadata) -> bool {
    false
}

fn io_error(path: &Path, e: std::io::Error) -> Error {
    Error::input("context", format!("cannot pack `{}` ({e})", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerignore_follows_dockers_rules() {
        let ig = DockerIgnore::parse(
            "# c\n*.log\nbuild\n!build/keep.txt\n**/secret*\ndocs/*.md\n/tmp?\n",
        );
        assert!(ig.excludes("a.log"));
        assert!(!ig.excludes("sub/a.log"), "* does not cross folders");
        assert!(
            ig.excludes("build/out.bin"),
            "a folder excludes its content"
        );
        assert!(
            !ig.excludes("build/keep.txt"),
            "the last matching rule wins"
        );
        assert!(ig.excludes("x/y/secret.key"));
        assert!(ig.excludes("docs/a.md"));
        assert!(!ig.excludes("docs/a.txt"));
        assert!(ig.excludes("tmp1"));
        assert!(!ig.excludes("src/main.rs"));
    }

    /// Names and kinds in a packed archive.
    pub(crate) fn listing(archive: &[u8]) -> Vec<String> {
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
        let mut out: Vec<String> = tar
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let path = e.path().unwrap().display().to_string();
                match e.header().entry_type() {
                    tar::EntryType::Symlink => {
                        format!("{path} -> {}", e.link_name().unwrap().unwrap().display())
                    }
                    _ => path,
                }
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn packs_the_context_minus_dockerignore_deterministically() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("Dockerfile"), "FROM scratch\n").unwrap();
        std::fs::write(root.join(".dockerignore"), "*.log\nsecrets\n").unwrap();
        std::fs::write(root.join("with space.txt"), "x").unwrap();
        std::fs::write(root.join("build.log"), "x").unwrap();
        std::fs::create_dir_all(root.join("secrets")).unwrap();
        std::fs::write(root.join("secrets/key.pem"), "x").unwrap();
        std::fs::create_dir_all(root.join("app")).unwrap();
        std::fs::write(root.join("app/run.sh"), "x").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("run.sh", root.join("app/start")).unwrap();
        let a = pack(root, "Dockerfile").unwrap();
        let b = pack(root, "Dockerfile").unwrap();
        assert_eq!(a.archive, b.archive, "packing is deterministic");
        assert_eq!(
            listing(&a.archive),
            vec![
                ".dockerignore",
                "Dockerfile",
                "app/",
                "app/run.sh",
                "app/start -> run.sh",
                "with space.txt"
            ]
        );
        assert_eq!(a.excluded, 2);
        assert!(pack(root, "Missing.Dockerfile").is_err());
    }

    #[test]
    fn globs_match_like_go() {
        assert!(glob(b"a[0-9]c", b"a5c"));
        assert!(!glob(b"a[^0-9]c", b"a5c"));
        assert!(glob(b"*.rs", b"main.rs"));
        assert!(glob(b"a\\*", b"a*"));
    }
}
