//! Settings, and the one place that decides the storage backend from `DATABASE_URL`.

use std::path::PathBuf;

use thiserror::Error;

/// Where the four logical databases live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseTarget {
    /// `DATABASE_URL` unset: one SQLite file per alias in `data_dir`.
    Sqlite { data_dir: PathBuf },
    /// `DATABASE_URL=postgres://…`: every alias on one database.
    Postgres { url: String },
}

/// A `DATABASE_URL` that mnemo cannot use. The message never carries the password.
#[derive(Debug, Error, PartialEq, Eq)]
#[error(
    "DATABASE_URL must be unset (SQLite files in MNEMO_DATA_DIR) or a postgres:// / postgresql:// URL; got {redacted}"
)]
pub struct UnsupportedDatabaseUrl {
    /// The offending URL with any password replaced by `***`.
    pub redacted: String,
}

impl DatabaseTarget {
    /// The backend switch. `database_url` is the raw value of `DATABASE_URL`
    /// (an empty string counts as unset, as shells often export `VAR=`).
    pub fn from_env_values(
        database_url: Option<&str>,
        data_dir: PathBuf,
    ) -> Result<Self, UnsupportedDatabaseUrl> {
        match database_url.map(str::trim) {
            None | Some("") => Ok(Self::Sqlite { data_dir }),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Self::Postgres {
                    url: url.to_owned(),
                })
            }
            Some(url) => Err(UnsupportedDatabaseUrl {
                redacted: redact_url(url),
            }),
        }
    }

    /// A description safe to print and log: backend plus host or directory, no credentials.
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite { data_dir } => format!("sqlite (data directory {})", data_dir.display()),
            Self::Postgres { url } => format!("postgres ({})", redact_url(url)),
        }
    }
}

/// Replace every credential of a URL with `***`: the password of the user-info
/// part and any query parameter that carries one (`?password=…`, which sqlx
/// accepts too, `sslpassword`, tokens, secrets). Anything that does not parse as
/// a URL is cut at its last `@` so that `user:secret@host`-shaped garbage leaks
/// nothing, and loses its query.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut parsed) if parsed.has_host() => {
            if parsed.password().is_some() {
                // set_password only fails for URLs that cannot have credentials, which
                // cannot have a password either, so the branch above excludes that.
                let _ = parsed.set_password(Some("***"));
            }
            if parsed.query().is_some() {
                let pairs: Vec<(String, String)> = parsed
                    .query_pairs()
                    .map(|(k, v)| {
                        let secret = ["pass", "secret", "token", "key"]
                            .iter()
                            .any(|s| k.to_ascii_lowercase().contains(s));
                        let v = if secret { "***".into() } else { v.into_owned() };
                        (k.into_owned(), v)
                    })
                    .collect();
                parsed.query_pairs_mut().clear().extend_pairs(pairs);
            }
            parsed.to_string()
        }
        _ => {
            let without_query = raw.split('?').next().unwrap_or_default();
            match without_query.rfind('@') {
                Some(at) => format!("***{}", &without_query[at..]),
                None => without_query.to_owned(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        PathBuf::from("/tmp/mnemo-data")
    }

    #[test]
    fn unset_or_empty_means_sqlite() {
        for value in [None, Some(""), Some("  ")] {
            assert_eq!(
                DatabaseTarget::from_env_values(value, dir()),
                Ok(DatabaseTarget::Sqlite { data_dir: dir() })
            );
        }
    }

    #[test]
    fn both_postgres_schemes_are_accepted() {
        for url in ["postgres://u:p@h:5432/db", "postgresql://h/db"] {
            assert_eq!(
                DatabaseTarget::from_env_values(Some(url), dir()),
                Ok(DatabaseTarget::Postgres { url: url.into() })
            );
        }
    }

    #[test]
    fn other_schemes_are_refused_naming_the_variable_without_the_password() {
        for url in [
            "mysql://root:hunter2@db:3306/x",
            "sqlite://x.db",
            "garbage:hunter2@x",
        ] {
            let err = DatabaseTarget::from_env_values(Some(url), dir()).unwrap_err();
            let message = err.to_string();
            assert!(message.contains("DATABASE_URL"), "{message}");
            assert!(!message.contains("hunter2"), "{message}");
        }
    }

    #[test]
    fn every_credential_form_is_hidden() {
        for url in [
            "postgres://mnemo:hunter2@db:5432/mnemo",
            "postgres://mnemo@db:5432/mnemo?password=hunter2",
            "postgresql://db/mnemo?user=mnemo&password=hunter2&sslmode=require",
            "postgres://db/mnemo?sslpassword=hunter2",
            "postgres://db/mnemo?PASSWORD=hunter2",
            "not a url:hunter2@db?password=hunter2",
        ] {
            let redacted = redact_url(url);
            assert!(!redacted.contains("hunter2"), "{url} -> {redacted}");
        }
        let kept = redact_url("postgres://mnemo@db:5432/mnemo?sslmode=require&password=x");
        assert!(
            kept.contains("db:5432") && kept.contains("sslmode=require"),
            "{kept}"
        );
    }

    #[test]
    fn describe_hides_the_password_and_keeps_the_host() {
        let target = DatabaseTarget::Postgres {
            url: "postgres://mnemo:s3cret@db.internal:5433/mnemo".into(),
        };
        let text = target.describe();
        assert!(text.contains("db.internal:5433"), "{text}");
        assert!(!text.contains("s3cret"), "{text}");
    }
}
