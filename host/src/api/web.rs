//! The dashboard: static files from `web/`, embedded in the binary (no build step, no CDN),
//! served at `/` with a content security policy that allows only this origin.

use axum::extract::Path;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS,
};
use axum::response::{IntoResponse, Response};

use super::ApiError;

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every file of the dashboard: name, content type, contents.
const ASSETS: &[(&str, &str, &str)] = &[
    ("index.html", HTML, include_str!("../../../web/index.html")),
    ("style.css", CSS, include_str!("../../../web/style.css")),
    ("app.js", JS, include_str!("../../../web/app.js")),
    ("api.js", JS, include_str!("../../../web/api.js")),
    ("live.js", JS, include_str!("../../../web/live.js")),
    ("pool.js", JS, include_str!("../../../web/pool.js")),
    ("hosts.js", JS, include_str!("../../../web/hosts.js")),
    ("jobs.js", JS, include_str!("../../../web/jobs.js")),
    ("submit.js", JS, include_str!("../../../web/submit.js")),
    ("format.js", JS, include_str!("../../../web/format.js")),
    ("router.js", JS, include_str!("../../../web/router.js")),
    ("features.js", JS, include_str!("../../../web/features.js")),
    ("filters.js", JS, include_str!("../../../web/filters.js")),
    ("modules.js", JS, include_str!("../../../web/modules.js")),
    ("chart.js", JS, include_str!("../../../web/chart.js")),
    ("history.js", JS, include_str!("../../../web/history.js")),
    ("rows.js", JS, include_str!("../../../web/rows.js")),
    ("lanes.js", JS, include_str!("../../../web/lanes.js")),
    ("hostlist.js", JS, include_str!("../../../web/hostlist.js")),
    ("queuelist.js", JS, include_str!("../../../web/queuelist.js")),
    ("limitlist.js", JS, include_str!("../../../web/limitlist.js")),
    ("schedules.js", JS, include_str!("../../../web/schedules.js")),
    ("workflows.js", JS, include_str!("../../../web/workflows.js")),
];

const POLICY: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; object-src 'none'; \
                      frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn serve(name: &str) -> Result<Response, ApiError> {
    let (_, content_type, body) = ASSETS
        .iter()
        .find(|(asset, _, _)| *asset == name)
        .ok_or_else(|| ApiError::not_found("no such route"))?;
    Ok((
        [
            (CONTENT_TYPE, *content_type),
            (CONTENT_SECURITY_POLICY, POLICY),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (CACHE_CONTROL, "no-cache"),
        ],
        *body,
    )
        .into_response())
}

/// The dashboard page.
pub async fn index() -> Result<Response, ApiError> {
    serve("index.html")
}

/// One of the dashboard's files.
pub async fn asset(Path(name): Path<String>) -> Result<Response, ApiError> {
    serve(&name)
}
