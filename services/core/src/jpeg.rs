//! Marker-level surgery on JPEG streams, for the reduced-scale decode of large uploads.
//!
//! At 1/8 scale each 8x8 block becomes one pixel whose value is its DC coefficient alone, so the AC
//! coefficients are never used. A baseline JPEG interleaves them with the DC ones and the entropy decoder
//! has to walk through them anyway, but a progressive JPEG sends them in scans of their own, usually most
//! of the file. Dropping those scans before decoding gives the same 1/8-scale pixels for a fraction of the
//! work: libjpeg's scaled decode (Pillow's `draft`) still entropy-decodes every scan.

/// The stream with every AC scan (spectral selection start > 0) removed, when the JPEG is progressive and
/// has at least one. `None` when there is nothing to drop or the marker structure is not what this
/// reader understands; the caller then decodes the original bytes, so `None` is never a verdict on the
/// image. Only valid for a 1/8-scale decode: the dropped scans carry everything but the DC coefficients.
pub fn dc_scans_only(bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.get(..2)? != [0xFF, 0xD8] {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4);
    out.extend_from_slice(&[0xFF, 0xD8]);
    let mut pos = 2;
    let mut progressive = false;
    let mut dropped = 0usize;
    loop {
        // Markers may be preceded by any number of 0xFF fill bytes.
        if *bytes.get(pos)? != 0xFF {
            return None;
        }
        while *bytes.get(pos)? == 0xFF {
            pos += 1;
        }
        let marker = bytes[pos];
        pos += 1;
        match marker {
            EOI => {
                out.extend_from_slice(&[0xFF, EOI]);
                break;
            }
            // Stand-alone markers outside entropy-coded data (restart markers belong inside it).
            0x00 | 0x01 | 0xD0..=0xD7 | SOI => return None,
            _ => {}
        }
        let length = usize::from(u16::from_be_bytes([*bytes.get(pos)?, *bytes.get(pos + 1)?]));
        if length < 2 {
            return None;
        }
        let segment_end = pos.checked_add(length)?;
        let segment = bytes.get(pos..segment_end)?;
        match marker {
            SOF2 => progressive = true,
            // Every other start-of-frame (baseline, extended, lossless, arithmetic) is left to the decoder.
            0xC0 | 0xC1 | 0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => return None,
            _ => {}
        }
        if marker != SOS {
            out.extend_from_slice(&[0xFF, marker]);
            out.extend_from_slice(segment);
            pos = segment_end;
            continue;
        }
        let spectral_start = scan_spectral_start(segment)?;
        let data_end = entropy_data_end(bytes, segment_end)?;
        if spectral_start == 0 {
            out.extend_from_slice(&[0xFF, SOS]);
            out.extend_from_slice(segment);
            out.extend_from_slice(&bytes[segment_end..data_end]);
        } else {
            dropped += 1;
        }
        pos = data_end;
    }
    (progressive && dropped > 0).then_some(out)
}

const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOF2: u8 = 0xC2;
const SOS: u8 = 0xDA;

/// `Ss` of a start-of-scan segment (length, component count, 2 bytes per component, Ss, Se, Ah/Al),
/// after checking that the segment is exactly as long as its component count says.
fn scan_spectral_start(segment: &[u8]) -> Option<u8> {
    let components = usize::from(*segment.get(2)?);
    if components == 0 || segment.len() != 6 + 2 * components {
        return None;
    }
    segment.get(3 + 2 * components).copied()
}

/// Where the entropy-coded data starting at `start` ends: at the first marker that is neither a stuffed
/// 0xFF (FF 00) nor a restart marker (FF D0..D7). Fill bytes before that marker belong to it.
fn entropy_data_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut pos = start;
    loop {
        let offset = bytes.get(pos..)?.iter().position(|&b| b == 0xFF)?;
        pos += offset;
        match *bytes.get(pos + 1)? {
            0x00 | 0xD0..=0xD7 => pos += 2,
            _ => return Some(pos),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-made progressive skeleton: SOI, SOF2, a DC scan, an AC scan, EOI. Only the marker
    /// structure matters to `dc_scans_only`.
    fn skeleton(ac_data: &[u8]) -> Vec<u8> {
        let mut jpeg = vec![0xFF, SOI];
        jpeg.extend_from_slice(&[0xFF, SOF2, 0, 11, 8, 0, 8, 0, 8, 1, 1, 0x11, 0]);
        // DC scan: one component, Ss=0 Se=0, data with a stuffed FF and a restart marker.
        jpeg.extend_from_slice(&[0xFF, SOS, 0, 8, 1, 1, 0, 0, 0, 0]);
        jpeg.extend_from_slice(&[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56]);
        // AC scan: Ss=1 Se=63.
        jpeg.extend_from_slice(&[0xFF, SOS, 0, 8, 1, 1, 0, 1, 63, 0]);
        jpeg.extend_from_slice(ac_data);
        jpeg.extend_from_slice(&[0xFF, 0xFF, EOI]);
        jpeg
    }

    #[test]
    fn drops_the_ac_scan_and_keeps_everything_else_byte_for_byte() {
        let jpeg = skeleton(&[0xAB, 0xFF, 0x00, 0xCD]);
        let dc = dc_scans_only(&jpeg).expect("an AC scan to drop");
        let ac_scan_at = jpeg.windows(2).rposition(|w| w == [0xFF, SOS]).unwrap();
        let mut expected = jpeg[..ac_scan_at].to_vec();
        expected.extend_from_slice(&[0xFF, EOI]);
        assert_eq!(dc, expected);
    }

    #[test]
    fn nothing_to_drop_or_not_progressive_is_none() {
        let jpeg = skeleton(&[]);
        let ac_scan_at = jpeg.windows(2).rposition(|w| w == [0xFF, SOS]).unwrap();
        let mut dc_only = jpeg[..ac_scan_at].to_vec();
        dc_only.extend_from_slice(&[0xFF, EOI]);
        assert_eq!(dc_scans_only(&dc_only), None);

        let mut baseline = jpeg.clone();
        baseline[3] = 0xC0;
        assert_eq!(dc_scans_only(&baseline), None);
    }

    #[test]
    fn malformed_streams_are_none_never_a_panic() {
        let jpeg = skeleton(&[1, 2, 3]);
        for cut in 0..jpeg.len() {
            assert_eq!(dc_scans_only(&jpeg[..cut]), None, "cut at {cut}");
        }
        let mut zero_length = jpeg.clone();
        zero_length[4] = 0; // SOF2 length 0
        zero_length[5] = 0;
        assert_eq!(dc_scans_only(&zero_length), None);
        let mut bad_scan = jpeg.clone();
        bad_scan[19] = 2; // DC scan claims 2 components in a segment sized for 1
        assert_eq!(dc_scans_only(&bad_scan), None);
        assert_eq!(dc_scans_only(b"not a jpeg"), None);
        assert_eq!(dc_scans_only(&[]), None);
        assert_eq!(dc_scans_only(&[0xFF; 64]), None);
    }
}
