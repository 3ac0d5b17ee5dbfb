//! The offline default provider: lexical feature hashing.

use futures_util::future::BoxFuture;

use super::{DEFAULT_DIMENSION, EmbedError, Embedder, check_not_blank, normalise};

/// Model name recorded with vectors made by [`HashEmbedder`]. The `v1` changes whenever the
/// tokeniser, the weights or the hash change, because old vectors would no longer match.
pub const HASH_MODEL: &str = "mnemo-hash-v1";

/// Weight of a word that carries little meaning ("the", "of", ...). Not zero, so a text
/// made only of such words still gets a vector.
const STOPWORD_WEIGHT: f32 = 0.25;
/// Weight of an adjacent word pair, relative to its weaker word: pairs reward shared
/// phrases ("red dragon") without drowning the single words.
const BIGRAM_WEIGHT: f32 = 0.5;

/// Small English function-word list, sorted for binary search.
const STOPWORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "been", "but", "by", "for", "from", "had", "has",
    "have", "he", "her", "him", "his", "i", "in", "is", "it", "its", "me", "my", "of", "on", "or",
    "our", "she", "so", "that", "the", "their", "them", "then", "there", "they", "this", "to",
    "us", "was", "we", "were", "which", "who", "will", "with", "you", "your",
];

/// Offline, deterministic, **lexical** embedder. It matches words, not meaning.
///
/// Two texts score high when they share words (after lowercasing, dropping punctuation and a
/// light English suffix stem: "attacked", "attacks", "attacking" all count as "attack") and
/// adjacent word pairs. Synonyms ("sword" / "blade") and paraphrases score near zero. It
/// needs no key and no network, and gives the same vector for the same text on every run and
/// machine: features are placed with a fixed hash (FNV-1a 64 with a murmur3 finaliser), never
/// `std`'s randomly seeded hasher. Use it for development, tests and offline demos; use a
/// real model (`openai`) for semantic search.
///
/// Method: signed feature hashing. Each word adds ±weight at a hashed coordinate (function
/// words weigh 0.25), each adjacent pair adds ±0.5 × the weaker word's weight at another,
/// then the vector is L2-normalised. A text with no letters or digits ("!!!", "🙂") falls
/// back to its whitespace-separated chunks as words.
///
/// Empty or whitespace-only text is refused with [`EmbedError::Rejected`]: it has no
/// features, and a zero vector cannot be normalised (the vector store refuses it too).
///
/// Limits: text is not Unicode-normalised (a decomposed accent splits a word), and scripts
/// written without spaces (Chinese, Japanese) become one word per run of characters.
#[derive(Debug, Clone)]
pub struct HashEmbedder {
    dimension: usize,
}

impl HashEmbedder {
    /// A hash embedder producing `dimension`-long vectors.
    ///
    /// # Panics
    /// If `dimension` is 0 ([`super::build`] checks this and returns an error instead).
    pub fn new(dimension: usize) -> Self {
        assert!(dimension > 0, "HashEmbedder needs a dimension above 0");
        HashEmbedder { dimension }
    }

    /// The vector of one text, synchronously (the work is a few microseconds of hashing).
    pub fn embed_text(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        let words = tokens(text);
        if words.is_empty() {
            return Err(EmbedError::Rejected(
                "text is empty or whitespace only".into(),
            ));
        }
        let weights: Vec<f32> = words.iter().map(|w| word_weight(w)).collect();
        let mut vector = vec![0.0f32; self.dimension];
        for (word, &weight) in words.iter().zip(&weights) {
            self.add_feature(&mut vector, &[b"w", word.as_bytes()], weight);
        }
        for (pair, pair_weights) in words.windows(2).zip(weights.windows(2)) {
            let weight = BIGRAM_WEIGHT * pair_weights[0].min(pair_weights[1]);
            self.add_feature(
                &mut vector,
                &[b"b", pair[0].as_bytes(), pair[1].as_bytes()],
                weight,
            );
        }
        // Signed features can cancel out exactly (e.g. two features of equal weight on the
        // same coordinate with opposite signs); that is astronomically rare but possible.
        normalise(&mut vector).map_err(|e| {
            EmbedError::Permanent(format!("hash features of the text cancel out: {e}"))
        })?;
        Ok(vector)
    }

    fn add_feature(&self, vector: &mut [f32], parts: &[&[u8]], weight: f32) {
        let h = feature_hash(parts);
        // Low bit: sign, so that colliding features cancel on average instead of piling up.
        let sign = if h & 1 == 1 { -1.0 } else { 1.0 };
        let index = ((h >> 1) % vector.len() as u64) as usize;
        vector[index] += sign * weight;
    }
}

impl Default for HashEmbedder {
    fn default() -> Self {
        HashEmbedder::new(DEFAULT_DIMENSION)
    }
}

