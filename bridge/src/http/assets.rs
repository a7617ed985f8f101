//! The web chat app (the files under `bridge/web/`), embedded in the binary
//! and served as they are: no build step, nothing loaded from elsewhere.
//!
//! Every file is answered with its content type, an `ETag` computed at
//! compile time and `Cache-Control: no-cache`, so a browser keeps its copy
//! but asks (and gets a bodiless 304) before using it: a new binary's app
//! is picked up on the next load. The page is locked down by a strict
//! Content-Security-Policy: scripts, styles and images from this hub only,
//! connections to this hub only (HTTP and WebSocket).

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::AppState;

/// The policy sent with every file of the app.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; connect-src 'self' ws: wss:; \
     object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// One embedded file.
struct Asset {
    /// The URL path it is served at.
    path: &'static str,
    /// Its `Content-Type`.
    content_type: &'static str,
    /// Its bytes.
    body: &'static [u8],
    /// Its `ETag` value, quotes included.
    etag: &'static str,
}

/// Declares the embedded files: `asset!("/url", "file under web/", TYPE)`.
macro_rules! asset {
    ($path:literal, $file:literal, $content_type:expr) => {{
        const BODY: &[u8] = include_bytes!(concat!("../../web/", $file));
        const TAG: [u8; 18] = etag(BODY);
        Asset {
            path: $path,
            content_type: $content_type,
            body: BODY,
            etag: match std::str::from_utf8(&TAG) {
                Ok(tag) => tag,
                Err(_) => panic!("an etag is ASCII"),
            },
        }
    }};
}

/// The app's files. Modules import each other by these paths.
const ASSETS: &[Asset] = &[
    asset!("/", "index.html", HTML),
    asset!("/app.css", "app.css", CSS),
    asset!("/favicon.svg", "favicon.svg", SVG),
    asset!("/app.js", "app.js", JS),
    asset!("/chat.js", "chat.js", JS),
    asset!("/connection.js", "connection.js", JS),
    asset!("/dom.js", "dom.js", JS),
    asset!("/identity.js", "identity.js", JS),
    asset!("/messages.js", "messages.js", JS),
    asset!("/room.js", "room.js", JS),
    asset!("/rooms-view.js", "rooms-view.js", JS),
    asset!("/rules.js", "rules.js", JS),
    asset!("/saved.js", "saved.js", JS),
    asset!("/screen.js", "screen.js", JS),
    asset!("/time.js", "time.js", JS),
    asset!("/viewport.js", "viewport.js", JS),
];

/// `"` + 16 hex digits of the FNV-1a hash of `body` + `"`.
const fn etag(body: &[u8]) -> [u8; 18] {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < body.len() {
        hash ^= body[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    let digits = b"0123456789abcdef";
    let mut tag = [b'"'; 18];
    let mut d = 0;
    while d < 16 {
        tag[1 + d] = digits[((hash >> (60 - 4 * d)) & 0xf) as usize];
        d += 1;
    }
    tag
}

/// A router serving every embedded file at its path (`GET` and `HEAD`).
pub fn routes() -> Router<AppState> {
    ASSETS.iter().fold(Router::new(), |router, asset| {
        router.route(
            asset.path,
            get(move |headers: HeaderMap| serve(asset, headers)),
        )
    })
}

async fn serve(asset: &'static Asset, request: HeaderMap) -> Response {
    let headers = [
        (header::CONTENT_TYPE, asset.content_type),
        (header::CACHE_CONTROL, "no-cache"),
        (header::ETAG, asset.etag),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ];
    if matches_etag(&request, asset.etag) {
        (StatusCode::NOT_MODIFIED, headers).into_response()
    } else {
        (headers, asset.body).into_response()
    }
}

/// Whether `If-None-Match` names `etag` (or is `*`).
fn matches_etag(request: &HeaderMap, etag: &str) -> bool {
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v: &HeaderValue| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == etag || t == "*")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_distinct_path_and_a_quoted_hex_etag() {
        for (i, a) in ASSETS.iter().enumerate() {
            assert!(a.path.starts_with('/'), "{}", a.path);
            assert!(!a.body.is_empty(), "{}", a.path);
            assert_eq!(a.etag.len(), 18);
            assert!(a.etag.starts_with('"') && a.etag.ends_with('"'));
            assert!(a.etag[1..17].bytes().all(|b| b.is_ascii_hexdigit()));
            assert!(ASSETS[i + 1..].iter().all(|b| b.path != a.path));
        }
    }

    #[test]
    fn every_file_of_the_app_is_embedded() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/web");
        for entry in std::fs::read_dir(dir).expect("bridge/web exists") {
            let name = entry.expect("readable").file_name();
            let name = name.to_str().expect("a UTF-8 name");
            let path = if name == "index.html" {
                "/".to_owned()
            } else {
                format!("/{name}")
            };
            assert!(
                ASSETS.iter().any(|a| a.path == path),
                "bridge/web/{name} is not in ASSETS"
            );
        }
    }

    #[test]
    fn every_module_the_app_imports_is_served() {
        for a in ASSETS.iter().filter(|a| a.content_type == JS) {
            let text = std::str::from_utf8(a.body).expect("a module is UTF-8");
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let spec = line
                    .rsplit_once("from \"./")
                    .and_then(|(_, rest)| rest.split_once('"'))
                    .map(|(file, _)| format!("/{file}"))
                    .unwrap_or_else(|| panic!("{}: unexpected import {line}", a.path));
                assert!(
                    ASSETS.iter().any(|b| b.path == spec),
                    "{} imports {spec}, which is not embedded",
                    a.path
                );
            }
        }
    }

    #[test]
    fn if_none_match_is_honoured() {
        let tag = ASSETS[0].etag;
        let mut h = HeaderMap::new();
        assert!(!matches_etag(&h, tag));
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_str(&format!("\"x\", W/{tag}")).unwrap(),
        );
        assert!(matches_etag(&h, tag));
        assert_eq!(&etag(b"a"), b"\"af63dc4c8601ec8c\"");
    }
}
