//! Users, passwords and login sessions: who a client is, for every
//! transport alike. Users (people and devices) live in the store with
//! argon2 hashes; a login opens a session whose token works as a cookie
//! or a bearer token until it expires, is logged out or is revoked.

mod password;
mod throttle;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use blake2::{Blake2b, Digest};
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::access::Identity;
use crate::store::{AccountStore, SessionRecord, StoreError, StoredAccounts, UserRecord};

pub use password::{valid_user_name, MIN_PASSWORD_CHARS, USER_NAME_RULE};
pub use throttle::LoginThrottle;

/// Password hashes computed at once: each takes 19 MiB for ~0.1 s, so a
/// burst of logins must not take a Pi's memory.
const HASHING_AT_ONCE: usize = 2;

/// Why an account operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Wrong user name or password (which one is not said).
    #[error("wrong user name or password")]
    BadCredentials,
    /// Too many failed logins from this address; try again later.
    #[error("too many failed logins from this address; try again in {} s", .0.as_secs().max(1))]
    Throttled(Duration),
    /// The user name breaks the rule.
    #[error("bad user name {0:?}: {USER_NAME_RULE}")]
    BadName(String),
    /// A password that is too short or too long.
    #[error("{0}")]
    BadPassword(String),
    /// The user exists already.
    #[error("user {0:?} exists already")]
    Exists(String),
    /// No such user.
    #[error("no user named {0:?}")]
    NoSuchUser(String),
    /// The store failed; nothing changed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Accounts are off (`auth.accounts`), so nobody can log in.
    #[error("accounts are off on this hub (auth.accounts = false)")]
    AccountsOff,
    /// Hashing failed (should not happen).
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

impl AccountError {
    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            AccountError::BadCredentials => "bad_credentials",
            AccountError::Throttled(_) => "too_many_attempts",
            AccountError::BadName(_) => "bad_user_name",
            AccountError::BadPassword(_) => "bad_password",
            AccountError::Exists(_) => "exists",
            AccountError::NoSuchUser(_) => "no_such_user",
            AccountError::Store(_) => "store_unavailable",
            AccountError::AccountsOff => "accounts_off",
            AccountError::Hashing(_) => "internal",
        }
    }
}

/// A user as listed (no hash).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UserInfo {
    /// The user name.
    pub name: String,
    /// May manage users and rooms.
    pub admin: bool,
    /// When it was added.
    pub created: DateTime<Utc>,
    /// Open login sessions.
    pub sessions: usize,
}

/// A new login session.
#[derive(Debug, Clone, Serialize)]
pub struct Login {
    /// The secret token: a cookie value or `Authorization: Bearer` token.
    pub token: String,
    /// Who logged in.
    pub user: String,
    /// Whether the user is an administrator.
    pub admin: bool,
    /// When the session ends.
    pub expires: DateTime<Utc>,
}

/// Settings of the accounts.
#[derive(Debug, Clone)]
pub struct AccountsOptions {
    /// How long a login session lasts.
    pub session_ttl: Duration,
    /// Failed logins per address let through before waits begin.
    pub login_attempts: u32,
    /// The window those failures are counted in.
    pub login_window: Duration,
}

impl Default for AccountsOptions {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(30 * 24 * 3600),
            login_attempts: 5,
            login_window: Duration::from_secs(60),
        }
    }
}

/// The accounts: users, sessions and the login throttle. Cheap to share
/// behind an `Arc`; every change is stored before it takes effect.
pub struct Accounts {
    store: Arc<dyn AccountStore>,
    options: AccountsOptions,
    users: RwLock<HashMap<String, UserRecord>>,
    /// By token hash.
    sessions: Mutex<HashMap<String, SessionRecord>>,
    hashing: Semaphore,
    throttle: LoginThrottle,
    /// Checked when the user does not exist, so that a wrong name takes as
    /// long as a wrong password.
    decoy: String,
    watchers: RwLock<Vec<Revoked>>,
}

/// Called with a user name whose logins were ended.
pub type Revoked = Box<dyn Fn(&str) + Send + Sync>;

impl Accounts {
    /// Loads users and sessions from the store (expired sessions are
    /// dropped).
    pub fn open(
        store: Arc<dyn AccountStore>,
        options: AccountsOptions,
    ) -> Result<Self, AccountError> {
        let loaded = store.load_accounts()?;
        Self::from_loaded(store, loaded, options)
    }

