//! The four logical databases and where their tables live.

use std::fmt;
use std::str::FromStr;

/// A logical database. In SQLite mode each is its own file; in Postgres mode all
/// resolve to the one database, and the table prefix keeps them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Alias {
    /// Accounts, characters, API tokens.
    Default,
    /// Blockchain mirror and economy telemetry.
    Xrpl,
    /// The three memory stores.
    AiMemory,
    /// Plans, payments, subscription expiry.
    Subscriptions,
}

impl Alias {
    /// Every alias, in the order migrations are applied.
    pub const ALL: [Alias; 4] = [
        Alias::Default,
        Alias::Xrpl,
        Alias::AiMemory,
        Alias::Subscriptions,
    ];

    /// The name used on the command line and in migration folders.
    pub fn name(self) -> &'static str {
        match self {
            Alias::Default => "default",
            Alias::Xrpl => "xrpl",
            Alias::AiMemory => "ai_memory",
            Alias::Subscriptions => "subscriptions",
        }
    }

    /// Prefix of every table the alias owns (the same in both backends).
    pub fn table_prefix(self) -> &'static str {
        match self {
            Alias::Default => "accounts_",
            Alias::Xrpl => "xrpl_",
            Alias::AiMemory => "ai_memory_",
            Alias::Subscriptions => "subscriptions_",
        }
    }

    /// File name of the alias in SQLite mode.
    pub fn sqlite_file(self) -> String {
        format!("{}.db3", self.name())
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Alias {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Alias {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Alias::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| {
                format!("unknown database alias {s:?}; expected one of default, xrpl, ai_memory, subscriptions")
            })
    }
}
