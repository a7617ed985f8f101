// Who this browser chats as.
//
// Today everyone is a guest who picks a nickname. Signing in arrives with
// accounts: it adds a second kind of identity here, and `hello` is where
// that identity's credentials will be sent.

/** A guest identity: a nickname and nothing to prove. */
export function guest(nick) {
  return { kind: "guest", nick };
}

/** The `hello` frame that introduces `identity` to the hub. */
export function hello(identity) {
  return { op: "hello", nick: identity.nick };
}
