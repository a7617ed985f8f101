//! Authentication and authorization callbacks, asked on every CONNECT,
//! PUBLISH and SUBSCRIBE. The default allows everything; the accounts
//! module plugs in real rules.

use std::net::SocketAddr;

/// Who a connected client is.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    /// Its client id.
    pub client_id: String,
    /// The authenticated user, if it logged in.
    pub user: Option<String>,
    /// Its address (none for in-process peers).
    pub peer: Option<SocketAddr>,
}

/// The outcome of authenticating a CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    /// Let it in, as this user (or anonymous).
    Allow {
        /// The user it authenticated as.
        user: Option<String>,
    },
    /// Wrong user name or password.
    BadCredentials,
    /// Known, but not allowed to connect.
    NotAuthorized,
}

/// The rules of who may connect, publish and subscribe.
pub trait Hooks: Send + Sync + 'static {
    /// Decides a CONNECT.
    fn authenticate(
        &self,
        client_id: &str,
        username: Option<&str>,
        password: Option<&[u8]>,
        peer: Option<SocketAddr>,
    ) -> AuthOutcome;

    /// May `client` publish to `topic`?
    fn may_publish(&self, client: &ClientInfo, topic: &str) -> bool;

    /// May `client` subscribe to `filter`?
    fn may_subscribe(&self, client: &ClientInfo, filter: &str) -> bool;
}

/// Lets everyone in and allows everything (the hub without accounts).
#[derive(Debug, Default, Clone, Copy)]
pub struct AllowAll;

impl Hooks for AllowAll {
    /// Everyone is anonymous: a user name is not proof of anything
    /// without accounts, so none is taken as the sender's identity.
    fn authenticate(
        &self,
        _: &str,
        _: Option<&str>,
        _: Option<&[u8]>,
        _: Option<SocketAddr>,
    ) -> AuthOutcome {
        AuthOutcome::Allow { user: None }
    }

    fn may_publish(&self, _: &ClientInfo, _: &str) -> bool {
        true
    }

    fn may_subscribe(&self, _: &ClientInfo, _: &str) -> bool {
        true
    }
}
