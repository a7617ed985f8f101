//! What an administrator may do, as one set of requests shared by the
//! `hubbub user ...` / `hubbub room ...` commands and `/api/admin/...`.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::access::{Access, RoomAccess};
use crate::accounts::{valid_user_name, AccountError, Accounts, USER_NAME_RULE};
use crate::room_name::{BadRoomName, RoomName};
use crate::store::AccountStore;

/// One administrative request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum AdminRequest {
    /// Add a user.
    UserAdd {
        /// User name.
        name: String,
        /// Password.
        password: String,
        /// Give it the admin role.
        #[serde(default)]
        admin: bool,
    },
    /// Delete a user and end its sessions.
    UserDel {
        /// User name.
        name: String,
    },
    /// List users.
    UserList,
    /// Set a user's password (ends its sessions).
    UserPasswd {
        /// User name.
        name: String,
        /// New password.
        password: String,
    },
    /// Grant or take away the admin role.
    UserRole {
        /// User name.
        name: String,
        /// Admin or not.
        admin: bool,
    },
    /// End every session of a user.
    UserRevoke {
        /// User name.
        name: String,
    },
    /// Every room that has rules.
    RoomList,
    /// One room's rules.
    RoomShow {
        /// Room name.
        room: String,
    },
    /// Set a room's rules (they replace the config file's).
    RoomSet {
        /// Room name.
        room: String,
        /// The rules.
        rules: RoomAccess,
    },
    /// Drop the rules set at run time; the config file's apply again.
    RoomClear {
        /// Room name.
        room: String,
    },
}

/// Why an administrative request failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// From the accounts.
    #[error(transparent)]
    Account(#[from] AccountError),
    /// A bad room name.
    #[error(transparent)]
    BadRoom(#[from] BadRoomName),
    /// A bad user name in a room's lists.
    #[error("bad user name {0:?} in the room's lists: {USER_NAME_RULE}")]
    BadMember(String),
    /// The store failed; nothing changed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl AdminError {
    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            AdminError::Account(e) => e.code(),
            AdminError::BadRoom(_) => "bad_room",
            AdminError::BadMember(_) => "bad_user_name",
            AdminError::Store(_) => "store_unavailable",
        }
    }

    /// Whether the request was at fault (rather than the hub).
    pub fn is_client_error(&self) -> bool {
        !matches!(
            self,
            AdminError::Store(_)
                | AdminError::Account(AccountError::Store(_) | AccountError::Hashing(_))
        )
    }
}

/// Carries out administrative requests.
pub struct Admin {
    accounts: Arc<Accounts>,
    access: Arc<Access>,
    store: Arc<dyn AccountStore>,
}

impl Admin {
    /// Over these accounts and room rules, storing rule changes in `store`.
    pub fn new(accounts: Arc<Accounts>, access: Arc<Access>, store: Arc<dyn AccountStore>) -> Self {
        Self {
            accounts,
            access,
            store,
        }
    }

    /// Carries out one request; the answer is JSON.
    pub async fn execute(&self, request: AdminRequest) -> Result<Value, AdminError> {
        let a = &self.accounts;
        Ok(match request {
            AdminRequest::UserAdd {
                name,
                password,
                admin,
            } => {
                a.add_user(&name, &password, admin).await?;
                json!({"added": name, "admin": admin})
            }
            AdminRequest::UserDel { name } => {
                a.delete_user(&name)?;
                json!({"deleted": name})
            }
            AdminRequest::UserList => json!({"users": a.list()}),
            AdminRequest::UserPasswd { name, password } => {
                a.set_password(&name, &password).await?;
                json!({"changed": name})
            }
            AdminRequest::UserRole { name, admin } => {
                a.set_admin(&name, admin)?;
                json!({"user": name, "admin": admin})
            }
            AdminRequest::UserRevoke { name } => {
                if !a.exists(&name) {
                    return Err(AccountError::NoSuchUser(name).into());
                }
                json!({"user": name, "sessions_ended": a.revoke(&name)?})
            }
            AdminRequest::RoomList => {
                let rooms: Vec<Value> = self
                    .access
                    .ruled_rooms()
                    .iter()
                    .map(|room| self.describe(room))
                    .collect();
                json!({"rooms": rooms})
            }
            AdminRequest::RoomShow { room } => self.describe(&RoomName::new(&room)?),
            AdminRequest::RoomSet { room, rules } => {
                let room = RoomName::new(&room)?;
                if let Some(bad) = rules.names().find(|n| !valid_user_name(n)) {
                    return Err(AdminError::BadMember(bad.clone()));
                }
                self.store.put_room_rules(&room, Some(&rules))?;
                self.access.set(&room, Some(rules));
                tracing::info!(room = %room, "room rules set");
                self.describe(&room)
            }
            AdminRequest::RoomClear { room } => {
                let room = RoomName::new(&room)?;
                self.store.put_room_rules(&room, None)?;
                self.access.set(&room, None);
                tracing::info!(room = %room, "room rules cleared");
                self.describe(&room)
            }
        })
    }

    /// A room's rules in force, their source, and names on its lists that
    /// are no user (yet).
    fn describe(&self, room: &RoomName) -> Value {
        let (rules, source) = self.access.rules(room);
        let users = self.accounts.list();
        let unknown: Vec<&String> = rules
            .names()
            .filter(|n| !users.iter().any(|u| &u.name == *n))
            .collect();
        json!({"room": room, "rules": rules, "source": source, "unknown_users": unknown})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Identity;
    use crate::accounts::AccountsOptions;
    use crate::store::{open_when_free, SledOptions, SledStore};

    fn request(v: Value) -> AdminRequest {
        serde_json::from_value(v).unwrap()
    }

    #[tokio::test]
    async fn users_and_room_rules() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<SledStore> = Arc::new(open_when_free(|| {
            SledStore::open(dir.path(), SledOptions::default())
        }));
        let accounts = Arc::new(Accounts::open(store.clone(), AccountsOptions::default()).unwrap());
        let access = Arc::new(Access::open());
        let admin = Admin::new(accounts.clone(), access.clone(), store);
        admin
            .execute(request(
                json!({"op": "user_add", "name": "alice", "password": "long enough"}),
            ))
            .await
            .unwrap();
        let set = admin
            .execute(request(json!({"op": "room_set", "room": "ops",
                "rules": {"private": true, "members": ["alice", "bob"]}})))
            .await
            .unwrap();
        assert_eq!(set["source"], "admin");
        assert_eq!(set["unknown_users"], json!(["bob"]));
        let ops = RoomName::new("ops").unwrap();
        let alice = Identity::User {
            name: "alice".into(),
            admin: false,
        };
        assert!(access.can_read(&alice, &ops));
        assert!(!access.can_read(&Identity::guest("alice"), &ops));
        let bad = admin
            .execute(request(json!({"op": "room_set", "room": "ops",
                "rules": {"members": ["guest:x"]}})))
            .await
            .unwrap_err();
        assert_eq!(bad.code(), "bad_user_name");
        let list = admin.execute(AdminRequest::UserList).await.unwrap();
        assert_eq!(list["users"][0]["name"], "alice");
        admin
            .execute(AdminRequest::RoomClear { room: "ops".into() })
            .await
            .unwrap();
        assert!(access.can_read(&Identity::guest("x"), &ops));
        assert!(serde_json::from_value::<AdminRequest>(json!({"op": "nonsense"})).is_err());
    }
}