    /// Like [`Accounts::open`], with what the caller already read from
    /// `store` (its users and sessions; the room rules are not used here).
    pub fn from_loaded(
        store: Arc<dyn AccountStore>,
        loaded: StoredAccounts,
        options: AccountsOptions,
    ) -> Result<Self, AccountError> {
        let now = Utc::now();
        let (live, expired): (Vec<_>, Vec<_>) = loaded
            .sessions
            .into_iter()
            .partition(|(_, s)| s.expires > now);
        if !expired.is_empty() {
            let keys: Vec<String> = expired.into_iter().map(|(k, _)| k).collect();
            store.delete_sessions(&keys)?;
        }
        let decoy = password::hash("no user has this password").map_err(AccountError::Hashing)?;
        Ok(Self {
            users: RwLock::new(
                loaded
                    .users
                    .into_iter()
                    .map(|u| (u.name.clone(), u))
                    .collect(),
            ),
            sessions: Mutex::new(live.into_iter().collect()),
            store,
            throttle: LoginThrottle::new(options.login_attempts, options.login_window),
            options,
            hashing: Semaphore::new(HASHING_AT_ONCE),
            decoy,
            watchers: RwLock::new(Vec::new()),
        })
    }

    fn users(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, UserRecord>> {
        self.users.read().unwrap_or_else(|p| p.into_inner())
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, SessionRecord>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs a slow password hash or check on a blocking thread, a few at
    /// a time.
    async fn hashing<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AccountError> {
        let _permit = self
            .hashing
            .acquire()
            .await
            .map_err(|e| AccountError::Hashing(e.to_string()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| AccountError::Hashing(e.to_string()))
    }

    async fn new_hash(&self, password: &str) -> Result<String, AccountError> {
        password::check_new_password(password).map_err(AccountError::BadPassword)?;
        let password = password.to_owned();
        self.hashing(move || password::hash(&password))
            .await?
            .map_err(AccountError::Hashing)
    }

    /// Whether user `name` exists.
    pub fn exists(&self, name: &str) -> bool {
        self.users().contains_key(name)
    }

    /// Adds a user.
    pub async fn add_user(
        &self,
        name: &str,
        password: &str,
        admin: bool,
    ) -> Result<(), AccountError> {
        if !valid_user_name(name) {
            return Err(AccountError::BadName(name.to_owned()));
        }
        if self.exists(name) {
            return Err(AccountError::Exists(name.to_owned()));
        }
        let hash = self.new_hash(password).await?;
        let record = UserRecord {
            name: name.to_owned(),
            hash,
            admin,
            created: Utc::now(),
        };
        let mut users = self.users.write().unwrap_or_else(|p| p.into_inner());
        if users.contains_key(name) {
            return Err(AccountError::Exists(name.to_owned()));
        }
        self.store.put_user(&record)?;
        users.insert(name.to_owned(), record);
        tracing::info!(user = name, admin, "user added");
        Ok(())
    }

    /// Changes a user's record with `change`, stores it, and ends its
    /// sessions if `revoke`.
    fn update(
        &self,
        name: &str,
        revoke: bool,
        change: impl FnOnce(&mut UserRecord),
    ) -> Result<(), AccountError> {
        {
            let mut users = self.users.write().unwrap_or_else(|p| p.into_inner());
            let user = users
                .get_mut(name)
                .ok_or_else(|| AccountError::NoSuchUser(name.to_owned()))?;
            let mut changed = user.clone();
            change(&mut changed);
            self.store.put_user(&changed)?;
            *user = changed;
        }
        if revoke {
            self.revoke(name)?;
        }
        Ok(())
    }

    /// Sets a user's password and ends its sessions.
    pub async fn set_password(&self, name: &str, password: &str) -> Result<(), AccountError> {
        if !self.exists(name) {
            return Err(AccountError::NoSuchUser(name.to_owned()));
        }
        let hash = self.new_hash(password).await?;
        self.update(name, true, |u| u.hash = hash)?;
        tracing::info!(user = name, "password changed; sessions ended");
        Ok(())
    }

    /// Grants or takes away the admin role.
    pub fn set_admin(&self, name: &str, admin: bool) -> Result<(), AccountError> {
        self.update(name, false, |u| u.admin = admin)?;
        tracing::info!(user = name, admin, "admin role changed");
        Ok(())
    }

    /// Deletes a user and ends its sessions.
    pub fn delete_user(&self, name: &str) -> Result<(), AccountError> {
        {
            let mut users = self.users.write().unwrap_or_else(|p| p.into_inner());
            if !users.contains_key(name) {
                return Err(AccountError::NoSuchUser(name.to_owned()));
            }
            self.store.delete_user(name)?;
            users.remove(name);
        }
        self.revoke(name)?;
        tracing::info!(user = name, "user deleted");
        Ok(())
    }

    /// Every user, sorted by name.
    pub fn list(&self) -> Vec<UserInfo> {
        let now = Utc::now();
        let mut open: HashMap<&str, usize> = HashMap::new();
        let sessions = self.sessions();
        for s in sessions.values().filter(|s| s.expires > now) {
            *open.entry(s.user.as_str()).or_default() += 1;
        }
        let mut list: Vec<UserInfo> = self
            .users()
            .values()
            .map(|u| UserInfo {
                name: u.name.clone(),
                admin: u.admin,
                created: u.created,
                sessions: open.get(u.name.as_str()).copied().unwrap_or(0),
            })
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        list
    }

    /// The identity of a user as it stands now.
    fn identity(&self, name: &str) -> Option<Identity> {
        self.users().get(name).map(|u| Identity::User {
            name: u.name.as_str().into(),
            admin: u.admin,
        })
    }

    /// Checks a user name and password, for a client at `from`. Failures
    /// from one address are slowed down: past the free attempts this
    /// answers [`AccountError::Throttled`] without checking.
    pub async fn verify(
        &self,
        name: &str,
        password: &[u8],
        from: Option<IpAddr>,
    ) -> Result<Identity, AccountError> {
        if let Some(a) = from {
            self.throttle
                .begin(a, Instant::now())
                .map_err(AccountError::Throttled)?;
        }
        let hash = self
            .users()
            .get(name)
            .map(|u| u.hash.clone())
            .unwrap_or_else(|| self.decoy.clone());
        let password = password.to_vec();
        let matches = self
            .hashing(move || password::verify(&password, &hash))
            .await?;
        match self.identity(name).filter(|_| matches) {
            Some(who) => {
                if let Some(a) = from {
                    self.throttle.succeeded(a);
                }
                Ok(who)
            }
            None => {
                tracing::info!(user = name, from = ?from, "failed login");
                Err(AccountError::BadCredentials)
            }
        }
    }

    /// Checks a password and opens a session.
    pub async fn login(
        &self,
        name: &str,
        password: &[u8],
        from: Option<IpAddr>,
    ) -> Result<Login, AccountError> {
        let who = self.verify(name, password, from).await?;
        let token = new_token();
        let now = Utc::now();
        let ttl = chrono::Duration::from_std(self.options.session_ttl)
            .unwrap_or_else(|_| chrono::Duration::days(30));
        let record = SessionRecord {
            user: name.to_owned(),
            created: now,
            expires: now + ttl,
        };
        let key = token_key(&token);
        self.store.put_session(&key, &record)?;
        self.sessions().insert(key, record.clone());
        Ok(Login {
            token,
            user: name.to_owned(),
            admin: who.is_admin(),
            expires: record.expires,
        })
    }

    /// The user a session token belongs to, if the session is open.
    pub fn resolve(&self, token: &str) -> Option<Identity> {
        let key = token_key(token);
        let user = {
            let sessions = self.sessions();
            let s = sessions.get(&key)?;
            if s.expires <= Utc::now() {
                return None;
            }
            s.user.clone()
        };
        self.identity(&user)
    }

    /// Ends the session of `token`; returns whether it was open.
    pub fn logout(&self, token: &str) -> Result<bool, AccountError> {
        let key = token_key(token);
        if !self.sessions().contains_key(&key) {
            return Ok(false);
        }
        self.store.delete_sessions(std::slice::from_ref(&key))?;
        Ok(self.sessions().remove(&key).is_some())
    }

    /// Calls `watcher` with a user name whenever that user's logins are
    /// ended, so that its live connections can be closed too.
    pub fn watch_revocations(&self, watcher: Revoked) {
        self.watchers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(watcher);
    }

    /// Ends every session of `user` (and any expired one) and tells the
    /// watchers, which close the user's live connections; returns how many
    /// of the user's sessions were open.
    pub fn revoke(&self, user: &str) -> Result<usize, AccountError> {
        for watcher in self
            .watchers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            watcher(user);
        }
        let now = Utc::now();
        let doomed: Vec<(String, bool)> = self
            .sessions()
            .iter()
            .filter(|(_, s)| s.user == user || s.expires <= now)
            .map(|(k, s)| (k.clone(), s.user == user && s.expires > now))
            .collect();
        if doomed.is_empty() {
            return Ok(0);
        }
        let keys: Vec<String> = doomed.iter().map(|(k, _)| k.clone()).collect();
        self.store.delete_sessions(&keys)?;
        let mut sessions = self.sessions();
        for k in &keys {
            sessions.remove(k);
        }
        Ok(doomed.iter().filter(|(_, open)| *open).count())
    }
}

/// A new random session token (256 bits, hex).
fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    hex(&bytes)
}

/// The key a session is stored under: a hash of its token, so that a copy
/// of the store does not hold working tokens.
fn token_key(token: &str) -> String {
    let digest = Blake2b::<blake2::digest::consts::U32>::digest(token.as_bytes());
    hex(&digest)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{open_when_free, SledOptions, SledStore};

    fn accounts(dir: &std::path::Path) -> Accounts {
        let store = open_when_free(|| SledStore::open(dir, SledOptions::default()));
        Accounts::open(Arc::new(store), AccountsOptions::default()).unwrap()
    }

    #[tokio::test]
    async fn users_log_in_and_sessions_end() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = accounts(dir.path());
        accounts
            .add_user("alice", "correct horse", true)
            .await
            .unwrap();
        assert!(matches!(
            accounts.add_user("alice", "another one", false).await,
            Err(AccountError::Exists(_))
        ));
        assert!(matches!(
            accounts.add_user("Bob", "long enough", false).await,
            Err(AccountError::BadName(_))
        ));
        assert!(matches!(
            accounts.add_user("bob", "short", false).await,
            Err(AccountError::BadPassword(_))
        ));
        assert!(matches!(
            accounts.login("alice", b"wrong horse", None).await,
            Err(AccountError::BadCredentials)
        ));
        assert!(matches!(
            accounts.login("nobody", b"correct horse", None).await,
            Err(AccountError::BadCredentials)
        ));
        let login = accounts
            .login("alice", b"correct horse", None)
            .await
            .unwrap();
        assert!(login.admin);
        let who = accounts.resolve(&login.token).unwrap();
        assert_eq!(who.user(), Some("alice"));
        assert!(accounts.resolve("not a token").is_none());
        assert_eq!(accounts.list()[0].sessions, 1);

        // Sessions survive a restart; the store holds no token.
        drop(accounts);
        let raw = std::fs::read(dir.path().join("db")).unwrap_or_default();
        assert!(!raw
            .windows(login.token.len())
            .any(|w| w == login.token.as_bytes()));
        let accounts = self::accounts(dir.path());
        assert!(accounts.resolve(&login.token).is_some());
        assert!(accounts.logout(&login.token).unwrap());
        assert!(accounts.resolve(&login.token).is_none());

        // A new password ends every session.
        let second = accounts
            .login("alice", b"correct horse", None)
            .await
            .unwrap();
        accounts
            .set_password("alice", "battery staple")
            .await
            .unwrap();
        assert!(accounts.resolve(&second.token).is_none());
        accounts
            .login("alice", b"battery staple", None)
            .await
            .unwrap();
        accounts.set_admin("alice", false).unwrap();
        accounts.delete_user("alice").unwrap();
        assert!(accounts.list().is_empty());
    }

