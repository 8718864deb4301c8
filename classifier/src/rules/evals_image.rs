//! SpamAssassin's ImageInfo plugin: the count, pixel area, dimensions and names of the
//! base64 GIF, PNG and JPEG parts, read from the first bytes of each image as ImageInfo 4.0.1
//! reads them (hand-written header readers: every read is bounds-checked, so a short or
//! malformed image gives no dimensions, never a panic).

use std::collections::BTreeSet;

use super::evals::{Arg, EvalDef, arity};
use super::mimeparts::{MimePart, param};

/// Image types ImageInfo reads; `all` sums them.
const TYPES: &[&str] = &["gif", "png", "jpeg"];

/// What ImageInfo gathers per image type.
#[derive(Debug, Default, Clone)]
pub(crate) struct Images {
    /// (type, count, pixel area, "HxW" dimensions) per type of [`TYPES`].
    per_type: Vec<(&'static str, u64, u64, BTreeSet<String>)>,
    /// File names of the images whose dimensions were read.
    names: BTreeSet<String>,
}

impl Images {
    fn of(&self, t: &str) -> Option<(u64, u64, BTreeSet<String>)> {
        if t == "all" {
            let mut dems = BTreeSet::new();
            let (mut n, mut area) = (0, 0);
            for (_, c, a, d) in &self.per_type {
                n += c;
                area += a;
                dems.extend(d.iter().cloned());
            }
            return Some((n, area, dems));
        }
        self.per_type
            .iter()
            .find(|(name, ..)| *name == t)
            .map(|(_, c, a, d)| (*c, *a, d.clone()))
    }
}

/// Gathers the images of a message (ImageInfo's `_get_images`): leaves of type image/gif,
/// image/png or image/jp(e)g with base64 transfer encoding.
pub(crate) fn images(parts: &[MimePart]) -> Images {
    let mut out = Images {
        per_type: TYPES.iter().map(|t| (*t, 0, 0, BTreeSet::new())).collect(),
        names: BTreeSet::new(),
    };
    for p in parts.iter().filter(|p| !p.container) {
        let Some(sub) = p.ctype.strip_prefix("image/") else {
            continue;
        };
        let t = match sub {
            "gif" => "gif",
            "png" => "png",
            "jpeg" | "jpg" => "jpeg",
            _ => continue,
        };
        if p.cte != "base64" {
            continue;
        }
        let data = super::evals_mime::base64(&p.body);
        let dims = match t {
            "gif" => gif_size(&data),
            "png" => png_size(&data),
            _ => jpeg_size(&data),
        };
        let Some(entry) = out.per_type.iter_mut().find(|(n, ..)| *n == t) else {
            continue;
        };
        entry.1 += 1;
        if let Some((w, h)) = dims.filter(|&(w, h)| w > 0 && h > 0) {
            entry.2 += w * h;
            entry.3.insert(format!("{h}x{w}"));
            if let Some(name) = part_name(p) {
                out.names.insert(name);
            }
        }
    }
    out
}

/// A part's file name as SpamAssassin's parser keeps it: the Content-Type `name`, else the
/// Content-Disposition `filename`.
fn part_name(p: &MimePart) -> Option<String> {
    let ct = p.values("Content-Type").last().unwrap_or("");
    let cd = p.values("Content-Disposition").last().unwrap_or("");
    param(ct, "name")
        .or_else(|| param(cd, "filename"))
        .filter(|n| !n.is_empty())
}

fn u16_le(d: &[u8], at: usize) -> Option<u64> {
    Some(u64::from(u16::from_le_bytes([
        *d.get(at)?,
        *d.get(at + 1)?,
    ])))
}

fn u16_be(d: &[u8], at: usize) -> Option<u64> {
    Some(u64::from(u16::from_be_bytes([
        *d.get(at)?,
        *d.get(at + 1)?,
    ])))
}

fn u32_be(d: &[u8], at: usize) -> Option<u64> {
    let b = d.get(at..at + 4)?;
    Some(u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])))
}

/// GIF87a/89a: width and height (little endian) after the 6-byte signature.
fn gif_size(d: &[u8]) -> Option<(u64, u64)> {
    if !(d.starts_with(b"GIF87a") || d.starts_with(b"GIF89a")) {
        return None;
    }
    Some((u16_le(d, 6)?, u16_le(d, 8)?))
}

