//! Photos of matters: checked by their content (JPEG, PNG or WebP, whatever the sender
//! claims), bounded in size and pixels, and kept three ways in the object store — the
//! original as sent (with its EXIF data, which may say where it was taken: staff only),
//! a re-encoded copy without any metadata for everyone else, and a thumbnail.

use std::io::Cursor;
use std::sync::Arc;

use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use thiserror::Error;
use uuid::Uuid;

/// Largest photo accepted, in bytes.
pub const MAX_PHOTO_BYTES: usize = 10 * 1024 * 1024;
/// Photos one matter may hold.
pub const MAX_PHOTOS_PER_MATTER: i64 = 9;
/// Longest side of the copy shown to everyone, and of the thumbnail.
const DISPLAY_SIDE: u32 = 1600;
const THUMB_SIDE: u32 = 320;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum PhotoError {
    #[error("a photo is a JPEG, PNG or WebP image")]
    UnsupportedType,
    #[error("a photo is at most 10 MB")]
    TooLarge,
    #[error("the image could not be read (damaged, or more than 40 megapixels)")]
    Unreadable,
}

impl PhotoError {
    pub fn code(&self) -> &'static str {
        match self {
            PhotoError::UnsupportedType => "photo_type",
            PhotoError::TooLarge => "photo_too_large",
            PhotoError::Unreadable => "photo_unreadable",
        }
    }
}

/// A photo checked and prepared for storage.
pub struct Processed {
    pub content_type: &'static str,
    pub width: u32,
    pub height: u32,
    pub had_location: bool,
    pub display: Vec<u8>,
    pub thumb: Vec<u8>,
}

/// Whether raw EXIF data (a TIFF structure) holds a GPS block: IFD0 points to it with
/// tag 0x8825. Only its presence matters here; the re-encoded copies drop all EXIF.
pub fn exif_has_gps(exif: &[u8]) -> bool {
    let exif = exif.strip_prefix(b"Exif\0\0").unwrap_or(exif);
    let little = match exif.get(0..2) {
        Some(b"II") => true,
        Some(b"MM") => false,
        _ => return false,
    };
    let u16_at = |i: usize| -> Option<u16> {
        let b = exif.get(i..i + 2)?;
        Some(if little {
            u16::from_le_bytes([b[0], b[1]])
        } else {
            u16::from_be_bytes([b[0], b[1]])
        })
    };
    let u32_at = |i: usize| -> Option<u32> {
        let b = exif.get(i..i + 4)?;
        let a = [b[0], b[1], b[2], b[3]];
        Some(if little {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        })
    };
    let Some(ifd0) = u32_at(4).map(|o| o as usize) else {
        return false;
    };
    let Some(entries) = u16_at(ifd0) else {
        return false;
    };
    (0..usize::from(entries)).any(|n| u16_at(ifd0 + 2 + n * 12) == Some(0x8825))
}

fn jpeg(image: &DynamicImage, quality: u8) -> Result<Vec<u8>, PhotoError> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(&image.to_rgb8())
        .map_err(|_| PhotoError::Unreadable)?;
    Ok(out)
}

/// Checks a photo by its bytes and makes the copies to keep. CPU-bound: call it on a
/// blocking thread.
pub fn process(bytes: &[u8]) -> Result<Processed, PhotoError> {
    if bytes.len() > MAX_PHOTO_BYTES {
        return Err(PhotoError::TooLarge);
    }
    let format = image::guess_format(bytes).map_err(|_| PhotoError::UnsupportedType)?;
    let content_type = match format {
        ImageFormat::Jpeg => "image/jpeg",
        ImageFormat::Png => "image/png",
        ImageFormat::WebP => "image/webp",
        _ => return Err(PhotoError::UnsupportedType),
    };
    let mut limits = Limits::default();
    limits.max_image_width = Some(12_000);
    limits.max_image_height = Some(12_000);
    limits.max_alloc = Some(40_000_000 * 4);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|_| PhotoError::Unreadable)?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > 40_000_000 {
        return Err(PhotoError::Unreadable);
    }
    let had_location = decoder
        .exif_metadata()
        .ok()
        .flatten()
        .is_some_and(|exif| exif_has_gps(&exif));
    let image = DynamicImage::from_decoder(decoder).map_err(|_| PhotoError::Unreadable)?;
    let display = if width.max(height) > DISPLAY_SIDE {
        image.resize(
            DISPLAY_SIDE,
            DISPLAY_SIDE,
            image::imageops::FilterType::Triangle,
        )
    } else {
        image.clone()
    };
    let thumb = image.thumbnail(THUMB_SIDE, THUMB_SIDE);
    Ok(Processed {
        content_type,
        width,
        height,
        had_location,
        display: jpeg(&display, 85)?,
        thumb: jpeg(&thumb, 80)?,
    })
}