    #[tokio::test]
    async fn sessions_expire_and_can_be_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_when_free(|| SledStore::open(dir.path(), SledOptions::default()));
        let options = AccountsOptions {
            session_ttl: Duration::from_millis(300),
            ..AccountsOptions::default()
        };
        let accounts = Accounts::open(Arc::new(store), options).unwrap();
        accounts
            .add_user("carol", "long enough", false)
            .await
            .unwrap();
        let short = accounts.login("carol", b"long enough", None).await.unwrap();
        assert!(accounts.resolve(&short.token).is_some());
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(accounts.resolve(&short.token).is_none(), "expired");
        let a = accounts.login("carol", b"long enough", None).await.unwrap();
        let b = accounts.login("carol", b"long enough", None).await.unwrap();
        assert_eq!(accounts.revoke("carol").unwrap(), 2);
        assert!(accounts.resolve(&a.token).is_none() && accounts.resolve(&b.token).is_none());
    }

    #[tokio::test]
    async fn failures_from_one_address_are_throttled() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = accounts(dir.path());
        accounts
            .add_user("bob", "long enough", false)
            .await
            .unwrap();
        let from: IpAddr = "127.0.0.9".parse().unwrap();
        for _ in 0..5 {
            let e = accounts
                .verify("bob", b"guess", Some(from))
                .await
                .unwrap_err();
            assert!(matches!(e, AccountError::BadCredentials));
        }
        let e = accounts
            .verify("bob", b"long enough", Some(from))
            .await
            .unwrap_err();
        assert!(matches!(e, AccountError::Throttled(_)), "{e}");
        // Another address is not affected.
        accounts.verify("bob", b"long enough", None).await.unwrap();
        // Attempts made at once count as they start: 5 free, then waits.
        let accounts = Arc::new(accounts);
        let other: IpAddr = "127.0.0.10".parse().unwrap();
        let attempts: Vec<_> = (0..8)
            .map(|_| {
                let accounts = accounts.clone();
                tokio::spawn(async move { accounts.verify("bob", b"guess", Some(other)).await })
            })
            .collect();
        let mut throttled = 0;
        for a in attempts {
            if matches!(a.await.unwrap(), Err(AccountError::Throttled(_))) {
                throttled += 1;
            }
        }
        assert_eq!(throttled, 3);
    }
}
