//! "Has anything been committed to this SQLite database since?", answered
//! without a query.
//!
//! In WAL mode every commit, by any process, rewrites the WAL-index header: the
//! first 96 bytes of `<db>-shm`, two copies of a header whose change counter
//! moves with each transaction and whose salts change when the log restarts
//! (<https://www.sqlite.org/walformat.html>). Reading them is one `pread`; asking
//! the database is a query through sqlx's connection thread, two thread
//! hand-offs that cost more than the in-memory search they guard.
//!
//! A reader that sees the same bytes as when it last caught up may skip the
//! catch-up: a commit that is not in the header is not visible to any reader
//! yet either. A torn read (racing a commit) differs from both the old and the
//! new header, so it only costs one catch-up that was needed anyway.
//!
//! The descriptor is never closed. POSIX advisory locks belong to a process and
//! a file, and closing *any* descriptor of the file drops *all* of the process's
//! locks on it, including the WAL locks SQLite's own connections hold on `-shm`
//! (<https://www.sqlite.org/howtocorrupt.html>, §2.2). SQLite deletes `-shm`
//! when the last connection of every process closes, so a later one is another
//! file: the watch notices the new inode, opens it, and keeps the old
//! descriptor open as well.

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The WAL-index header as read at one moment.
pub type WalStamp = [u8; 96];

/// How many replaced `-shm` descriptors are kept open before the watch gives up
/// and reports "unknown" for good (each replacement needs every connection of
/// every process to have closed, so a serving process sees few if any).
const MAX_RETIRED: usize = 64;

/// Watches one database's WAL index.
pub struct WalWatch {
    shm: PathBuf,
    files: Mutex<Files>,
}

#[derive(Default)]
struct Files {
    /// The open `-shm` and its (device, inode).
    current: Option<(File, (u64, u64))>,
    /// Descriptors of `-shm` files since replaced: open for the process's life.
    retired: Vec<File>,
}

impl WalWatch {
    /// A watch on the WAL index of the database file `database`.
    pub fn for_database(database: &Path) -> Self {
        let mut shm = database.as_os_str().to_owned();
        shm.push("-shm");
        Self {
            shm: shm.into(),
            files: Mutex::new(Files::default()),
        }
    }

    /// The header now, or `None` when it cannot be read (no `-shm`: an
    /// in-memory database, another journal mode, or a file being replaced).
    /// `None` never equals a stamp, so a caller comparing stamps catches up.
    pub fn stamp(&self) -> Option<WalStamp> {
        let on_disk = file_id(&std::fs::metadata(&self.shm).ok()?);
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        if files.current.as_ref().map(|(_, id)| *id) != Some(on_disk) {
            if files.retired.len() >= MAX_RETIRED {
                return None;
            }
            let file = File::open(&self.shm).ok()?;
            // The id of what was opened, which a replacement racing the open
            // may make differ from `on_disk`: the next stamp then rotates again.
            let id = file_id(&file.metadata().ok()?);
            if let Some((old, _)) = files.current.replace((file, id)) {
                files.retired.push(old);
            }
        }
        let (file, _) = files.current.as_ref()?;
        let mut header = [0u8; 96];
        file.read_exact_at(&mut header, 0).ok()?;
        Some(header)
    }
}

fn file_id(meta: &std::fs::Metadata) -> (u64, u64) {
    (meta.dev(), meta.ino())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool};

    async fn pool(path: &Path) -> SqlitePool {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal);
        SqlitePool::connect_with(options).await.expect("open")
    }

    /// A WAL database in `dir` with an empty table `t`, and a connection to it.
    async fn database(dir: &tempfile::TempDir) -> (std::path::PathBuf, SqlitePool) {
        let path = dir.path().join("db.sqlite");
        let pool = pool(&path).await;
        sqlx::query("CREATE TABLE t (v INTEGER)")
            .execute(&pool)
            .await
            .expect("create");
        (path, pool)
    }

    async fn insert(pool: &SqlitePool, v: i64) {
        sqlx::query("INSERT INTO t (v) VALUES ($1)")
            .bind(v)
            .execute(pool)
            .await
            .expect("insert");
    }

    #[tokio::test]
    async fn a_commit_by_another_connection_changes_the_stamp_and_reads_do_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, writer) = database(&dir).await;
        let watch = WalWatch::for_database(&path);
        let before = watch.stamp().expect("a WAL database has a readable header");

        let reader = pool(&path).await;
        let count: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM t")
            .fetch_one(&reader)
            .await
            .expect("read");
        assert_eq!(count.0, 0);
        assert_eq!(watch.stamp(), Some(before), "a read commits nothing");

        insert(&writer, 1).await;
        let after = watch.stamp().expect("header");
        assert_ne!(after, before, "a commit rewrites the header");
        insert(&writer, 2).await;
        assert_ne!(watch.stamp(), Some(after), "so does every later one");
    }

    #[tokio::test]
    async fn a_replaced_shm_file_is_followed_and_the_old_descriptor_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, first) = database(&dir).await;
        insert(&first, 1).await;
        let watch = WalWatch::for_database(&path);
        let seen = watch.stamp().expect("header");
        let shm = watch.shm.clone();
        let old_inode = std::fs::metadata(&shm).expect("shm").ino();

        // The last connection closing deletes `-shm`; the next one makes a new file.
        first.close().await;
        assert!(
            !shm.exists(),
            "SQLite removes -shm with its last connection"
        );
        assert_eq!(watch.stamp(), None, "no header to read meanwhile");
        let second = pool(&path).await;
        insert(&second, 2).await;
        assert_ne!(std::fs::metadata(&shm).expect("shm").ino(), old_inode);

        let now = watch.stamp().expect("the new file's header");
        assert_ne!(now, seen, "a commit to the new file is seen");
        let files = watch.files.lock().expect("lock");
        assert_eq!(files.retired.len(), 1, "the old descriptor stays open");
    }
}
