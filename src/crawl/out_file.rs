//! One body being saved under the output directory: written to a temporary file beside its final
//! name, renamed onto that name only when complete.
//!
//! ```ignore
//! let mut file = OutFile::create(Path::new("out"), &path_for(&url))?;
//! file.write_all(b"<html>...")?;
//! let saved = file.commit()?; // out/<host>/<path>; dropping `file` instead leaves nothing
//! ```
//!
//! What it guarantees, for the relative path `rel` ([`path_for`](super::save::path_for)'s):
//!
//! - nothing is written outside `dir` through a symlink already under it: the directories of
//!   `rel` are checked and created one component at a time with [`fs::symlink_metadata`], and a
//!   symlink, or anything that is not a directory, where a directory must be is an error naming
//!   it (`out/host/a is a symlink; not following it`). `dir` itself may be a symlink: the user
//!   chose it;
//! - the body goes to `.<name>.part-<pid>-<n>` in the final directory, opened with
//!   `create_new` (`O_EXCL`) and `O_NOFOLLOW`, so it is a new regular file whatever was there;
//! - [`commit`](OutFile::commit) renames it onto the final name; `rename` replaces a symlink
//!   there instead of following it, and two saves of the same URL each replace the file whole
//!   (the last commit wins; their bytes never mix). A directory at the final name is an error;
//! - an `OutFile` dropped without a commit (the fetch failed, the crawl stopped) removes its
//!   temporary file: no half-written body is left under its final name or any other;
//! - every error names the path it is about, and keeps the [`io::ErrorKind`] of its cause.
//!
//! Not guaranteed: a process racing this one inside `dir` (swapping a checked directory for a
//! symlink between the check and the use) can still redirect a write; closing that needs
//! `openat` on directory handles, which std does not offer without `unsafe`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// How many temporary names [`OutFile::create`] tries before giving up (each is taken only if
/// a file of that name already exists, e.g. left by a killed crawl of the same pid).
const TEMP_TRIES: u32 = 16;

/// A body being written under the output directory; see the module docs.
#[derive(Debug)]
pub(crate) struct OutFile {
    /// The temporary file, open for writing. `None` once committed: from then on `temp` no
    /// longer exists under that name and `Drop` has nothing to remove.
    file: Option<File>,
    /// The temporary file's path, in the same directory as `target`. It exists, and is ours to
    /// remove, exactly while `file` is `Some`.
    temp: PathBuf,
    /// `dir/rel`: where [`OutFile::commit`] puts the body.
    target: PathBuf,
}

impl OutFile {
    /// Creates the directories of `rel` under `dir` (never following a symlink under `dir`) and
    /// a new temporary file beside `dir/rel`. `rel` must be relative, made of normal components
    /// only (as `path_for` makes it); `dir` must be a directory or creatable as one.
    pub(crate) fn create(dir: &Path, rel: &Path) -> io::Result<OutFile> {
        let plain = rel.components().all(|c| matches!(c, Component::Normal(_)));
        let (Some(name), true) = (rel.file_name(), plain) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{:?} is not a plain relative path to save under {}",
                    rel,
                    dir.display()
                ),
            ));
        };
        let target = dir.join(rel);

        match fs::metadata(dir) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(not_a_directory(dir)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(dir).map_err(|e| named(dir, "cannot be created", e))?;
            }
            Err(e) => return Err(named(dir, "cannot be read", e)),
        }

        let mut parent = dir.to_path_buf();
        if let Some(dirs) = rel.parent() {
            for component in dirs.components() {
                parent.push(component);
                ensure_directory(&parent)?;
            }
        }
        if fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) {
            return Err(is_a_directory(&target));
        }

        static NEXT: AtomicU64 = AtomicU64::new(0);
        let mut last_error = None;
        for _ in 0..TEMP_TRIES {
            let mut temp_name = std::ffi::OsString::from(".");
            temp_name.push(name);
            temp_name.push(format!(
                ".part-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            let temp = parent.join(temp_name);
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&temp)
            {
                Ok(file) => {
                    return Ok(OutFile {
                        file: Some(file),
                        temp,
                        target,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_error = Some(e),
                Err(e) => return Err(named(&temp, "cannot be created", e)),
            }
        }
        let e = last_error.unwrap_or_else(|| io::Error::from(io::ErrorKind::AlreadyExists));
        Err(named(&parent, "has no free temporary name", e))
    }

    /// Appends `bytes` to the body.
    pub(crate) fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        // `file` is `None` only after `commit`, which takes `self`.
        let Some(file) = self.file.as_mut() else {
            unreachable!("an OutFile is written after its commit");
        };
        file.write_all(bytes)
            .map_err(|e| named(&self.temp, "cannot be written", e))
    }

    /// Puts the body under its final name, replacing whatever file or symlink is there (not a
    /// directory), and returns that path. On an error the temporary file is removed.
    pub(crate) fn commit(mut self) -> io::Result<PathBuf> {
        // Closed before the rename; `self` still owns `temp` until the rename succeeds.
        drop(self.file.take());
        if fs::symlink_metadata(&self.target).is_ok_and(|m| m.is_dir()) {
            let _ = fs::remove_file(&self.temp);
            return Err(is_a_directory(&self.target));
        }
        if let Err(e) = fs::rename(&self.temp, &self.target) {
            let _ = fs::remove_file(&self.temp);
            let why = format!("cannot be renamed onto {}", self.target.display());
            return Err(named(&self.temp, &why, e));
        }
        Ok(std::mem::take(&mut self.target))
    }
}

impl Drop for OutFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            // Best effort: there is no one to report a failure to, and the name is ours.
            let _ = fs::remove_file(&self.temp);
        }
    }
}

