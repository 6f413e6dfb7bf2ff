//! CSS and scripts, embedded in the binary. Pages link them as `/static/{path}?v={hash}`
//! ([`url()`]): a versioned address never changes content, so browsers keep it for a year;
//! text assets go out gzip-compressed to clients that accept it (compressed once, then kept).
//! Only these public files are compressed, never a page: a page mixes secrets (the CSRF
//! token) with what a visitor typed, which compression would leak (BREACH).

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::{LazyLock, Mutex};

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "static/"]
struct Assets;

/// The first 12 bytes of the file's SHA-256, in hex: its version.
fn version_of(file: &rust_embed::EmbeddedFile) -> String {
    hex::encode(&file.metadata.sha256_hash()[..12])
}

/// The address of an embedded file, with its version (for templates).
pub fn url(path: &str) -> String {
    match Assets::get(path) {
        Some(file) => format!("/static/{path}?v={}", version_of(&file)),
        None => format!("/static/{path}"),
    }
}

#[derive(serde::Deserialize)]
pub struct Version {
    v: Option<String>,
}

/// Compressed once per file; `Bytes` clones share the buffer, so serving copies nothing.
static GZIPPED: LazyLock<Mutex<HashMap<String, Bytes>>> = LazyLock::new(Default::default);

fn gzipped(path: &str, data: &[u8]) -> Option<Bytes> {
    if let Some(done) = GZIPPED.lock().ok()?.get(path) {
        return Some(done.clone());
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).ok()?;
    let compressed = Bytes::from(encoder.finish().ok()?);
    GZIPPED
        .lock()
        .ok()?
        .insert(path.to_string(), compressed.clone());
    Some(compressed)
}

fn accepts_gzip(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(header::ACCEPT_ENCODING)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| p.trim().replace(' ', "") == "q=0");
            name.eq_ignore_ascii_case("gzip") && !refused
        })
}

pub async fn serve(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<Version>,
) -> HttpResponse {
    let Some(file) = Assets::get(&path) else {
        return crate::web::not_found().await;
    };
    let version = version_of(&file);
    let etag = format!("\"{version}\"");
    if req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag)
    {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish();
    }
    // the versioned address of today's file is forever; any other address may change
    let cache = if query.v.as_deref() == Some(version.as_str()) {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=3600"
    };
    let mime = mime_guess::from_path(path.as_str()).first_or_octet_stream();
    let mut answer = HttpResponse::Ok();
    answer
        .content_type(mime.as_ref())
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::VARY, "Accept-Encoding"));
    let text = matches!(mime.type_(), mime_guess::mime::TEXT)
        || path.ends_with(".js")
        || path.ends_with(".svg");
    if text
        && accepts_gzip(&req)
        && let Some(compressed) = gzipped(&path, &file.data)
    {
        return answer
            .insert_header((header::CONTENT_ENCODING, "gzip"))
            .body(compressed);
    }
    answer.body(file.data.into_owned())
}
