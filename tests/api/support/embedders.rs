//! A provider whose behaviour a test scripts: answering (as the offline hash
//! provider), down (a transient failure), refusing texts that contain a word (an
//! HTTP 400 for that input), or holding its next call at a gate until released.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use mnemo::embed::{EmbedError, Embedder, HashEmbedder};
use tokio::sync::Notify;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Up,
    /// Every call fails as an outage does.
    Down,
    /// A call whose inputs contain this word is rejected; others answer.
    Refuse(String),
}

pub struct Scripted {
    hash: HashEmbedder,
    mode: Mutex<Mode>,
    calls: AtomicUsize,
    hold: Mutex<bool>,
    entered: Notify,
    release: Notify,
}

impl Scripted {
    /// At the dimension of the default hash provider, under its model name, so
    /// rows it writes look like the default provider's.
    pub fn new(mode: Mode) -> Arc<Self> {
        Arc::new(Self {
            hash: HashEmbedder::new(1536),
            mode: Mutex::new(mode),
            calls: AtomicUsize::new(0),
            hold: Mutex::new(false),
            entered: Notify::new(),
            release: Notify::new(),
        })
    }

    pub fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// Calls made so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Hold the next call until [`release`](Self::release); [`entered`](Self::entered)
    /// completes once it has started.
    pub fn hold_next(&self) {
        *self.hold.lock().unwrap() = true;
    }

    pub async fn entered(&self) {
        self.entered.notified().await
    }

    pub fn release(&self) {
        self.release.notify_one();
    }
}

impl Embedder for Scripted {
    fn model(&self) -> &str {
        self.hash.model()
    }

    fn dimension(&self) -> usize {
        self.hash.dimension()
    }

    fn embed<'a>(
        &'a self,
        texts: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Vec<f32>>, EmbedError>> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let held = std::mem::take(&mut *self.hold.lock().unwrap());
            if held {
                self.entered.notify_one();
                self.release.notified().await;
            }
            let mode = self.mode.lock().unwrap().clone();
            match mode {
                Mode::Up => self.hash.embed(texts).await,
                Mode::Down => Err(EmbedError::Transient("HTTP 503: scripted outage".into())),
                Mode::Refuse(word) if texts.iter().any(|t| t.contains(&word)) => Err(
                    EmbedError::Rejected(format!("HTTP 400: input contains {word:?}")),
                ),
                Mode::Refuse(_) => self.hash.embed(texts).await,
            }
        })
    }
}

/// The offline hash provider under another model's name: a store that searches
/// vectors recorded as that model's (imported ones) without calling it.
pub struct Named {
    hash: HashEmbedder,
    model: &'static str,
}

impl Named {
    pub fn new(model: &'static str) -> Arc<Self> {
        Arc::new(Self {
            hash: HashEmbedder::new(1536),
            model,
        })
    }
}

impl Embedder for Named {
    fn model(&self) -> &str {
        self.model
    }

    fn dimension(&self) -> usize {
        self.hash.dimension()
    }

    fn embed<'a>(
        &'a self,
        texts: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Vec<f32>>, EmbedError>> {
        self.hash.embed(texts)
    }
}
