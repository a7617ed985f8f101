//! Who is calling: the one place every HTTP way in (REST, SSE, the
//! WebSocket upgrade, login, admin) learns the caller's identity.
//!
//! A client proves who it is with a session token from `POST /api/login`,
//! sent as `Authorization: Bearer <token>`, as the `token` query parameter
//! (for clients that cannot set headers: a WebSocket or `EventSource` in a
//! script), or as the `hubbub_session` cookie the login sets. A token that
//! is presented explicitly (header or query) and does not open a session is
//! refused with 401 `bad_token`, never taken as "no token": a client that
//! means to act as a user must not quietly act as a guest. A cookie that no
//! longer works (logged out, expired) is treated as absent instead, so a
//! browser holding a stale one still reaches the sign-in page; the browser
//! cannot read the HttpOnly cookie to drop it itself.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use hubbub_core::auth::Auth;
use hubbub_core::Identity;
use serde::Deserialize;

use super::{ApiError, AppState};

/// The peer's IP address, when the listener tells it (it does, through
/// `ConnectInfo`; a router served without it yields `None`).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip()),
        ))
    }
}

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "hubbub_session";

/// The name of a visitor that gave none.
pub const ANONYMOUS: &str = "anonymous";

/// Where a session token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// `Authorization: Bearer`.
    Bearer,
    /// The `token` query parameter.
    Query,
    /// The session cookie.
    Cookie,
}

/// The session token a request carries, if any, as presented (not yet
/// checked). A malformed `Authorization` header is refused here. (No
/// `Debug`: a token must not end up in a log.)
#[derive(Clone)]
pub struct Credentials {
    /// The token and where it came from.
    pub token: Option<(String, TokenSource)>,
}

#[derive(Deserialize)]
struct TokenParam {
    token: Option<String>,
}

impl Credentials {
    /// Reads the token from the header, the query or the cookie, in that
    /// order: an explicit token wins over the browser's cookie.
    fn read(parts: &Parts) -> Result<Self, ApiError> {
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.trim().split_once(' '))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, token)| token.trim())
                .filter(|t| !t.is_empty())
                .ok_or_else(|| bad_token("the Authorization header must be `Bearer <token>`"))?;
            return Ok(Self {
                token: Some((token.to_owned(), TokenSource::Bearer)),
            });
        }
        let query = Query::<TokenParam>::try_from_uri(&parts.uri)
            .ok()
            .and_then(|Query(p)| p.token);
        if let Some(token) = query {
            return Ok(Self {
                token: Some((token, TokenSource::Query)),
            });
        }
        Ok(Self {
            token: session_cookie(&parts.headers).map(|t| (t.to_owned(), TokenSource::Cookie)),
        })
    }
}

impl FromRequestParts<AppState> for Credentials {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        Self::read(parts)
    }
}

/// The value of the session cookie, if the request has one.
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim_matches('"'))
        .filter(|value| !value.is_empty())
}

fn bad_token(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "bad_token", message)
}

/// The caller of a request: a logged-in user, or a visitor where visitors
/// may take part. Extracting it refuses (401) a bad token, and a visitor
/// where only users may take part (`login_required`).
#[derive(Clone)]
pub struct Caller {
    user: Option<Identity>,
    source: Option<TokenSource>,
    auth: Arc<Auth>,
    peer: Option<IpAddr>,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Ok(Peer(peer)) = Peer::from_request_parts(parts, state).await;
        let (user, source) = match Credentials::read(parts)?.token {
            None => (None, None),
            Some((token, source)) => match (state.auth.resolve(&token), source) {
                (Some(user), _) => (Some(user), Some(source)),
                // A stale cookie is no cookie (see the module's comment).
                (None, TokenSource::Cookie) => (None, None),
                (None, _) => {
                    return Err(bad_token(
                        "this token opens no session (wrong, logged out, revoked or expired); \
                         log in again",
                    ))
                }
            },
        };
        if user.is_none() && !state.auth.anonymous_allowed() {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "login_required",
                "this hub is for its users only: log in (POST /api/login) and send the token",
            ));
        }
        Ok(Self {
            user,
            source,
            auth: state.auth.clone(),
            peer,
        })
    }
}

impl Caller {
    /// The logged-in user, if any.
    pub fn user(&self) -> Option<&Identity> {
        self.user.as_ref()
    }

