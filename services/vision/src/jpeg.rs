//! Marker-level surgery on JPEG streams, for the reduced-scale decode of large uploads.
//!
//! At 1/8 scale each 8x8 block becomes one pixel whose value is its DC coefficient alone, so the AC
//! coefficients are never used. A baseline JPEG interleaves them with the DC ones and the entropy decoder
//! has to walk through them anyway, but a progressive JPEG sends them in scans of their own, usually most
//! of the file. Dropping those scans before decoding gives the same 1/8-scale pixels for a fraction of the
//! work: libjpeg's scaled decode (Pillow's `draft`) still entropy-decodes every scan.

/// The stream with every AC scan (spectral selection start > 0) removed, when the JPEG is progressive and
/// has at least one. `None` when there is nothing to drop or the stream is not what this reader
/// understands; the caller then decodes the original bytes, so `None` is never a verdict on the image.
/// Only valid for a 1/8-scale decode: the dropped scans carry everything but the DC coefficients.
///
/// The pixels are the original's only if the decoder would have used every DC scan and the same
/// quantisation tables either way. A decoder may render a component as soon as its last coefficient bit
/// arrives, so a DC scan after that point (or a table redefined after the first scan) counts in one
/// stream and not in the other. Conforming progressions never do that; streams that do are declined
/// (found by the `jpeg_dc` fuzz target: a second DC refinement spliced after the last one).
pub fn dc_scans_only(bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.get(..2)? != [0xFF, 0xD8] {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4);
    out.extend_from_slice(&[0xFF, 0xD8]);
    let mut pos = 2;
    let mut progressive = false;
    let mut dropped = 0usize;
    let mut scans = 0usize;
    // Per component id: the successive-approximation bit position of its DC so far (None: no DC scan yet).
    let mut dc_bit: [Option<u8>; 256] = [None; 256];
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
            DQT if scans > 0 => return None,
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
        scans += 1;
        let scan = ScanHeader::parse(segment)?;
        let data_end = entropy_data_end(bytes, segment_end)?;
        if scan.spectral_start == 0 {
            for &component in &scan.components {
                dc_bit[usize::from(component)] = Some(next_dc_bit(dc_bit[usize::from(component)], &scan)?);
            }
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

/// A decode at `1/denominator` scale (1, 2, 4 or 8) with jpeg-decoder, as the reduced-scale path of
/// preprocessing does it: width, height and pixels (RGB, or grey for one component). `None` when the
/// decoder refuses the stream or its frame has more than `max_pixels` (the decoder sizes its buffers
/// from the frame before any data). For checking `dc_scans_only` against the original stream.
pub fn decode_scaled(bytes: &[u8], denominator: u16, max_pixels: u64) -> Option<(u16, u16, Vec<u8>)> {
    let mut decoder = jpeg_decoder::Decoder::new(std::io::Cursor::new(bytes));
    decoder.read_info().ok()?;
    let info = decoder.info()?;
    if u64::from(info.width) * u64::from(info.height) > max_pixels {
        return None;
    }
    decoder
        .scale(info.width.div_ceil(denominator), info.height.div_ceil(denominator))
        .ok()?;
    let pixels = decoder.decode().ok()?;
    let info = decoder.info()?;
    Some((info.width, info.height, pixels))
}

const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOF2: u8 = 0xC2;
const SOS: u8 = 0xDA;
const DQT: u8 = 0xDB;

/// What `dc_scans_only` needs of a start-of-scan segment: length, component count, two bytes per
/// component (id, tables), Ss, Se, Ah/Al.
struct ScanHeader {
    components: Vec<u8>,
    spectral_start: u8,
    approximation_high: u8,
    approximation_low: u8,
}

impl ScanHeader {
    /// `None` unless the segment is exactly as long as its component count says.
    fn parse(segment: &[u8]) -> Option<Self> {
        let count = usize::from(*segment.get(2)?);
        if count == 0 || segment.len() != 6 + 2 * count {
            return None;
        }
        let selection = 3 + 2 * count;
        let approximation = *segment.get(selection + 2)?;
        Some(Self {
            components: (0..count).map(|i| segment[3 + 2 * i]).collect(),
            spectral_start: segment[selection],
            approximation_high: approximation >> 4,
            approximation_low: approximation & 0x0F,
        })
    }
}

/// The DC bit position of a component after this DC scan, if the scan is the next one a conforming
/// progression may send: a first scan (Ah = 0) when there was none, or the refinement of exactly the
/// next bit (Ah = the current position, Al = Ah - 1).
fn next_dc_bit(current: Option<u8>, scan: &ScanHeader) -> Option<u8> {
    let (high, low) = (scan.approximation_high, scan.approximation_low);
    match current {
        None if high == 0 => Some(low),
        Some(bit) if high > 0 && high == bit && low + 1 == high => Some(low),
        _ => None,
    }
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

    const SOF2_ONE_COMPONENT: [u8; 13] = [0xFF, SOF2, 0, 11, 8, 0, 8, 0, 8, 1, 1, 0x11, 0];

    /// A start-of-scan for component 1 with its entropy-coded data.
    fn scan(spectral: (u8, u8), approximation: (u8, u8), data: &[u8]) -> Vec<u8> {
        let mut bytes = vec![0xFF, SOS, 0, 8, 1, 1, 0, spectral.0, spectral.1];
        bytes.push(approximation.0 << 4 | approximation.1);
        bytes.extend_from_slice(data);
        bytes
    }

    fn jpeg(parts: &[Vec<u8>]) -> Vec<u8> {
        let mut bytes = vec![0xFF, SOI];
        bytes.extend_from_slice(&SOF2_ONE_COMPONENT);
        for part in parts {
            bytes.extend_from_slice(part);
        }
        bytes.extend_from_slice(&[0xFF, 0xFF, EOI]);
        bytes
    }

    /// A progressive skeleton: a DC scan (with a stuffed FF and a restart marker in its data) and an AC
    /// scan. Only the marker structure matters to `dc_scans_only`.
    fn skeleton(ac_data: &[u8]) -> Vec<u8> {
        jpeg(&[
            scan((0, 0), (0, 0), &[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56]),
            scan((1, 63), (0, 0), ac_data),
        ])
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
    fn successive_approximation_of_the_dc_is_followed() {
        let ac = scan((1, 63), (0, 0), &[1]);
        let refined = jpeg(&[
            scan((0, 0), (0, 2), &[1]),
            ac.clone(),
            scan((0, 0), (2, 1), &[2]),
            scan((0, 0), (1, 0), &[3]),
        ]);
        assert!(dc_scans_only(&refined).is_some());
        // Refining a bit the first scan did not leave, or once more after the last bit.
        for bad in [
            jpeg(&[scan((0, 0), (0, 2), &[1]), ac.clone(), scan((0, 0), (1, 0), &[2])]),
            jpeg(&[
                scan((0, 0), (0, 1), &[1]),
                ac.clone(),
                scan((0, 0), (1, 0), &[2]),
                scan((0, 0), (1, 0), &[3]),
            ]),
            jpeg(&[scan((0, 0), (0, 0), &[1]), ac.clone(), scan((0, 0), (0, 0), &[2])]),
            jpeg(&[scan((0, 0), (1, 0), &[1]), ac.clone()]),
        ] {
            assert_eq!(dc_scans_only(&bad), None);
        }
    }

    #[test]
    fn a_quantisation_table_redefined_between_scans_is_declined() {
        let dqt = [0xFF, DQT, 0, 67, 0]
            .iter()
            .copied()
            .chain([1u8; 64])
            .collect::<Vec<u8>>();
        let before = jpeg(&[dqt.clone(), scan((0, 0), (0, 0), &[1]), scan((1, 63), (0, 0), &[2])]);
        assert!(dc_scans_only(&before).is_some());
        let between = jpeg(&[scan((0, 0), (0, 0), &[1]), dqt, scan((1, 63), (0, 0), &[2])]);
        assert_eq!(dc_scans_only(&between), None);
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
        bad_scan[19] = 2; // the DC scan claims 2 components in a segment sized for 1
        assert_eq!(dc_scans_only(&bad_scan), None);
        assert_eq!(dc_scans_only(b"not a jpeg"), None);
        assert_eq!(dc_scans_only(&[]), None);
        assert_eq!(dc_scans_only(&[0xFF; 64]), None);
    }
}
