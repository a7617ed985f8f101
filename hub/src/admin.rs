//! `hubbub user ...` and `hubbub room ...`: builds the request, asks the
//! running hub through its control socket, or, when none runs, opens the
//! store and carries it out here.

use std::io::{BufRead, IsTerminal};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context};
use hubbub_core::access::{Access, RoomAccess};
use hubbub_core::accounts::{Accounts, AccountsOptions};
use hubbub_core::admin::{Admin, AdminRequest};
use hubbub_core::store::{AccountStore, SledStore};
use serde_json::Value;

use crate::cli::{RoomCommand, UserCommand};
use crate::config::Config;
use crate::control;

/// The accounts, the room rules and the admin over them, from an open store.
pub struct AccountsStack {
    /// Users and sessions.
    pub accounts: Arc<Accounts>,
    /// Room rules (config file's and stored).
    pub access: Arc<Access>,
    /// The admin requests over both.
    pub admin: Arc<Admin>,
}

/// Opens the accounts and room rules kept in `store`.
pub fn open_accounts(config: &Config, store: Arc<SledStore>) -> anyhow::Result<AccountsStack> {
    let options = AccountsOptions {
        session_ttl: config.auth.session_ttl(),
        login_attempts: config.limits.login_attempts,
        ..AccountsOptions::default()
    };
    // Read once: users and sessions for the accounts, rules for the rooms.
    let mut stored = store
        .load_accounts()
        .context("cannot read the accounts from the store")?;
    let room_rules = std::mem::take(&mut stored.room_rules);
    let accounts = Arc::new(
        Accounts::from_loaded(store.clone(), stored, options)
            .context("cannot open the accounts")?,
    );
    let access = Arc::new(Access::new(config.rooms.access_rules(), room_rules));
    let admin = Arc::new(Admin::new(accounts.clone(), access.clone(), store));
    Ok(AccountsStack {
        accounts,
        access,
        admin,
    })
}

/// The request for a `user` subcommand (asking for a password if needed).
pub fn user_request(command: UserCommand) -> anyhow::Result<AdminRequest> {
    Ok(match command {
        UserCommand::Add { name, admin } => AdminRequest::UserAdd {
            password: read_password(&name)?,
            name,
            admin,
        },
        UserCommand::Del { name } => AdminRequest::UserDel { name },
        UserCommand::List => AdminRequest::UserList,
        UserCommand::Passwd { name } => AdminRequest::UserPasswd {
            password: read_password(&name)?,
            name,
        },
        UserCommand::Role { name, role } => AdminRequest::UserRole {
            name,
            admin: role == "admin",
        },
        UserCommand::Revoke { name } => AdminRequest::UserRevoke { name },
    })
}

/// The request for a `room` subcommand.
pub fn room_request(command: RoomCommand) -> AdminRequest {
    match command {
        RoomCommand::List => AdminRequest::RoomList,
        RoomCommand::Show { room } => AdminRequest::RoomShow { room },
        RoomCommand::Set {
            room,
            private,
            members,
            readers,
            writers,
        } => AdminRequest::RoomSet {
            room,
            rules: RoomAccess {
                private,
                members: members.into_iter().collect(),
                readers: readers.into_iter().collect(),
                writers: writers.into_iter().collect(),
            },
        },
        RoomCommand::Clear { room } => AdminRequest::RoomClear { room },
    }
}

/// A password: asked twice without echo on a terminal, else one line of
/// stdin.
fn read_password(user: &str) -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("password for {user}: "))?;
        let again = rpassword::prompt_password("again: ")?;
        if first != again {
            bail!("the two passwords differ");
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}

/// Carries out `request` on the running hub, or here if none runs, and
/// prints the answer.
pub fn run(config: &Config, request: AdminRequest) -> anyhow::Result<()> {
    if !config.auth.accounts && matches!(request, AdminRequest::UserAdd { .. }) {
        eprintln!(
            "hubbub: note: auth.accounts is off in this config, so users cannot log in until it is on"
        );
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let answer = runtime.block_on(async {
        if let Some(answer) = control::ask(&config.hub.data_dir, &request).await? {
            return Ok::<Value, anyhow::Error>(answer);
        }
        let dir = config.hub.data_dir.join("store");
        let store = SledStore::open(&dir, config.store.sled_options()).with_context(|| {
            format!(
                "cannot open the store in {} (is a hub running there without its control socket?)",
                dir.display()
            )
        })?;
        let stack = open_accounts(config, Arc::new(store))?;
        Ok(control::outcome(stack.admin.execute(request).await))
    })?;
    print(&answer)
}

fn print(answer: &Value) -> anyhow::Result<()> {
    if let Some(e) = answer.get("error") {
        return Err(anyhow!(
            "{} ({})",
            e["message"].as_str().unwrap_or("failed"),
            e["code"].as_str().unwrap_or("error")
        ));
    }
    let ok = &answer["ok"];
    if let Some(users) = ok.get("users").and_then(Value::as_array) {
        println!("{:<32} {:<6} {:>8}  created", "name", "admin", "sessions");
        for u in users {
            println!(
                "{:<32} {:<6} {:>8}  {}",
                u["name"].as_str().unwrap_or(""),
                u["admin"].as_bool().unwrap_or(false),
                u["sessions"].as_u64().unwrap_or(0),
                u["created"].as_str().unwrap_or("")
            );
        }
    } else {
        println!("{}", serde_json::to_string_pretty(ok)?);
    }
    Ok(())
}
