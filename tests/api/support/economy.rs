//! What the economy and payment tests share: XRPL transaction hashes and
//! their other spellings.

use sha2::{Digest, Sha256};

/// A distinct 64-hex transaction hash per `seed`, in lower case (a digest,
/// so it has letters for the case variants to differ in).
pub fn tx_hash(seed: &str) -> String {
    hex::encode(Sha256::digest(seed.as_bytes()))
}

/// Other spellings of one hash: upper, lower, alternating case, and padded
/// with whitespace. `n` spellings, cycling through those forms with a
/// different mix of letter case each time.
pub fn spellings(hash: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let mixed: String = hash
                .chars()
                .enumerate()
                .map(|(j, c)| {
                    if (j + i) % 3 == 0 {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    }
                })
                .collect();
            match i % 4 {
                0 => hash.to_ascii_uppercase(),
                1 => hash.to_ascii_lowercase(),
                2 => mixed,
                _ => format!(" \t{mixed}\n"),
            }
        })
        .collect()
}
