//! The local model for the tests that run it (feature `minilm`): found where
//! the service would find it (`MNEMO_MODEL_DIR`, else the user's cache), loaded
//! once per test binary.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use mnemo::cli::settings::Settings;
use mnemo::embed::MiniLmEmbedder;
use mnemo::embed::minilm::{check_model_dir, resolve_model_dir};

/// The model directory; a missing model fails naming the command that installs it.
pub fn model_dir() -> PathBuf {
    let settings = Settings::from_env().expect("settings");
    let configured = settings.embedding.provider_settings.model_dir;
    let dir = resolve_model_dir(configured.as_deref()).expect("a model directory");
    if let Err(e) = check_model_dir(&dir) {
        panic!("{}", e.message());
    }
    dir
}

/// The model, loaded once.
pub fn model() -> Arc<MiniLmEmbedder> {
    static MODEL: OnceLock<Arc<MiniLmEmbedder>> = OnceLock::new();
    MODEL
        .get_or_init(|| Arc::new(MiniLmEmbedder::load(&model_dir()).expect("the model loads")))
        .clone()
}
