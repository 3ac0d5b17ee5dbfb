//! XRPL transaction hashes: 64 hexadecimal characters, case-insensitive.
//!
//! One hash has many spellings (`ab…`, `AB…`, `Ab…`); a replay check that
//! compared them as text let the same payment in twice. Every `tx_hash` a
//! caller gives is parsed here into its one canonical form (upper case, as
//! the XRPL's own tools print it), and only that form is stored and compared,
//! so the unique index on the column sees every spelling as the same value.

use std::fmt;

/// Hex digits in a hash (a SHA-512Half digest: 32 bytes).
pub const TX_HASH_LEN: usize = 64;

/// A valid transaction hash in canonical form. Built only by [`TxHash::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxHash(String);

/// A `tx_hash` that is not 64 hexadecimal characters; `field` names where it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct TxHashError {
    pub field: &'static str,
    pub message: String,
}

impl TxHash {
    /// Parse a caller's hash: surrounding whitespace is ignored (a hash pasted
    /// from a block explorer often carries some), any case is accepted, and
    /// anything but 64 hex digits is refused naming `field`.
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, TxHashError> {
        let trimmed = raw.trim();
        if trimmed.len() != TX_HASH_LEN || !trimmed.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(TxHashError {
                field,
                message: format!(
                    "must be an XRPL transaction hash: {TX_HASH_LEN} hexadecimal characters"
                ),
            });
        }
        Ok(Self(trimmed.to_ascii_uppercase()))
    }

    /// The canonical (upper-case) text: what is stored and compared.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TxHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOWER: &str = "e3fe6ea3d48f0c2b639448020ea4f03d4f4f8ffdb243a852a0f59177921b4879";

    #[test]
    fn every_spelling_has_one_canonical_form() {
        let canonical = TxHash::parse("tx_hash", &LOWER.to_uppercase()).unwrap();
        assert_eq!(canonical.as_str(), LOWER.to_uppercase());
        let mixed: String = LOWER
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i % 2 == 0 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect();
        for spelling in [LOWER.to_owned(), mixed, format!("  {LOWER}\n")] {
            assert_eq!(TxHash::parse("tx_hash", &spelling).unwrap(), canonical);
        }
    }

    #[test]
    fn anything_but_64_hex_digits_is_refused_naming_the_field() {
        for bad in [
            "ok".to_owned(),
            String::new(),
            LOWER[..63].to_owned(),
            format!("{LOWER}0"),
            format!("{}g", &LOWER[..63]),
            format!("{} {}", &LOWER[..32], &LOWER[32..]),
        ] {
            let err = TxHash::parse("tx_hash", &bad).unwrap_err();
            assert_eq!(err.field, "tx_hash", "{bad:?}");
        }
    }
}