/// PNG: the IHDR chunk's width and height. As ImageInfo, the scan moves on by a chunk's
/// 8-byte head only, so it finds IHDR where PNG puts it, first.
fn png_size(d: &[u8]) -> Option<(u64, u64)> {
    if !d.starts_with(b"\x89PNG\r\n\x1a\n") {
        return None;
    }
    let mut pos = 8;
    while pos < d.len() {
        let len = u32_be(d, pos);
        let kind = d.get(pos + 4..pos + 8);
        pos += 8;
        if kind == Some(b"IEND") {
            return None;
        }
        if kind == Some(b"IHDR") && len == Some(13) {
            return Some((u32_be(d, pos)?, u32_be(d, pos + 4)?));
        }
    }
    None
}

/// JPEG: walks the marker segments from SOI to the first start-of-frame (SOF0-3, 5-7, 9-11,
/// 13-15) and reads its height and width; stops at SOS, EOI or anything malformed.
fn jpeg_size(d: &[u8]) -> Option<(u64, u64)> {
    if !d.starts_with(b"\xff\xd8") {
        return None;
    }
    let mut pos = 2;
    loop {
        let (xx, mark, len) = (*d.get(pos)?, *d.get(pos + 1)?, u16_be(d, pos + 2)?);
        if xx != 0xff || mark == 0xda || mark == 0xd9 || len < 2 {
            return None;
        }
        pos += 4;
        let block = d.get(pos..(pos + usize::try_from(len).ok()? - 2).min(d.len()))?;
        if matches!(mark, 0xc0..=0xc3 | 0xc5..=0xc7 | 0xc9..=0xcb | 0xcd..=0xcf) {
            let (h, w) = (u16_be(block, 1)?, u16_be(block, 3)?);
            return Some((w, h));
        }
        pos += block.len();
    }
}

/// ImageInfo's `result_check`: `min <= v`, `v <= max` when a max is given, and with
/// `strict_max`, `v != max`.
fn in_range(v: f64, min: f64, max: Option<f64>, strict_max: bool) -> bool {
    v >= min && max.is_none_or(|m| v <= m && !(strict_max && v == m))
}

fn number(a: &[Arg], i: usize) -> Option<f64> {
    a.get(i).and_then(|x| x.0.parse().ok())
}

fn kind_and_numbers(a: &[Arg], min: usize, max: usize) -> Result<(), String> {
    arity(a, min, max)?;
    let t = kind(a);
    if !(t == "all" || TYPES.contains(&t)) {
        return Err(format!("expected all, gif, png or jpeg, got '{t}'"));
    }
    a.iter().skip(1).try_for_each(|x| {
        x.0.parse::<f64>()
            .map(|_| ())
            .map_err(|_| format!("expected a number, got '{}'", x.0))
    })
}

/// Counts and areas as numbers for the range checks.
#[allow(clippy::cast_precision_loss)]
fn float(n: u64) -> f64 {
    n as f64
}

/// The image type argument (checked at load).
fn kind(a: &[Arg]) -> &str {
    a.first().map_or("", |x| x.0.as_str())
}

/// Whether a total over the images of the first argument's type (their count, or their
/// pixel area) is in [min, max] (the second and third arguments).
fn image_total_in(
    e: &super::evals::Env<'_>,
    a: &[Arg],
    total: fn((u64, u64, BTreeSet<String>)) -> u64,
) -> bool {
    let n = e.images().of(kind(a)).map_or(0, total);
    in_range(
        float(n),
        number(a, 1).unwrap_or(f64::NAN),
        number(a, 2),
        false,
    )
}

