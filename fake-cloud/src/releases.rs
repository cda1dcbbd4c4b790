//! Release downloads, the way github.com serves them: `GET /{owner}/{repo}/releases/download/
//! {tag}/{asset}` answers a redirect to the asset's object URL (`/_objects/releases/{tag}/
//! {asset}`), which serves the bytes. The assets are files under the release folder given at
//! start (`DIR/{tag}/{asset}`), so a test or a script can publish a build by copying it there.

use crate::state::State;
use crate::util::{Req, Resp};

/// Whether the path is a release download or an asset object.
pub(crate) fn is_release_path(segs: &[&str]) -> bool {
    matches!(
        segs,
        [_, _, "releases", "download", _, _] | ["_objects", "releases", _, _]
    )
}

/// Serves a release download; `None` for other paths.
pub(crate) fn handle(st: &State, req: &Req) -> Option<Resp> {
    let segs: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    if req.method != "GET" {
        return None;
    }
    let (tag, asset, redirect) = match segs.as_slice() {
        [_, _, "releases", "download", tag, asset] => (*tag, *asset, true),
        ["_objects", "releases", tag, asset] => (*tag, *asset, false),
        _ => return None,
    };
    let not_found = || Resp {
        status: 404,
        headers: vec![("content-type".into(), "text/plain".into())],
        body: b"Not Found".to_vec(),
    };
    // A name with a separator or `..` would leave the release folder.
    if [tag, asset]
        .iter()
        .any(|s| s.is_empty() || *s == "." || *s == ".." || s.contains('\\'))
    {
        return Some(not_found());
    }
    let Some(dir) = &st.release_dir else {
        return Some(not_found());
    };
    let file = dir.join(tag).join(asset);
    if !file.is_file() {
        return Some(not_found());
    }
    if redirect {
        let location = format!("{}/_objects/releases/{tag}/{asset}", st.url);
        return Some(Resp::empty(302).with_header("location", location));
    }
    match std::fs::read(&file) {
        Ok(body) => Some(Resp {
            status: 200,
            headers: vec![
                ("content-type".into(), "application/octet-stream".into()),
                (
                    "content-disposition".into(),
                    format!("attachment; filename={asset}"),
                ),
            ],
            body,
        }),
        Err(_) => Some(not_found()),
    }
}
