//! What to tell the API about a file before it sees the bytes.

use std::path::Path;

/// How many leading bytes [`sniff`] needs.
pub const SNIFF_BYTES: usize = 16;

/// The image type a file's first bytes announce, else its extension's; the pipeline trusts neither and
/// sniffs the bytes itself, but the presigned URL is signed for one Content-Type.
pub fn content_type(path: &Path, head: &[u8]) -> Option<&'static str> {
    sniff(head).or_else(|| by_extension(path))
}

/// The accepted image type (jpeg, png, webp, gif, bmp) the first bytes announce.
pub fn sniff(head: &[u8]) -> Option<&'static str> {
    match head {
        [0xFF, 0xD8, 0xFF, ..] => Some("image/jpeg"),
        [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1A, b'\n', ..] => Some("image/png"),
        [b'G', b'I', b'F', b'8', b'7' | b'9', b'a', ..] => Some("image/gif"),
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => Some("image/webp"),
        [b'B', b'M', ..] => Some("image/bmp"),
        _ => None,
    }
}

/// The accepted image type a file name's extension names.
pub fn by_extension(path: &Path) -> Option<&'static str> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("jpg" | "jpeg") => Some("image/jpeg"),
        Some("png") => Some("image/png"),
        Some("gif") => Some("image/gif"),
        Some("webp") => Some("image/webp"),
        Some("bmp") => Some("image/bmp"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_bytes_win_over_the_extension() {
        let png = b"\x89PNG\r\n\x1a\n....";
        assert_eq!(content_type(Path::new("photo.jpg"), png), Some("image/png"));
        assert_eq!(content_type(Path::new("x"), b"\xff\xd8\xff\xe0"), Some("image/jpeg"));
        assert_eq!(
            content_type(Path::new("x"), b"RIFF\0\0\0\0WEBPVP8 "),
            Some("image/webp")
        );
        assert_eq!(content_type(Path::new("notes.JPG"), b"hello"), Some("image/jpeg"));
        assert_eq!(content_type(Path::new("notes.txt"), b"hello"), None);
    }
}
