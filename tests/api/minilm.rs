//! The `minilm` provider on the real all-MiniLM-L6-v2 weights.
//!
//! These tests need the model: `scripts/fetch-model` (or `mnemo model fetch`) installs it
//! into `$MNEMO_MODEL_DIR` or `${XDG_CACHE_HOME:-$HOME/.cache}/mnemo/all-MiniLM-L6-v2`.
//! Without it they fail, naming that command.

use std::sync::{Arc, OnceLock};

use crate::support::minilm::model_dir;
use mnemo::embed::{self, EmbedSettings, MiniLmEmbedder};

fn model() -> &'static MiniLmEmbedder {
    static MODEL: OnceLock<Arc<MiniLmEmbedder>> = OnceLock::new();
    MODEL.get_or_init(crate::support::minilm::model)
}

fn embed(texts: &[&str]) -> Vec<Vec<f32>> {
    let texts: Vec<String> = texts.iter().map(|t| (*t).to_owned()).collect();
    model().embed_blocking(&texts).expect("embeds")
}

fn one(text: &str) -> Vec<f32> {
    embed(&[text]).remove(0)
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn vectors_have_384_dimensions_and_unit_length() {
    let vectors = embed(&[
        "The innkeeper keeps a cot by the fire.",
        "x",
        "A very long sentence about barrow wights, drakes, caravans and the twin moons of Halvern.",
    ]);
    assert_eq!(vectors.len(), 3);
    for v in &vectors {
        assert_eq!(v.len(), 384);
        let norm = v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
        assert!(v.iter().all(|x| x.is_finite()));
    }
}

#[test]
fn output_is_deterministic_across_calls_and_loads() {
    let text = "Can you sharpen my sword before I go into the barrows?";
    let first = one(text);
    assert_eq!(first, one(text), "same model, same call");
    let reloaded = MiniLmEmbedder::load(&model_dir()).expect("loads again");
    let again = reloaded
        .embed_blocking(&[text.to_owned()])
        .expect("embeds")
        .remove(0);
    assert_eq!(first, again, "a fresh load gives the same bits");
}

#[test]
fn a_batch_gives_the_same_vectors_as_single_calls() {
    // Varied lengths, so the batch pads most of them.
    let texts = [
        "Hi.",
        "Where can I buy lamp oil?",
        "The Lantern Watch patrols in pairs after dark and keeps the lamplighters safe on the harbour wall.",
        "Old Tamsin brews a bitter tea of marshwort and willow bark that breaks fen fever in three days, if you stay out of the mist.",
        "Dune stalkers hunt by sound.",
        "Ten bits make a mark and twenty marks make a crown.",
        "Is it safe?",
        "The great lens of the Sunken Observatory is a disc of flawless glass as wide as a cart, restored by the Quiet Moon Circle, who watch the red moon through it every night.",
    ];
    let batch = embed(&texts);
    assert_eq!(batch.len(), texts.len());
    for (text, from_batch) in texts.iter().zip(&batch) {
        let single = one(text);
        let diff = max_diff(&single, from_batch);
        assert!(diff < 1e-5, "{text:?}: batch and single differ by {diff}");
    }
}

#[test]
fn sanity_properties() {
    let a = one("The harbour lamps burn all night.");
    // Identical sentences: similarity 1.
    assert!((dot(&a, &one("The harbour lamps burn all night.")) - 1.0).abs() < 1e-5);
    // The model is uncased: case and surrounding whitespace do not change the vector.
    let shouted = one("  THE HARBOUR LAMPS BURN ALL NIGHT.  ");
    assert!(max_diff(&a, &shouted) < 1e-5);
    // Related beats unrelated, and every similarity is a cosine.
    let related = dot(
        &a,
        &one("Lights on the harbour wall are kept lit until dawn."),
    );
    let unrelated = dot(
        &a,
        &one("Thornback boars tire quickly after a few charges."),
    );
    assert!(related > unrelated, "{related} <= {unrelated}");
    assert!((-1.0..=1.0).contains(&unrelated));
    // Word order matters to a transformer, unlike to a bag of words.
    let swapped = one("The dog bit the man.");
    assert!(dot(&swapped, &one("The man bit the dog.")) < 0.9999);
}

#[test]
fn inputs_are_truncated_at_256_tokens_not_128() {
    // Common words are one WordPiece token each. 150 of them: past the tokenizer.json
    // default of 128 tokens, within 256.
    let words = |n: usize| {
        const COMMON: [&str; 10] = [
            "the", "moon", "boat", "fire", "road", "salt", "king", "wolf", "tree", "lamp",
        ];
        (0..n).map(|i| COMMON[i % 10]).collect::<Vec<_>>().join(" ")
    };
    let medium = words(150);
    let changed = format!("{medium} and one more thing about boars");
    assert!(
        max_diff(&one(&medium), &one(&changed)) > 1e-3,
        "text past 128 tokens must still count"
    );
    // Far past 256 tokens: what comes after the cut changes nothing.
    let long = words(400);
    let longer = format!("{long} and a tail about fen fever and eels");
    assert!(max_diff(&one(&long), &one(&longer)) < 1e-6);
}

/// (anchor, paraphrase, unrelated) from the demo world. The unrelated sentence shares the
/// setting (and sometimes a word) but not the meaning.
const TRIPLES: [(&str, &str, &str); 20] = [
    (
        "Can you sharpen my sword before I go into the barrows?",
        "Would you hone my blade before I head down to the burial mounds?",
        "The eel catchers sell their catch on a floating market every morning.",
    ),
    (
        "Is there a free room at the inn tonight?",
        "Do you have a bed available for this evening?",
        "The drake breathed sparks and raked at our shoulders.",
    ),
    (
        "The tide reavers are hiding in Wreckers' Cove.",
        "Pirates have been using the caves at Wreckers' Cove as a hideout.",
        "The smiths quench their steel in three cold stone pools.",
    ),
    (
        "I have chills, sweats and nightmares about drowning.",
        "I'm shivering and feverish and I keep dreaming that I'm underwater.",
        "Caravans leave for Cinderhold every tenth day.",
    ),
    (
        "How much does a new shield cost?",
        "What is the price of a shield?",
        "The wardens swear their oaths beneath the great oak.",
    ),
    (
        "Wolves followed our party for miles through the forest.",
        "A pack of wolves trailed us a long way through the woods.",
        "The harbour master records every cargo in her ledgers.",
    ),
    (
        "The red moon is drifting closer every year.",
        "Each year the crimson moon comes a little nearer to us.",
        "Fish stew and black beer cost four copper bits.",
    ),
    (
        "Please bless my boat before I sail.",
        "Would you say a blessing over my ship before the voyage?",
        "The ore weighers test every cart that comes down from the mines.",
    ),
    (
        "A marsh creature bit my leg on the causeway.",
        "Something in the swamp water bit me on the leg while I crossed the road.",
        "The map sellers all claim to have the only true chart.",
    ),
    (
        "I want to join the city guard.",
        "How do I enlist in the watch?",
        "Salt from the southern pans preserves fish for the whole continent.",
    ),
    (
        "I can't repay my loan this month.",
        "I don't have the money to pay back what I owe you yet.",
        "Pilgrims leave ribbons on the willow branches for the dead.",
    ),
    (
        "The storm bell rang and the harbour is closed.",
        "The port has shut because the storm warning sounded.",
        "Apprentices carry coal through the lanes of the forge quarter.",
    ),
    (
        "Where can I hire guards for my caravan?",
        "Who can I pay to protect my wagons on the road?",
        "The lurker dragged a fighter under the water.",
    ),
    (
        "The bandits ambushed us from both sides of the road.",
        "Outlaws attacked our group from either side of the highway.",
        "The astronomers watch the moons through a great lens.",
    ),
    (
        "Do not cut living trees in this forest.",
        "Felling live trees in these woods is forbidden.",
        "Drake scales sell for ten bits apiece.",
    ),
    (
        "Give me a bowl of hot soup, please.",
        "I'd like some warm stew, if you would.",
        "The beacon burns green when the garrison rides out.",
    ),
    (
        "My brother was lost at sea last winter.",
        "Last winter my brother drowned when his ship went down.",
        "The guild stamps every blade with a hammer and a flame.",
    ),
    (
        "The boar charged me again and again until it got tired.",
        "The wild pig kept rushing at me until it was exhausted.",
        "The archive holds four hundred years of star records.",
    ),
    (
        "Walk softly in the desert or the sand hunters will hear you.",
        "Keep quiet in the dunes, because the creatures there hunt by sound.",
        "The chapel gives free bread to anyone who asks.",
    ),
    (
        "Thank you for bringing the herbs I asked for.",
        "I'm grateful you fetched the plants I needed.",
        "The mine's lowest galleries break into ancient tunnels.",
    ),
];

/// All 20: each unrelated sentence was chosen to share nothing but the setting, so a
/// working sentence encoder should never rank it above a paraphrase. (A sloppier set,
/// where the unrelated sentence repeats the anchor's key noun, would justify a 19/20 bar.)
#[test]
fn paraphrases_score_above_unrelated_sentences_in_all_20_triples() {
    let mut texts = Vec::new();
    for (a, p, u) in TRIPLES {
        texts.extend([a, p, u]);
    }
    let vectors = embed(&texts);
    let mut failures = Vec::new();
    let mut margins = Vec::new();
    for (i, (a, _, _)) in TRIPLES.iter().enumerate() {
        let [va, vp, vu] = [&vectors[3 * i], &vectors[3 * i + 1], &vectors[3 * i + 2]];
        let (para, unrel) = (dot(va, vp), dot(va, vu));
        margins.push(para - unrel);
        if para <= unrel {
            failures.push(format!(
                "{a:?}: paraphrase {para:.3} <= unrelated {unrel:.3}"
            ));
        }
    }
    let min = margins.iter().copied().fold(f32::INFINITY, f32::min);
    let mean = margins.iter().sum::<f32>() / margins.len() as f32;
    println!("paraphrase - unrelated margin: min {min:.3}, mean {mean:.3}");
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn the_provider_is_built_by_name_and_embeds_through_the_trait() {
    let settings = EmbedSettings {
        model_dir: Some(model_dir()),
        ..EmbedSettings::default()
    };
    let provider = embed::build("minilm", &settings).expect("builds");
    assert_eq!(provider.model(), "all-MiniLM-L6-v2");
    assert_eq!(provider.dimension(), 384);
    assert_eq!(embed::dimension_of("minilm", &settings), Some(384));
    assert!(provider.embed(&[]).await.expect("empty").is_empty());
    let texts = vec!["Where is the Tide Chapel?".to_owned()];
    let via_trait = provider.embed(&texts).await.expect("embeds").remove(0);
    assert!(max_diff(&via_trait, &one(&texts[0])) < 1e-6);
    let blank = provider.embed(&["ok".into(), "  ".into()]).await;
    assert!(matches!(blank, Err(embed::EmbedError::Rejected(m)) if m.contains("input 1")));
}

/// sentence-transformers cannot run here (no torch offline), so the reference is an
/// independent float64 NumPy re-implementation of the BERT forward pass, mean pooling and
/// normalisation, on the same weights and the Python `tokenizers` package: the first eight
/// components and the sum of all 384. It checks the wiring (weights, pooling, truncation,
/// tokenizer settings), not the original library.
#[test]
fn matches_an_independent_float64_reference() {
    let cases: [(&str, [f32; 8], f32); 2] = [
        (
            "The harbour lamps burn all night.",
            [
                0.065331, 0.03601, 0.080349, 0.020193, 0.077014, -0.036115, -0.004783, -0.105828,
            ],
            0.817_636,
        ),
        (
            "Can you sharpen my sword before I go into the barrows?",
            [
                0.01511, -0.019123, -0.036513, 0.039502, -0.057352, -0.032329, 0.040247, -0.052356,
            ],
            0.004_699,
        ),
    ];
    for (text, head, sum) in cases {
        let v = one(text);
        let diff = max_diff(&v[..8], &head);
        assert!(
            diff < 1e-4,
            "{text:?}: head {:?} differs by {diff}",
            &v[..8]
        );
        let got: f32 = v.iter().sum();
        assert!((got - sum).abs() < 1e-3, "{text:?}: sum {got} vs {sum}");
    }
}

/// NPC 1's memories on `backend`, embedded by the local model: talk of the
/// town's harvest, a blacksmith, and a caravan guide with a rare name.
async fn gossip(backend: &str) -> (crate::support::db::TestDb, mnemo::memory::MemoryStore) {
    use mnemo::db::migrate::{self, MigrateParams};
    let t = crate::support::db::TestDb::empty(backend).await;
    let params = MigrateParams {
        embedding_dim: 384,
        ..MigrateParams::default()
    };
    migrate::migrate(&t.db, &mnemo::db::Alias::ALL, &params, None)
        .await
        .expect("migrate at 384 dimensions");
    let settings = EmbedSettings {
        model_dir: Some(model_dir()),
        ..EmbedSettings::default()
    };
    let provider = embed::build("minilm", &settings).expect("builds");
    let store = crate::support::db::memory_store_with(&t.db, provider).await;
    let said = [
        "People in town fear the harvest will be poor this year",
        "The town expects a late harvest after the rains",
        "Town folk pray for a good harvest",
        "The harvest in town was the best in years",
        "The blacksmith forges swords and axes for the garrison",
        "The caravan guide Qorvath charges too much",
    ];
    for summary in said {
        store
            .store::<mnemo::memory::Npc>(mnemo::memory::NewNpcMemory {
                npc_id: 1,
                summary: Some(summary.into()),
                ..mnemo::memory::NewNpcMemory::default()
            })
            .await
            .expect("store");
    }
    (t, store)
}

async fn summaries(
    store: &mnemo::memory::MemoryStore,
    query: &str,
    mode: mnemo::memory::SearchMode,
    top_k: usize,
) -> Vec<String> {
    let found = store
        .search_npc(&mnemo::memory::NpcSearch {
            npc_id: 1,
            query: Some(query.into()),
            mode,
            top_k,
            ..mnemo::memory::NpcSearch::default()
        })
        .await
        .expect("search");
    found.into_iter().map(|r| r.memory.summary).collect()
}

/// Where each search mode wins with a real model: a rare name the vectors rank
/// low but keywords find first; a paraphrase only the vectors find; hybrid
/// finding both.
async fn each_search_mode_wins_where_it_should(backend: &str) {
    use mnemo::memory::SearchMode::{Hybrid, Keyword, Vector};
    let (_t, store) = gossip(backend).await;
    let guide = "The caravan guide Qorvath charges too much".to_owned();
    let smith = "The blacksmith forges swords and axes for the garrison".to_owned();

    let name = "what did Qorvath say about the town harvest";
    let by_vector = summaries(&store, name, Vector, 6).await;
    let rank = by_vector.iter().position(|s| *s == guide).expect("ranked");
    assert!(
        rank >= 2,
        "the model ranks the rare name low: {by_vector:#?}"
    );
    assert_eq!(
        summaries(&store, name, Keyword, 1).await,
        vec![guide.clone()]
    );

    let paraphrase = "who makes weapons around here";
    assert_eq!(
        summaries(&store, paraphrase, Vector, 1).await,
        vec![smith.clone()]
    );
    assert!(summaries(&store, paraphrase, Keyword, 3).await.is_empty());

    let both = "who makes weapons, and what of Qorvath";
    let by_vector = summaries(&store, both, Vector, 2).await;
    let by_words = summaries(&store, both, Keyword, 2).await;
    let fused = summaries(&store, both, Hybrid, 2).await;
    assert!(!by_words.contains(&smith), "{by_words:?}");
    assert!(by_vector.contains(&smith), "{by_vector:?}");
    assert!(
        fused.contains(&guide) && fused.contains(&smith),
        "{fused:#?}"
    );
}

on_both_backends!(each_search_mode_wins_where_it_should);