/// Checks that `path` is a real directory (not a symlink to one), creating it if it is absent.
fn ensure_directory(path: &Path) -> io::Result<()> {
    // Twice at most: a directory created by someone else between the check and `create_dir`
    // is checked again.
    for _ in 0..2 {
        match fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(io::Error::other(format!(
                    "{} is a symlink; not following it",
                    path.display()
                )));
            }
            Ok(meta) if meta.is_dir() => return Ok(()),
            Ok(_) => return Err(not_a_directory(path)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => match fs::create_dir(path) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(named(path, "cannot be created", e)),
            },
            Err(e) => return Err(named(path, "cannot be read", e)),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("{} keeps changing; not using it", path.display()),
    ))
}

/// `e`, of the same kind, with a message that names `path` and says what failed.
fn named(path: &Path, what: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{} {what}: {e}", path.display()))
}

fn not_a_directory(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotADirectory,
        format!("{} exists and is not a directory", path.display()),
    )
}

fn is_a_directory(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::IsADirectory,
        format!("{} is a directory; not replacing it", path.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A unique empty directory under the system temp dir, removed (with what is in it) on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            static COUNTER: AtomicU64 = AtomicU64::new(0);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let dir = std::env::temp_dir().join(format!(
                "wisp-out-file-{tag}-{}-{nanos}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            fs::create_dir(&dir).unwrap();
            TempDir(dir)
        }

        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// The names in `dir`, sorted.
    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    fn save(dir: &Path, rel: &str, body: &[u8]) -> io::Result<PathBuf> {
        let mut file = OutFile::create(dir, Path::new(rel))?;
        file.write_all(body)?;
        file.commit()
    }

    #[test]
    fn commit_puts_the_body_at_dir_rel_creating_directories() {
        let t = TempDir::new("commit");
        let saved = save(t.path(), "host/a/b/page.html", b"<html>").unwrap();
        assert_eq!(saved, t.path().join("host/a/b/page.html"));
        assert_eq!(fs::read(&saved).unwrap(), b"<html>");
        // Only the final name is left: the temporary one was renamed.
        assert_eq!(names(&t.path().join("host/a/b")), ["page.html"]);
    }

    #[test]
    fn temporary_file_is_hidden_beside_the_final_name_until_commit() {
        let t = TempDir::new("temp");
        let mut file = OutFile::create(t.path(), Path::new("host/x.html")).unwrap();
        file.write_all(b"part").unwrap();
        let listed = names(&t.path().join("host"));
        assert_eq!(listed.len(), 1);
        assert!(listed[0].starts_with(".x.html.part-"), "{listed:?}");
        file.commit().unwrap();
        assert_eq!(names(&t.path().join("host")), ["x.html"]);
    }

    #[test]
    fn dropped_out_file_leaves_no_file() {
        let t = TempDir::new("drop");
        let mut file = OutFile::create(t.path(), Path::new("host/x.html")).unwrap();
        file.write_all(b"half a bo").unwrap();
        drop(file);
        assert!(names(&t.path().join("host")).is_empty());
    }

    #[test]
    fn missing_dir_is_created() {
        let t = TempDir::new("mkdir");
        let dir = t.path().join("new/out");
        save(&dir, "host/x", b"x").unwrap();
        assert_eq!(fs::read(dir.join("host/x")).unwrap(), b"x");
    }

    #[test]
    fn dir_may_be_a_symlink_the_user_chose() {
        let t = TempDir::new("dirlink");
        fs::create_dir(t.path().join("real")).unwrap();
        symlink(t.path().join("real"), t.path().join("out")).unwrap();
        save(&t.path().join("out"), "host/x", b"x").unwrap();
        assert_eq!(fs::read(t.path().join("real/host/x")).unwrap(), b"x");
    }

    #[test]
    fn dir_that_is_an_existing_file_is_an_error_naming_it() {
        let t = TempDir::new("dirfile");
        let dir = t.path().join("out");
        fs::write(&dir, b"not a dir").unwrap();
        let e = save(&dir, "host/x", b"x").unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{} exists and is not a directory", dir.display())
        );
        assert_eq!(fs::read(&dir).unwrap(), b"not a dir");
    }

    #[test]
    fn symlinked_host_directory_is_refused_and_nothing_is_written_there() {
        let t = TempDir::new("hostlink");
        let elsewhere = TempDir::new("elsewhere");
        let out = t.path().join("out");
        fs::create_dir(&out).unwrap();
        symlink(elsewhere.path(), out.join("host")).unwrap();
        let e = save(&out, "host/a/x.html", b"evil").unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{} is a symlink; not following it",
                out.join("host").display()
            )
        );
        assert!(names(elsewhere.path()).is_empty());
    }

    #[test]
    fn symlink_deeper_down_is_refused_too() {
        let t = TempDir::new("deeplink");
        let elsewhere = TempDir::new("elsewhere");
        fs::create_dir_all(t.path().join("host")).unwrap();
        symlink(elsewhere.path(), t.path().join("host/a")).unwrap();
        let e = save(t.path(), "host/a/b/x.html", b"evil").unwrap_err();
        let a = t.path().join("host/a");
        assert_eq!(
            e.to_string(),
            format!("{} is a symlink; not following it", a.display())
        );
        assert!(names(elsewhere.path()).is_empty());
    }

    #[test]
    fn regular_file_where_a_directory_must_be_is_an_error_naming_it() {
        let t = TempDir::new("fileindir");
        fs::create_dir(t.path().join("host")).unwrap();
        fs::write(t.path().join("host/a"), b"a page").unwrap();
        let e = save(t.path(), "host/a/b.html", b"b").unwrap_err();
        let a = t.path().join("host/a");
        assert_eq!(
            e.to_string(),
            format!("{} exists and is not a directory", a.display())
        );
        assert_eq!(e.kind(), io::ErrorKind::NotADirectory);
        assert_eq!(fs::read(&a).unwrap(), b"a page");
    }

    #[test]
    fn symlink_at_the_final_name_is_replaced_and_its_target_untouched() {
        let t = TempDir::new("finallink");
        let elsewhere = TempDir::new("elsewhere");
        let victim = elsewhere.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        fs::create_dir(t.path().join("host")).unwrap();
        symlink(&victim, t.path().join("host/x.html")).unwrap();
        let saved = save(t.path(), "host/x.html", b"body").unwrap();
        assert!(
            !fs::symlink_metadata(&saved)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read(&saved).unwrap(), b"body");
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
    }

    #[test]
    fn directory_at_the_final_name_is_an_error_naming_it() {
        let t = TempDir::new("finaldir");
        fs::create_dir_all(t.path().join("host/a")).unwrap();
        let e = save(t.path(), "host/a", b"body").unwrap_err();
        let a = t.path().join("host/a");
        assert_eq!(
            e.to_string(),
            format!("{} is a directory; not replacing it", a.display())
        );
        // The directory is as it was, and no temporary file is left beside it.
        assert!(fs::metadata(&a).unwrap().is_dir());
        assert_eq!(names(&t.path().join("host")), ["a"]);
    }

    #[test]
    fn directory_appearing_at_the_final_name_before_commit_is_an_error_and_cleans_up() {
        let t = TempDir::new("latedir");
        let mut file = OutFile::create(t.path(), Path::new("host/a")).unwrap();
        file.write_all(b"body").unwrap();
        fs::create_dir(t.path().join("host/a")).unwrap();
        let e = file.commit().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::IsADirectory);
        assert_eq!(names(&t.path().join("host")), ["a"]);
    }

    #[test]
    fn second_commit_of_the_same_path_leaves_the_second_body_whole() {
        let t = TempDir::new("twice");
        let rel = Path::new("host/x.html");
        let mut first = OutFile::create(t.path(), rel).unwrap();
        let mut second = OutFile::create(t.path(), rel).unwrap();
        first.write_all(b"first, a longer body").unwrap();
        second.write_all(b"second").unwrap();
        first.write_all(b" than the second").unwrap();
        first.commit().unwrap();
        assert_eq!(
            fs::read(t.path().join(rel)).unwrap(),
            b"first, a longer body than the second"
        );
        second.commit().unwrap();
        assert_eq!(fs::read(t.path().join(rel)).unwrap(), b"second");
        assert_eq!(names(&t.path().join("host")), ["x.html"]);
    }

    #[test]
    fn rel_that_is_not_plain_is_refused() {
        let t = TempDir::new("rel");
        for rel in ["../x", "/abs/x", "host/../x", "./x", ""] {
            let e = OutFile::create(t.path(), Path::new(rel)).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{rel}");
            assert_eq!(
                e.to_string(),
                format!(
                    "{rel:?} is not a plain relative path to save under {}",
                    t.path().display()
                )
            );
        }
        assert!(names(t.path()).is_empty());
    }
}
