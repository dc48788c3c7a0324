//! What a personal access token may do. A password or identity-provider session may do everything
//! (its `Identity::scopes` is `None`); a token only what its scopes name, so a script that reads tasks
//! cannot delete them and a leaked assistant token cannot reach the notifications inbox.

use std::collections::BTreeSet;
use std::fmt;

/// One permission a personal access token can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Task reads: list, get, stats, occurrences, the audit trail, recurrence previews, and the
    /// real-time streams (WebSocket, SSE, stream tickets).
    TasksRead,
    /// Task writes, quick-add included.
    TasksWrite,
    /// The notifications inbox.
    Notifications,
    /// The chat assistant and MCP.
    Assistant,
    /// Webhook endpoints.
    Webhooks,
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::TasksRead,
        Scope::TasksWrite,
        Scope::Notifications,
        Scope::Assistant,
        Scope::Webhooks,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::TasksRead => "tasks:read",
            Scope::TasksWrite => "tasks:write",
            Scope::Notifications => "notifications",
            Scope::Assistant => "assistant",
            Scope::Webhooks => "webhooks",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A token's scopes: a set, stored as its names joined by spaces (the OAuth `scope` form).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes(BTreeSet<Scope>);

impl Scopes {
    pub fn new(scopes: impl IntoIterator<Item = Scope>) -> Self {
        Self(scopes.into_iter().collect())
    }

    pub fn contains(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }

    /// The names, in a stable order.
    pub fn names(&self) -> Vec<&'static str> {
        self.iter().map(Scope::as_str).collect()
    }

    /// Space-separated names; [`Scopes::from_stored`] reads it back.
    pub fn to_stored(&self) -> String {
        self.names().join(" ")
    }

    /// Reads [`Scopes::to_stored`]'s form; an unknown name (a scope since removed) grants nothing.
    pub fn from_stored(s: &str) -> Self {
        Self(s.split_whitespace().filter_map(Scope::parse).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
        }
        assert_eq!(Scope::parse("tasks:delete"), None);
        let scopes = Scopes::new([Scope::TasksWrite, Scope::TasksRead]);
        assert_eq!(scopes.to_stored(), "tasks:read tasks:write");
        assert_eq!(Scopes::from_stored("tasks:write tasks:read bogus"), scopes);
    }
}
