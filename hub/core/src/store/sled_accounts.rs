//! [`AccountStore`] on the same sled database as the history: tree
//! `users` (name -> JSON [`UserRecord`]), tree `sessions` (token hash ->
//! JSON [`SessionRecord`]) and tree `room_rules` (room -> JSON
//! [`RoomAccess`]). Each change is flushed and synced before it returns.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::accounts::{AccountStore, SessionRecord, StoredAccounts, UserRecord};
use super::sled_store::{engine, SledStore};
use super::StoreError;
use crate::access::RoomAccess;
use crate::room_name::RoomName;

const USERS_TREE: &str = "users";
const SESSIONS_TREE: &str = "sessions";
const ROOM_RULES_TREE: &str = "room_rules";

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl SledStore {
    fn tree(&self, name: &str) -> Result<sled::Tree, StoreError> {
        self.db().open_tree(name).map_err(engine)
    }

    /// Every record of a tree, with its key as text.
    fn records<T: DeserializeOwned>(&self, tree: &str) -> Result<Vec<(String, T)>, StoreError> {
        let mut out = Vec::new();
        for item in self.tree(tree)?.iter() {
            let (key, value) = item.map_err(engine)?;
            let key = String::from_utf8(key.to_vec())
                .map_err(|_| StoreError::Corrupt(format!("a key of {tree} is not text")))?;
            let value =
                serde_json::from_slice(&value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            out.push((key, value));
        }
        Ok(out)
    }

    fn put_durably(&self, tree: &str, key: &str, value: Option<Vec<u8>>) -> Result<(), StoreError> {
        self.check_free_space()?;
        let tree = self.tree(tree)?;
        match value {
            Some(v) => tree.insert(key.as_bytes(), v).map_err(engine)?,
            None => tree.remove(key.as_bytes()).map_err(engine)?,
        };
        self.make_durable()
    }
}

impl AccountStore for SledStore {
    fn load_accounts(&self) -> Result<StoredAccounts, StoreError> {
        let users = self
            .records::<UserRecord>(USERS_TREE)?
            .into_iter()
            .map(|(_, u)| u)
            .collect();
        let sessions = self.records(SESSIONS_TREE)?;
        let room_rules = self
            .records::<RoomAccess>(ROOM_RULES_TREE)?
            .into_iter()
            .map(|(room, rules)| {
                RoomName::new(&room)
                    .map(|name| (name, rules))
                    .map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        Ok(StoredAccounts {
            users,
            sessions,
            room_rules,
        })
    }

    fn put_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        self.put_durably(USERS_TREE, &user.name, Some(encode(user)?))
    }

    fn delete_user(&self, name: &str) -> Result<(), StoreError> {
        self.put_durably(USERS_TREE, name, None)
    }

    fn put_session(&self, key: &str, session: &SessionRecord) -> Result<(), StoreError> {
        self.put_durably(SESSIONS_TREE, key, Some(encode(session)?))
    }

    fn delete_sessions(&self, keys: &[String]) -> Result<(), StoreError> {
        self.check_free_space()?;
        let tree = self.tree(SESSIONS_TREE)?;
        for key in keys {
            tree.remove(key.as_bytes()).map_err(engine)?;
        }
        self.make_durable()
    }

    fn put_room_rules(
        &self,
        room: &RoomName,
        rules: Option<&RoomAccess>,
    ) -> Result<(), StoreError> {
        let value = rules.map(encode).transpose()?;
        self.put_durably(ROOM_RULES_TREE, room.as_str(), value)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::store::{open_when_free, SledOptions};

    #[test]
    fn accounts_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let open = || SledStore::open(dir.path(), SledOptions::default());
        let store = open_when_free(open);
        let user = UserRecord {
            name: "alice".into(),
            hash: "$argon2id$...".into(),
            admin: true,
            created: Utc::now(),
        };
        store.put_user(&user).unwrap();
        let session = SessionRecord {
            user: "alice".into(),
            created: Utc::now(),
            expires: Utc::now(),
        };
        store.put_session("k1", &session).unwrap();
        store.put_session("k2", &session).unwrap();
        store.delete_sessions(&["k1".into()]).unwrap();
        let room = RoomName::new("ops").unwrap();
        let rules = RoomAccess {
            private: true,
            ..RoomAccess::default()
        };
        store.put_room_rules(&room, Some(&rules)).unwrap();
        drop(store);

        let store = open_when_free(open);
        let loaded = store.load_accounts().unwrap();
        assert_eq!(loaded.users, vec![user]);
        assert_eq!(loaded.sessions, vec![("k2".to_string(), session)]);
        assert_eq!(loaded.room_rules, vec![(room.clone(), rules)]);
        store.put_room_rules(&room, None).unwrap();
        store.delete_user("alice").unwrap();
        let loaded = store.load_accounts().unwrap();
        assert!(loaded.users.is_empty() && loaded.room_rules.is_empty());
    }
}