/// The ImageInfo evals, registered beside [`super::evals::EVALS`].
pub(crate) static IMAGE_EVALS: &[EvalDef] = &[
    EvalDef {
        name: "image_count",
        signature: "(type, min[, max])",
        doc: "The number of base64 images of `type` (gif, png, jpeg or all) is in [min, max], \
              as SpamAssassin's ImageInfo counts them.",
        check: |a| kind_and_numbers(a, 2, 3),
        run: |e, a| image_total_in(e, a, |x| x.0),
    },
    EvalDef {
        name: "pixel_coverage",
        signature: "(type, min[, max])",
        doc: "The summed area in pixels of the base64 images of `type` whose dimensions could \
              be read is in [min, max].",
        check: |a| kind_and_numbers(a, 2, 3),
        run: |e, a| image_total_in(e, a, |x| x.1),
    },
    EvalDef {
        name: "image_to_text_ratio",
        signature: "(type, min, max)",
        doc: "The body text's length in bytes (SpamAssassin's rendered body lines, the \
              Subject first; as a rawbody rule, its decoded text parts) over the pixel area of \
              the images of `type` is in [min, max); never without text or image area.",
        check: |a| kind_and_numbers(a, 3, 3),
        run: |e, a| {
            let text: usize = e.sa_body_lines_edited().iter().map(String::len).sum();
            text_ratio_in(e, a, text)
        },
    },
    EvalDef {
        name: "image_size_exact",
        signature: "(type, height, width)",
        doc: "Some base64 image of `type` is exactly `height` x `width` pixels.",
        check: |a| kind_and_numbers(a, 3, 3),
        run: |e, a| {
            e.images()
                .of(&a[0].0)
                .is_some_and(|x| a.len() == 3 && x.2.contains(&format!("{}x{}", a[1].0, a[2].0)))
        },
    },
    EvalDef {
        name: "image_size_range",
        signature: "(type, min_height, min_width[, max_height, max_width])",
        doc: "Some base64 image of `type` is at least min_height x min_width pixels and at \
              most max_height x max_width where given.",
        check: |a| kind_and_numbers(a, 3, 5),
        run: |e, a| {
            let (minh, minw) = (
                number(a, 1).unwrap_or(f64::NAN),
                number(a, 2).unwrap_or(f64::NAN),
            );
            let (maxh, maxw) = (number(a, 3), number(a, 4));
            e.images().of(kind(a)).is_some_and(|x| {
                x.2.iter().any(|d| {
                    let mut it = d.split('x').filter_map(|n| n.parse::<f64>().ok());
                    let (Some(h), Some(w)) = (it.next(), it.next()) else {
                        return false;
                    };
                    h >= minh
                        && w >= minw
                        && maxh.is_none_or(|m| h <= m)
                        && maxw.is_none_or(|m| w <= m)
                })
            })
        },
    },
    EvalDef {
        name: "image_named",
        signature: "(name)",
        doc: "Some base64 image whose dimensions could be read has this file name.",
        check: |a| arity(a, 1, 1),
        run: |e, a| a.first().is_some_and(|n| e.images().names.contains(&n.0)),
    },
];

/// `image_to_text_ratio` as a `rawbody` rule: SpamAssassin passes the decoded text parts, not
/// the rendered body (`__DC_IMG_HTML_RATIO` in 20_imageinfo.cf; the HTML source counts).
pub(crate) static RAWBODY_IMAGE_TO_TEXT_RATIO: EvalDef = EvalDef {
    name: "image_to_text_ratio",
    signature: "(type, min, max)",
    doc: "As a rawbody rule: the length in bytes of the decoded text parts over the pixel \
          area of the images of `type` is in [min, max); never without text or image area.",
    check: |a| kind_and_numbers(a, 3, 3),
    run: |e, a| {
        let text: usize = e
            .sa_parts()
            .rawbody_parts()
            .map(|p| match p.byte_chars {
                true => p.rawbody.chars().count(),
                false => p.rawbody.len(),
            })
            .sum();
        text_ratio_in(e, a, text)
    },
};

/// Whether `text` bytes over the area of the images of the type `a` names is in its range.
fn text_ratio_in(e: &super::evals::Env<'_>, a: &[Arg], text: usize) -> bool {
    let area = e.images().of(kind(a)).map_or(0, |x| x.1);
    area > 0
        && text > 0
        && in_range(
            float(text as u64) / float(area),
            number(a, 1).unwrap_or(f64::NAN),
            number(a, 2),
            true,
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dimensions_from_the_first_bytes() {
        let mut gif = b"GIF89a".to_vec();
        gif.extend([0x20, 0x01, 0x10, 0x00, 0, 0, 0]);
        assert_eq!(gif_size(&gif), Some((288, 16)));
        assert_eq!(gif_size(b"GIF89a\x20"), None);
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend([0, 0, 2, 0, 0, 0, 1, 0, 8, 2, 0, 0, 0]);
        assert_eq!(png_size(&png), Some((512, 256)));
        assert_eq!(png_size(&png[..20]), None);
        // SOI, an APP0 segment of 4 bytes, then SOF0 with height 48 and width 64.
        let jpeg = b"\xff\xd8\xff\xe0\x00\x04ab\xff\xc0\x00\x11\x08\x00\x30\x00\x40\x03";
        assert_eq!(jpeg_size(jpeg), Some((64, 48)));
        assert_eq!(jpeg_size(&jpeg[..12]), None);
        assert_eq!(jpeg_size(b"\xff\xd8\xff\xe0\x00\x01"), None);
    }
}