/// Where a photo's three files live.
pub struct Keys {
    pub original: String,
    pub display: String,
    pub thumb: String,
}

pub fn keys(community: Uuid, matter: Uuid, photo: Uuid) -> Keys {
    let base = format!("matters/{community}/{matter}/{photo}");
    Keys {
        original: format!("{base}/original"),
        display: format!("{base}/display.jpg"),
        thumb: format!("{base}/thumb.jpg"),
    }
}

/// Writes the three files; on failure removes what was written.
pub async fn store(
    objects: &Arc<dyn ObjectStore>,
    keys: &Keys,
    original: Vec<u8>,
    processed: &Processed,
) -> object_store::Result<()> {
    let files = [
        (&keys.original, original),
        (&keys.display, processed.display.clone()),
        (&keys.thumb, processed.thumb.clone()),
    ];
    for (i, (key, bytes)) in files.iter().enumerate() {
        if let Err(error) = objects
            .put(
                &ObjectPath::from(key.as_str()),
                PutPayload::from(bytes.clone()),
            )
            .await
        {
            for (written, _) in &files[..i] {
                let _ = objects.delete(&ObjectPath::from(written.as_str())).await;
            }
            return Err(error);
        }
    }
    Ok(())
}

pub async fn remove(objects: &Arc<dyn ObjectStore>, keys: &Keys) {
    for key in [&keys.original, &keys.display, &keys.thumb] {
        let _ = objects.delete(&ObjectPath::from(key.as_str())).await;
    }
}

pub async fn read(
    objects: &Arc<dyn ObjectStore>,
    key: &str,
) -> object_store::Result<axum::body::Bytes> {
    objects.get(&ObjectPath::from(key)).await?.bytes().await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal little-endian TIFF block with IFD0 holding the given tags.
    fn tiff(tags: &[u16]) -> Vec<u8> {
        let mut t = b"II*\0".to_vec();
        t.extend_from_slice(&8u32.to_le_bytes());
        t.extend_from_slice(&(tags.len() as u16).to_le_bytes());
        for tag in tags {
            t.extend_from_slice(&tag.to_le_bytes());
            t.extend_from_slice(&[4, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
        }
        t
    }

    #[test]
    fn a_gps_pointer_in_ifd0_is_found() {
        assert!(exif_has_gps(&tiff(&[0x010F, 0x8825])));
        assert!(!exif_has_gps(&tiff(&[0x010F, 0x8769])));
        assert!(!exif_has_gps(b"garbage"));
        let mut with_header = b"Exif\0\0".to_vec();
        with_header.extend(tiff(&[0x8825]));
        assert!(exif_has_gps(&with_header));
    }

    #[test]
    fn only_real_images_of_the_allowed_kinds_pass() {
        assert_eq!(
            process(b"%PDF-1.7 not an image").err(),
            Some(PhotoError::UnsupportedType)
        );
        let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;";
        assert_eq!(process(gif).err(), Some(PhotoError::UnsupportedType));
        assert_eq!(
            process(b"\xFF\xD8\xFF\xE0 truncated").err(),
            Some(PhotoError::Unreadable)
        );
        let mut png = Vec::new();
        DynamicImage::new_rgb8(800, 600)
            .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
            .unwrap();
        let p = process(&png).unwrap();
        assert_eq!(
            (p.content_type, p.width, p.height, p.had_location),
            ("image/png", 800, 600, false)
        );
        let thumb = image::load_from_memory(&p.thumb).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (320, 240));
        assert_eq!(
            process(&vec![0u8; MAX_PHOTO_BYTES + 1]).err(),
            Some(PhotoError::TooLarge)
        );
    }
}
