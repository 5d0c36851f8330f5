//! Building API URLs the way Go's `apiGet` does: `url.Path = path.Join(url.Path, parts...)`,
//! then `url.String()`, which escapes the path.

/// The full URL and its escaped path, for `api_url` plus `parts`.
pub(crate) fn api_url(api_url: &str, parts: &[&str]) -> (String, String) {
    // Split off "?query" and "#fragment": Go keeps them apart from the path.
    let end = api_url.find(['?', '#']).unwrap_or(api_url.len());
    let (base, suffix) = api_url.split_at(end);
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let (origin, base_path) = base.split_at(path_start);

    let mut joined = String::from(base_path);
    for part in parts {
        joined.push('/');
        joined.push_str(part);
    }
    let path = escape_path(&clean(&joined));
    (format!("{origin}{path}{suffix}"), path)
}

/// Go's `path.Clean` for an absolute path: no empty or `.` segments, `..` pops.
fn clean(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    format!("/{}", segments.join("/"))
}

/// Go's `url.PathEscape` in `encodePath` mode: unreserved characters, `/` and `$&+,:;=@` stay.
fn escape_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~/$&+,:;=@".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::api_url;

    #[test]
    fn joins_under_the_api_path() {
        let (url, path) = api_url("http://orc:3000/api", &["discover", "db-1", "3306"]);
        assert_eq!(url, "http://orc:3000/api/discover/db-1/3306");
        assert_eq!(path, "/api/discover/db-1/3306");
    }

    #[test]
    fn trailing_slash_and_bare_origin() {
        let (url, path) = api_url("http://orc:3000/api/", &["discover", "h", "1"]);
        assert_eq!(url, "http://orc:3000/api/discover/h/1");
        assert_eq!(path, "/api/discover/h/1");
        let (url, path) = api_url("http://orc:3000", &["end-maintenance", "h", "1"]);
        assert_eq!(url, "http://orc:3000/end-maintenance/h/1");
        assert_eq!(path, "/end-maintenance/h/1");
    }

    #[test]
    fn escapes_like_go_and_keeps_the_query() {
        let parts = ["begin-maintenance", "h", "1", "vitess", "told to StopSlave"];
        let (url, path) = api_url("http://orc/api?x=1", &parts);
        assert_eq!(
            path,
            "/api/begin-maintenance/h/1/vitess/told%20to%20StopSlave"
        );
        assert_eq!(url, format!("http://orc{path}?x=1"));
    }

    #[test]
    fn cleans_dot_segments() {
        let (_, path) = api_url("http://orc/a/./b/..", &["discover", "h", "1"]);
        assert_eq!(path, "/a/discover/h/1");
    }
}
