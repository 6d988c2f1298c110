//! The page's static files, embedded in the binary at build time (no build step, nothing
//! downloaded): served with their content type, `Cache-Control: no-cache` and an `ETag`, so a
//! browser revalidates cheaply and never runs a stale script after an upgrade.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

macro_rules! embed {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/static/", $path)) as &[u8])),*]
    };
}

/// Every file under `static/` (a test checks that none is missing).
pub static FILES: &[(&str, &[u8])] = embed![
    "index.html",
    "favicon.svg",
    "css/app.css",
    "js/app.js",
    "js/api.js",
    "js/dom.js",
    "js/format.js",
    "js/i18n.js",
    "js/messages.js",
    "js/messages-sso.js",
    "js/sso.js",
    "js/views/signin.js",
    "js/views/connections.js",
    "js/views/settings.js",
    "js/views/status.js",
    "js/views/conflicts.js",
    "js/views/security.js",
    "js/views/identities.js",
    "js/views/sign-in-policy.js",
    "js/views/admin.js",
    "js/views/reset.js",
];

struct Asset {
    body: &'static [u8],
    content_type: &'static str,
    etag: String,
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

fn assets() -> &'static HashMap<&'static str, Asset> {
    static ASSETS: OnceLock<HashMap<&'static str, Asset>> = OnceLock::new();
    ASSETS.get_or_init(|| {
        FILES
            .iter()
            .map(|(path, body)| {
                let digest = Sha256::digest(body);
                let asset = Asset {
                    body,
                    content_type: content_type(path),
                    etag: format!("\"{}\"", hex::encode(&digest[..12])),
                };
                (*path, asset)
            })
            .collect()
    })
}

/// Serves `/` (the page) and the files it loads; anything else is 404.
pub async fn serve(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let path = match uri.path().trim_start_matches('/') {
        "" => "index.html",
        other => other,
    };
    let Some(asset) = assets().get(path) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let etag = HeaderValue::from_str(&asset.etag).unwrap_or(HeaderValue::from_static("\"\""));
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == asset.etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            )],
            asset.body,
        )
            .into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, etag);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Headers on every answer: a strict content security policy (only this origin's scripts and
/// styles, no framing), no MIME sniffing, and no `Referer` (an OAuth callback URL carries a code).
pub async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; \
             object-src 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// `Strict-Transport-Security` when the page is served over HTTPS (one year, subdomains too).
pub async fn strict_transport_security(mut response: Response, https: bool) -> Response {
    if https {
        response.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(dir: &std::path::Path, base: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, base, out);
            } else {
                let relative = path.strip_prefix(base).unwrap();
                out.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }

    #[test]
    fn every_static_file_is_embedded() {
        let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("static");
        let mut on_disk = Vec::new();
        walk(&base, &base, &mut on_disk);
        on_disk.sort();
        let mut embedded: Vec<String> = FILES.iter().map(|(p, _)| (*p).to_owned()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded, "list every file of static/ in FILES");
    }

    /// The keys of one language's messages in `messages.js` (`const <lang> = { 'key': ..., }`).
    fn message_keys(lang: &str) -> std::collections::BTreeSet<String> {
        let (_, body) = FILES
            .iter()
            .find(|(path, _)| *path == "js/messages.js")
            .expect("messages.js is embedded");
        let text = std::str::from_utf8(body).expect("UTF-8");
        let start = text
            .find(&format!("const {lang} = {{"))
            .expect("the language's messages");
        let end = start + text[start..].find("\n};").expect("their end");
        text[start..end]
            .lines()
            .filter_map(|line| line.trim().strip_prefix('\''))
            .filter_map(|line| line.split_once("':").map(|(key, _)| key.to_owned()))
            .collect()
    }

    #[test]
    fn every_message_is_in_both_languages() {
        let en = message_keys("en");
        let ja = message_keys("ja");
        assert!(en.len() > 300, "the messages are found: {}", en.len());
        let only_en: Vec<_> = en.difference(&ja).collect();
        let only_ja: Vec<_> = ja.difference(&en).collect();
        assert!(only_en.is_empty(), "without Japanese: {only_en:?}");
        assert!(only_ja.is_empty(), "without English: {only_ja:?}");
        // Every error and problem the page words has its text and, for problems, what to do.
        for key in en
            .iter()
            .filter(|k| k.starts_with("problem.") && !k.ends_with(".todo"))
        {
            assert!(en.contains(&format!("{key}.todo")), "{key} says what to do");
        }
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type("js/app.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
    }
}