impl Embedder for HashEmbedder {
    fn model(&self) -> &str {
        HASH_MODEL
    }

    fn dimension(&self) -> usize {
        self.dimension
    }

    fn embed<'a>(
        &'a self,
        texts: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Vec<f32>>, EmbedError>> {
        Box::pin(async move {
            check_not_blank(texts)?;
            texts.iter().map(|t| self.embed_text(t)).collect()
        })
    }
}

/// FNV-1a 64 over the parts (each followed by a 0x1F separator so that ("ab","c") and
/// ("a","bc") differ), then murmur3's fmix64 so that every output bit depends on every input
/// bit (FNV's low bits alone mix poorly, and we use them for the sign and the index).
fn feature_hash(parts: &[&[u8]]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    for part in parts {
        for &byte in part.iter().chain(std::iter::once(&0x1f)) {
            h ^= u64::from(byte);
            h = h.wrapping_mul(PRIME);
        }
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

/// Whether `word` (lowercase) is one of the English function words that carry
/// little meaning ("the", "of", ...). Keyword search leaves them out of queries.
pub fn is_stopword(word: &str) -> bool {
    STOPWORDS.binary_search(&word).is_ok()
}

fn word_weight(word: &str) -> f32 {
    if is_stopword(word) {
        STOPWORD_WEIGHT
    } else {
        1.0
    }
}

/// Lowercased, stemmed words: runs of letters and digits (any script). Apostrophes inside a
/// word are dropped ("don't" -> "dont", "king's" -> "kings" -> "king"); every other
/// non-alphanumeric character separates words.
pub(crate) fn tokens(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() {
            current.extend(c.to_lowercase());
        } else if c == '\'' || c == '\u{2019}' {
            // Apostrophes join: skip them without ending the word.
        } else if !current.is_empty() {
            words.push(stem(&current));
            current.clear();
        }
    }
    if !current.is_empty() {
        words.push(stem(&current));
    }
    if words.is_empty() {
        // No letters or digits at all ("!!!", "🙂"): the raw chunks still tell texts apart.
        words = text.split_whitespace().map(str::to_lowercase).collect();
    }
    words
}

/// A light English suffix stemmer, applied only to words of ASCII letters (other scripts
/// are left alone). It folds the commonest inflections (-s, -ies, -ing, -ed); it is not
/// Porter, and it does not try to be.
pub(crate) fn stem(word: &str) -> String {
    if !word.bytes().all(|b| b.is_ascii_lowercase()) {
        return word.to_string();
    }
    let n = word.len();
    if n >= 5 && word.ends_with("ies") {
        return format!("{}y", &word[..n - 3]);
    }
    if word.ends_with("sses") {
        return word[..n - 2].to_string();
    }
    if n >= 6 && word.ends_with("ing") {
        let base = &word[..n - 3];
        if base.len() >= 3 && base.bytes().any(is_vowel) {
            return undouble(base);
        }
        return word.to_string();
    }
    if n >= 6 && word.ends_with("ed") {
        let base = &word[..n - 2];
        if base.bytes().any(is_vowel) {
            return undouble(base);
        }
        return word.to_string();
    }
    if n >= 4
        && word.ends_with('s')
        && !(word.ends_with("ss") || word.ends_with("us") || word.ends_with("is"))
    {
        return word[..n - 1].to_string();
    }
    word.to_string()
}

fn is_vowel(b: u8) -> bool {
    matches!(b, b'a' | b'e' | b'i' | b'o' | b'u' | b'y')
}

/// "runn" -> "run", "stopp" -> "stop"; but "kill", "pass", "buzz" keep their double letter.
fn undouble(base: &str) -> String {
    let bytes = base.as_bytes();
    let n = bytes.len();
    if n >= 2
        && bytes[n - 1] == bytes[n - 2]
        && !is_vowel(bytes[n - 1])
        && !matches!(bytes[n - 1], b'l' | b's' | b'z')
    {
        return base[..n - 1].to_string();
    }
    base.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dot(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    fn embed(text: &str) -> Vec<f32> {
        HashEmbedder::default().embed_text(text).expect("embeds")
    }

    #[test]
    fn stopwords_are_sorted_for_binary_search() {
        assert!(STOPWORDS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn tokens_lowercase_strip_punctuation_and_stem() {
        assert_eq!(
            tokens("The King's dragons ATTACKED, attacking: stories!"),
            ["the", "king", "dragon", "attack", "attack", "story"]
        );
        assert_eq!(tokens("don't stop running"), ["dont", "stop", "run"]);
        assert_eq!(
            tokens("killed string bring kiss bus"),
            ["kill", "string", "bring", "kiss", "bus"]
        );
        // Unicode-aware: accented letters and other scripts stay inside words.
        assert_eq!(
            tokens("Élan vital — Ärger über Ölfässer"),
            ["élan", "vital", "ärger", "über", "ölfässer"]
        );
        assert_eq!(tokens("дракон атакует"), ["дракон", "атакует"]);
        assert_eq!(tokens("!!! ???"), ["!!!", "???"]);
        assert!(tokens("  \t\n").is_empty());
    }

    #[test]
    fn same_text_gives_the_same_unit_vector() {
        let a = embed("The blacksmith forged a sword for the guard.");
        let b = embed("The blacksmith forged a sword for the guard.");
        assert_eq!(a, b);
        assert_eq!(a.len(), 1536);
        assert!((dot(&a, &a) - 1.0).abs() < 1e-5);
    }

    #[test]
    fn shared_words_score_higher_than_unrelated_text() {
        let query = embed("the dragon attacked the village");
        let related = embed("A dragon attacks a village near the river");
        let unrelated = embed("The merchant sells bread and cheese");
        let s_related = dot(&query, &related);
        let s_unrelated = dot(&query, &unrelated);
        assert!(s_related > 0.5, "related score {s_related}");
        assert!(s_unrelated < 0.2, "unrelated score {s_unrelated}");
        assert!(s_related > s_unrelated + 0.4);
    }

    #[test]
    fn word_order_matters_a_little_through_bigrams() {
        let a = embed("red dragon blue knight");
        let same_pairs = embed("red dragon and blue knight");
        let swapped = embed("blue dragon red knight");
        assert!(dot(&a, &same_pairs) > dot(&a, &swapped));
        // Same words either way: still a high score.
        assert!(dot(&a, &swapped) > 0.6);
    }

    #[test]
    fn empty_text_is_refused() {
        let e = HashEmbedder::default();
        assert!(matches!(e.embed_text(""), Err(EmbedError::Rejected(_))));
        assert!(matches!(
            e.embed_text(" \n\t "),
            Err(EmbedError::Rejected(_))
        ));
        // Punctuation alone is not empty.
        assert!(e.embed_text("?!").is_ok());
    }

    #[test]
    fn punctuation_only_texts_differ() {
        assert!(dot(&embed("!!!"), &embed("???")) < 0.5);
    }

    #[tokio::test]
    async fn trait_embed_keeps_order_and_names_a_blank_input() {
        let e = HashEmbedder::new(64);
        let texts = vec!["alpha".to_string(), "beta".to_string()];
        let out = e.embed(&texts).await.expect("embeds");
        assert_eq!(
            out,
            vec![
                e.embed_text("alpha").expect("alpha"),
                e.embed_text("beta").expect("beta")
            ]
        );
        assert!(e.embed(&[]).await.expect("empty ok").is_empty());
        let bad = vec!["alpha".to_string(), "".to_string()];
        assert_eq!(
            e.embed(&bad).await,
            Err(EmbedError::Rejected(
                "input 1 is empty or whitespace only".into()
            ))
        );
    }

    /// Pins the hash itself: if any of these change, stored `mnemo-hash-v1` vectors no longer
    /// match new ones, and the model name must change with the code.
    #[test]
    fn known_values_are_pinned() {
        // FNV-1a 64 + fmix64 of "w" 0x1F "dragon" 0x1F, checked against an independent
        // implementation.
        assert_eq!(feature_hash(&[b"w", b"dragon"]), PINNED_DRAGON_HASH);

        // One word: a single coordinate of ±1.
        let v = embed("dragon");
        let nonzero: Vec<(usize, f32)> = v
            .iter()
            .copied()
            .enumerate()
            .filter(|&(_, x)| x != 0.0)
            .collect();
        assert_eq!(nonzero, PINNED_DRAGON);

        let v = embed("The dragon attacked the village!");
        for &(i, x) in PINNED_SENTENCE {
            assert!((v[i] - x).abs() < 1e-6, "coordinate {i}: {} != {x}", v[i]);
        }
        let nonzero = v.iter().filter(|&&x| x != 0.0).count();
        assert_eq!(nonzero, PINNED_SENTENCE.len());
    }

    // Values computed by an independent Python implementation of the same hash and weights.
    const PINNED_DRAGON_HASH: u64 = 5_751_942_990_978_970_258;
    const PINNED_DRAGON: &[(usize, f32)] = &[(329, 1.0)];
    /// All eight non-zero coordinates: "dragon", "attack", "village" (1.0), "the" twice
    /// (0.25 + 0.25), and the four pairs (0.5 x the weaker word), over the norm sqrt(3.5468...).
    const PINNED_SENTENCE: &[(usize, f32)] = &[
        (196, 0.066_372_33),
        (329, 0.530_978_7),
        (1216, 0.066_372_33),
        (1228, -0.066_372_33),
        (1295, 0.530_978_7),
        (1348, -0.530_978_7),
        (1390, 0.265_489_3),
        (1440, -0.265_489_3),
    ];
}
