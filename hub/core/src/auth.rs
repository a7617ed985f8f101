//! How clients prove who they are, for every transport: a session token
//! (cookie or bearer), a user name and password (MQTT CONNECT, login), or
//! nothing at all, as a guest where guests are allowed.

use std::net::IpAddr;
use std::sync::Arc;

use crate::access::Identity;
use crate::accounts::{AccountError, Accounts};

/// The accounts (when they are on) and the rule for guests.
pub struct Auth {
    accounts: Option<Arc<Accounts>>,
    anonymous: bool,
}

impl Auth {
    /// With `accounts` (`None`: accounts are off) and whether clients that
    /// do not log in may take part.
    pub fn new(accounts: Option<Arc<Accounts>>, anonymous: bool) -> Self {
        Self {
            accounts,
            anonymous,
        }
    }

    /// No accounts, everyone welcome (the loopback default).
    pub fn open() -> Self {
        Self::new(None, true)
    }

    /// The accounts, when they are on.
    pub fn accounts(&self) -> Option<&Arc<Accounts>> {
        self.accounts.as_ref()
    }

    /// Whether clients that do not log in may take part.
    pub fn anonymous_allowed(&self) -> bool {
        self.anonymous
    }

    /// Who a client that has not logged in is, calling itself `nick`:
    /// the name itself with accounts off, `guest:{nick}` with accounts
    /// on, and `None` where only users may take part.
    pub fn visitor(&self, nick: &str) -> Option<Identity> {
        match (&self.accounts, self.anonymous) {
            (_, false) => None,
            (None, true) => Some(Identity::Anonymous(nick.into())),
            (Some(_), true) => Some(Identity::guest(nick)),
        }
    }

    /// The user of an open session token.
    pub fn resolve(&self, token: &str) -> Option<Identity> {
        self.accounts.as_ref()?.resolve(token)
    }

    /// Checks a user name and password from a client at `from`. With
    /// accounts off nobody can log in.
    pub async fn authenticate(
        &self,
        name: &str,
        password: &[u8],
        from: Option<IpAddr>,
    ) -> Result<Identity, AccountError> {
        match &self.accounts {
            Some(accounts) => accounts.verify(name, password, from).await,
            None => Err(AccountError::AccountsOff),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visitors_by_mode() {
        let open = Auth::open();
        assert_eq!(
            open.visitor("alice"),
            Some(Identity::Anonymous("alice".into()))
        );
        let closed = Auth::new(None, false);
        assert_eq!(closed.visitor("alice"), None);
    }
}
