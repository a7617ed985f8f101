//! The chat page, embedded in the binary.

use axum::response::Html;

/// `GET /`
pub async fn index() -> Html<&'static str> {
    Html(include_str!("../../assets/index.html"))
}
