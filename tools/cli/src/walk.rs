//! The files a `submit` names: files as given, directories (with `--recursive`) walked in sorted order.
//!
//! The order and the names must come out the same on every run over the same tree, because each file's
//! idempotency key is derived from its name: that is what lets a rerun resume instead of duplicating.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::files;

/// One file to submit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Input {
    /// Where to read it.
    pub path: PathBuf,
    /// The filename the API records: the file's name when it was named on the command line, else its
    /// path below the walked directory's parent (`photos/2024/cat.jpg`), with `/` separators.
    pub name: String,
}

#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    #[error("{}: is a directory; pass --recursive to submit the images under it", .0.display())]
    Directory(PathBuf),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WalkError + '_ {
    move |source| WalkError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Every file to submit, in command-line order, each directory's files in sorted order.
///
/// Files named on the command line are taken whatever they hold (the API and pipeline judge them);
/// below a directory only files with an image extension or image bytes are, hidden entries are skipped
/// and symlinked directories are not followed (so a link cannot loop or pull in a second tree).
pub fn collect(paths: &[PathBuf], recursive: bool) -> Result<Vec<Input>, WalkError> {
    let mut inputs = Vec::new();
    for path in paths {
        let metadata = fs::metadata(path).map_err(io(path))?;
        if !metadata.is_dir() {
            inputs.push(Input {
                path: path.clone(),
                name: leaf_name(path),
            });
            continue;
        }
        if !recursive {
            return Err(WalkError::Directory(path.clone()));
        }
        // Named from the directory itself, so `photos` and `/abs/photos` give the same names.
        let root = match path.file_name() {
            Some(name) => name.to_string_lossy().into_owned(),
            None => fs::canonicalize(path)
                .map_err(io(path))?
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        };
        walk(path, &root, &mut inputs)?;
    }
    Ok(inputs)
}

fn leaf_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

fn walk(dir: &Path, prefix: &str, inputs: &mut Vec<Input>) -> Result<(), WalkError> {
    let mut entries = fs::read_dir(dir)
        .map_err(io(dir))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(io(dir))?;
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if file_name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let name = if prefix.is_empty() {
            file_name
        } else {
            format!("{prefix}/{file_name}")
        };
        let kind = entry.file_type().map_err(io(&path))?;
        if kind.is_dir() {
            walk(&path, &name, inputs)?;
            continue;
        }
        let is_file = if kind.is_symlink() {
            // A dangling link is skipped like any other non-file.
            fs::metadata(&path).map(|m| m.is_file()).unwrap_or(false)
        } else {
            kind.is_file()
        };
        if is_file && is_image(&path)? {
            inputs.push(Input { path, name });
        }
    }
    Ok(())
}

/// An accepted image by its extension, else by its first bytes (photos exported without one).
fn is_image(path: &Path) -> Result<bool, WalkError> {
    if files::by_extension(path).is_some() {
        return Ok(true);
    }
    let mut head = Vec::with_capacity(files::SNIFF_BYTES);
    File::open(path)
        .and_then(|file| file.take(files::SNIFF_BYTES as u64).read_to_end(&mut head))
        .map_err(io(path))?;
    Ok(files::sniff(&head).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n rest of a png";

    fn tree() -> PathBuf {
        let root = std::env::temp_dir().join(format!("imgpipe-walk-{}", uuid::Uuid::new_v4()));
        let photos = root.join("photos");
        for dir in ["b", "a/deep", ".hidden-dir", "elsewhere"] {
            fs::create_dir_all(photos.join(dir)).unwrap();
        }
        for (file, bytes) in [
            ("z.jpg", &b"not even a jpeg"[..]),
            ("b/2.png", PNG),
            ("b/10.PNG", PNG),
            ("a/deep/photo", PNG),
            ("a/notes.txt", b"notes"),
            ("a/scan.bmp", b"BM...."),
            (".hidden.png", PNG),
            (".hidden-dir/x.png", PNG),
            ("elsewhere/linked.png", PNG),
        ] {
            fs::write(photos.join(file), bytes).unwrap();
        }
        std::os::unix::fs::symlink(photos.join("elsewhere"), photos.join("a/link-to-dir")).unwrap();
        std::os::unix::fs::symlink(photos.join("b/2.png"), photos.join("a/link-to-file.png")).unwrap();
        std::os::unix::fs::symlink(photos.join("missing.png"), photos.join("a/dangling.png")).unwrap();
        root
    }

    fn names(inputs: &[Input]) -> Vec<&str> {
        inputs.iter().map(|i| i.name.as_str()).collect()
    }

    #[test]
    fn a_tree_is_walked_sorted_without_hidden_entries_or_linked_directories() {
        let root = tree();
        let photos = root.join("photos");
        let inputs = collect(std::slice::from_ref(&photos), true).unwrap();
        assert_eq!(
            names(&inputs),
            vec![
                "photos/a/deep/photo",
                "photos/a/link-to-file.png",
                "photos/a/scan.bmp",
                "photos/b/10.PNG",
                "photos/b/2.png",
                "photos/elsewhere/linked.png",
                "photos/z.jpg",
            ]
        );
        assert_eq!(inputs[0].path, photos.join("a/deep/photo"));
        // The same names from another spelling of the same directory, and on every run.
        let again = collect(&[root.join("photos/../photos/")], true).unwrap();
        assert_eq!(names(&again), names(&inputs));
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn directories_need_recursive_and_named_files_are_taken_as_they_are() {
        let root = tree();
        let photos = root.join("photos");
        let err = collect(std::slice::from_ref(&photos), false).unwrap_err();
        assert!(matches!(err, WalkError::Directory(_)));
        assert!(err.to_string().contains("--recursive"), "{err}");
        let named = collect(&[photos.join("a/notes.txt"), photos.join("b/2.png")], false).unwrap();
        assert_eq!(names(&named), vec!["notes.txt", "2.png"]);
        let missing = collect(&[photos.join("nope.png")], false).unwrap_err();
        assert!(
            matches!(missing, WalkError::Io { .. }) && missing.to_string().contains("nope.png"),
            "{missing}"
        );
        let _ = fs::remove_dir_all(&root);
    }
}