    /// Who the caller acts as when it calls itself `nick`: a user is
    /// always its user name; a visitor is `nick` (as a guest, `guest:nick`).
    pub fn acting_as(&self, nick: &str) -> Identity {
        match &self.user {
            Some(user) => user.clone(),
            // Extraction refused visitors where the hub takes none, so
            // `visitor` answers; a guest stands in if it ever does not.
            None => self
                .auth
                .visitor(nick)
                .unwrap_or_else(|| Identity::guest(nick)),
        }
    }

    /// Who a visitor that gave no name acts as (for reading, where the
    /// name matters only for the rules).
    pub fn reader(&self) -> Identity {
        self.acting_as(ANONYMOUS)
    }

    /// The peer's address, when the listener tells it.
    pub fn peer(&self) -> Option<IpAddr> {
        self.peer
    }

    /// Refuses a request that a browser made from another site with the
    /// session cookie: the cookie goes along by itself, so a page on any
    /// site could otherwise act as the user (cross-site WebSocket
    /// hijacking). Clients that are not browsers send no `Origin`.
    pub fn check_origin(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        if self.source != Some(TokenSource::Cookie) {
            return Ok(());
        }
        let Some(origin) = headers.get(header::ORIGIN) else {
            return Ok(());
        };
        let origin_host = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .map(|(_, host)| host.trim_end_matches('/'));
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        match (origin_host, host) {
            (Some(o), Some(h)) if o.eq_ignore_ascii_case(h) => Ok(()),
            _ => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "bad_origin",
                "a page from another site may not use this hub's session cookie",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(request: Request<()>) -> Parts {
        request.into_parts().0
    }

    #[test]
    fn tokens_come_from_the_header_the_query_or_the_cookie() {
        let header = parts(
            Request::get("/ws?token=q")
                .header("authorization", "bearer  abc ")
                .header("cookie", "hubbub_session=c")
                .body(())
                .unwrap(),
        );
        let c = Credentials::read(&header).unwrap();
        assert_eq!(c.token, Some(("abc".into(), TokenSource::Bearer)));
        let query = parts(
            Request::get("/ws?since=1&token=q")
                .header("cookie", "hubbub_session=c")
                .body(())
                .unwrap(),
        );
        let c = Credentials::read(&query).unwrap();
        assert_eq!(c.token, Some(("q".into(), TokenSource::Query)));
        let cookie = parts(
            Request::get("/")
                .header("cookie", "theme=dark; hubbub_session=c; x=y")
                .body(())
                .unwrap(),
        );
        let c = Credentials::read(&cookie).unwrap();
        assert_eq!(c.token, Some(("c".into(), TokenSource::Cookie)));
        let none = parts(Request::get("/").body(()).unwrap());
        assert_eq!(Credentials::read(&none).unwrap().token, None);
        let basic = parts(
            Request::get("/")
                .header("authorization", "Basic eDp5")
                .body(())
                .unwrap(),
        );
        let refused = Credentials::read(&basic).map(|_| ()).unwrap_err();
        assert_eq!(refused.code(), "bad_token");
    }

    #[test]
    fn cookie_callers_must_come_from_the_same_site() {
        let caller = |source| Caller {
            user: None,
            source,
            auth: Arc::new(Auth::open()),
            peer: None,
        };
        let headers = |origin: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::HOST, "hub.lan:8080".parse().unwrap());
            h.insert(header::ORIGIN, origin.parse().unwrap());
            h
        };
        let cookie = caller(Some(TokenSource::Cookie));
        assert!(cookie.check_origin(&headers("http://hub.lan:8080")).is_ok());
        assert!(cookie
            .check_origin(&headers("https://HUB.lan:8080"))
            .is_ok());
        let refused = cookie
            .check_origin(&headers("https://evil.example"))
            .unwrap_err();
        assert_eq!(refused.code(), "bad_origin");
        assert!(cookie.check_origin(&headers("null")).is_err());
        assert!(cookie.check_origin(&HeaderMap::new()).is_ok());
        // A bearer token is not sent by the browser on its own.
        let bearer = caller(Some(TokenSource::Bearer));
        assert!(bearer
            .check_origin(&headers("https://evil.example"))
            .is_ok());
    }
}
