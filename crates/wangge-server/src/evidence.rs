//! Photo evidence for cases: checked by content, stored once by content hash, with thumbnails.
//!
//! Uploads come from the field, from phones, and from anyone holding a login, so nothing about
//! them is trusted: the type is judged from the bytes (never the file name), the image is
//! decoded to prove it is one, and decoding is refused up front when the declared dimensions
//! would need more memory than allowed, so a small file that inflates to gigabytes cannot take
//! the server down.
//!
//! Files are named by their SHA-256, which makes identical uploads share one file and lets a
//! case record point at evidence that cannot be swapped underneath it. Who may download what is
//! not decided here: the caller checks that the user can read the case before calling `get`.

use std::fs;
use std::io::{self, Cursor, Write};
use std::path::{Path, PathBuf};

use image::codecs::jpeg::JpegEncoder;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits, RgbImage};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Where and how evidence is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceConfig {
    /// Root directory; created on open.
    pub dir: PathBuf,
    /// Largest accepted upload, in bytes.
    pub max_bytes: usize,
    /// Longest side of a thumbnail, in pixels; smaller images are not enlarged.
    pub thumb_px: u32,
    /// Largest accepted image, in pixels (width × height). Decoding needs about four bytes per
    /// pixel, so this is what bounds the memory one upload can take.
    pub max_pixels: u64,
}

impl EvidenceConfig {
    /// 10 MiB, enough for a full-resolution phone JPEG.
    pub const DEFAULT_MAX_BYTES: usize = 10 * 1024 * 1024;
    pub const DEFAULT_THUMB_PX: u32 = 320;
    /// 50 megapixels admits the 48 MP mode of current phones; at four bytes a pixel that
    /// is a 200 MB decode at most.
    pub const DEFAULT_MAX_PIXELS: u64 = 50_000_000;

    /// The defaults, keeping evidence under `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        EvidenceConfig {
            dir: dir.into(),
            max_bytes: Self::DEFAULT_MAX_BYTES,
            thumb_px: Self::DEFAULT_THUMB_PX,
            max_pixels: Self::DEFAULT_MAX_PIXELS,
        }
    }
}

/// The image types accepted as evidence.
///
/// HEIC is left out on purpose: the decoder cannot read it, so a HEIC upload could not be
/// proved to be an image nor given a thumbnail. Phones convert to JPEG when sharing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MediaType {
    #[serde(rename = "image/jpeg")]
    Jpeg,
    #[serde(rename = "image/png")]
    Png,
    #[serde(rename = "image/webp")]
    Webp,
    #[serde(rename = "image/gif")]
    Gif,
}

impl MediaType {
    pub const ALL: [MediaType; 4] = [
        MediaType::Jpeg,
        MediaType::Png,
        MediaType::Webp,
        MediaType::Gif,
    ];

    /// The MIME type, as sent in `Content-Type`.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Jpeg => "image/jpeg",
            MediaType::Png => "image/png",
            MediaType::Webp => "image/webp",
            MediaType::Gif => "image/gif",
        }
    }

    /// The usual file extension, without the dot (for download file names).
    pub fn extension(self) -> &'static str {
        match self {
            MediaType::Jpeg => "jpg",
            MediaType::Png => "png",
            MediaType::Webp => "webp",
            MediaType::Gif => "gif",
        }
    }

    /// The inverse of [`MediaType::as_str`], for reading a stored value back.
    pub fn from_mime(mime: &str) -> Option<MediaType> {
        MediaType::ALL.into_iter().find(|t| t.as_str() == mime)
    }

    fn image_format(self) -> ImageFormat {
        match self {
            MediaType::Jpeg => ImageFormat::Jpeg,
            MediaType::Png => ImageFormat::Png,
            MediaType::Webp => ImageFormat::WebP,
            MediaType::Gif => ImageFormat::Gif,
        }
    }
}

impl std::fmt::Display for MediaType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The type of `bytes` judged by their magic bytes alone; a claim, not a proof (see `put`).
pub fn sniff(bytes: &[u8]) -> Option<MediaType> {
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(MediaType::Jpeg)
    } else if bytes.starts_with(PNG) {
        Some(MediaType::Png)
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some(MediaType::Gif)
    } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
        Some(MediaType::Webp)
    } else {
        None
    }
}

/// Whether `id` has the form of a SHA-256 in hex, the only form allowed to become a path.
pub fn is_sha256_hex(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// What `put` accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEvidence {
    /// SHA-256 of the bytes as uploaded, lowercase hex; the key for `get` and `thumbnail`.
    pub sha256: String,
    pub media_type: MediaType,
    pub size: u64,
    /// As displayed, i.e. after the EXIF orientation of a JPEG or WebP is applied.
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub has_thumbnail: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    #[error("the upload is empty")]
    Empty,
    #[error("the upload is {size} bytes, more than the {max} allowed")]
    TooLarge { size: usize, max: usize },
    #[error(
        "not a JPEG, PNG, WebP or GIF image (the type is judged by the content, not the file name)"
    )]
    NotAnImage,
    #[error("the image is {width}×{height} pixels, more than the {max_pixels} pixels allowed")]
    ImageTooLarge {
        width: u32,
        height: u32,
        max_pixels: u64,
    },
    #[error("the file looks like an image but cannot be decoded: {0}")]
    Undecodable(String),
    #[error("evidence storage: {0}")]
    Io(#[from] io::Error),
}

/// Content-addressed evidence on disk. Cheap to clone, so it can be moved into `spawn_blocking`.
#[derive(Debug, Clone)]
pub struct EvidenceStore {
    config: EvidenceConfig,
}

/// JPEG quality of thumbnails: they are for recognising a photo in a list, not for judging it.
const THUMB_QUALITY: u8 = 80;

impl EvidenceStore {
    /// Opens the store, creating its directory.
    pub fn open(config: EvidenceConfig) -> Result<Self, EvidenceError> {
        fs::create_dir_all(&config.dir)?;
        fs::create_dir_all(config.dir.join("thumbs"))?;
        Ok(EvidenceStore { config })
    }

    pub fn config(&self) -> &EvidenceConfig {
        &self.config
    }

    /// Checks `bytes` and stores them, with a thumbnail; storing the same content again is
    /// harmless and keeps one file. Blocking: decoding a large photo takes a noticeable time.
    pub fn put(&self, bytes: &[u8]) -> Result<StoredEvidence, EvidenceError> {
        if bytes.is_empty() {
            return Err(EvidenceError::Empty);
        }
        if bytes.len() > self.config.max_bytes {
            return Err(EvidenceError::TooLarge {
                size: bytes.len(),
                max: self.config.max_bytes,
            });
        }
        let media_type = sniff(bytes).ok_or(EvidenceError::NotAnImage)?;
        let image = self.decode(bytes, media_type)?;
        let sha256 = hex(&Sha256::digest(bytes));

        let thumb_path = self.thumb_path(&sha256);
        if !thumb_path.is_file() {
            let thumb = make_thumbnail(&image, self.config.thumb_px.max(1))?;
            write_atomically(&thumb_path, &thumb)?;
        }
        let path = self.original_path(&sha256);
        // The length check catches a file cut short by something other than us (our own
        // writes are atomic); such a file is replaced rather than trusted.
        let size = bytes.len() as u64;
        if fs::metadata(&path).map(|m| m.len()).ok() != Some(size) {
            write_atomically(&path, bytes)?;
        }

        Ok(StoredEvidence {
            sha256,
            media_type,
            size,
            width: Some(image.width()),
            height: Some(image.height()),
            has_thumbnail: true,
        })
    }

    /// The stored bytes, or `None` if there are none under that id (including any id that is
    /// not a SHA-256 in hex, so that no id can name a path outside the store).
    pub fn get(&self, sha256: &str) -> Result<Option<Vec<u8>>, EvidenceError> {
        match canonical_id(sha256) {
            Some(id) => read_if_exists(&self.original_path(&id)),
            None => Ok(None),
        }
    }

    /// The JPEG thumbnail, like [`EvidenceStore::get`].
    pub fn thumbnail(&self, sha256: &str) -> Result<Option<Vec<u8>>, EvidenceError> {
        match canonical_id(sha256) {
            Some(id) => read_if_exists(&self.thumb_path(&id)),
            None => Ok(None),
        }
    }

    /// Two levels of fan-out keep directories small enough for any file system.
    fn original_path(&self, id: &str) -> PathBuf {
        self.config.dir.join(&id[0..2]).join(&id[2..4]).join(id)
    }

    fn thumb_path(&self, id: &str) -> PathBuf {
        self.config
            .dir
            .join("thumbs")
            .join(&id[0..2])
            .join(&id[2..4])
            .join(format!("{id}.jpg"))
    }

    fn decode(&self, bytes: &[u8], media_type: MediaType) -> Result<DynamicImage, EvidenceError> {
        let max_pixels = self.config.max_pixels;
        let max_decode_bytes = max_pixels.saturating_mul(4);
        let mut limits = Limits::default();
        // Honoured by some decoders for their own buffers; the output buffer is checked below
        // because the image crate does not hold every decoder to this.
        limits.max_alloc = Some(max_decode_bytes);
        // The format comes from our sniffing, so the decoder for the claimed type must accept
        // the whole file: a PNG signature in front of anything else fails here.
        let mut reader = ImageReader::with_format(Cursor::new(bytes), media_type.image_format());
        reader.limits(limits);
        let mut decoder = reader.into_decoder().map_err(undecodable)?;

        let (width, height) = decoder.dimensions();
        let too_large = EvidenceError::ImageTooLarge {
            width,
            height,
            max_pixels,
        };
        if u64::from(width) * u64::from(height) > max_pixels
            || decoder.total_bytes() > max_decode_bytes
        {
            return Err(too_large);
        }
        // A broken orientation tag is no reason to refuse the photo; it is shown as stored.
        let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
        let mut image = DynamicImage::from_decoder(decoder).map_err(|e| match e {
            ImageError::Limits(_) => too_large,
            other => undecodable(other),
        })?;
        image.apply_orientation(orientation);
        Ok(image)
    }
}

fn undecodable(e: ImageError) -> EvidenceError {
    EvidenceError::Undecodable(e.to_string())
}

/// Lowercased, so that an id typed in capitals finds the same file on case-sensitive disks.
fn canonical_id(id: &str) -> Option<String> {
    is_sha256_hex(id).then(|| id.to_ascii_lowercase())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xF)]));
    }
    s
}

fn read_if_exists(path: &Path) -> Result<Option<Vec<u8>>, EvidenceError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn make_thumbnail(image: &DynamicImage, thumb_px: u32) -> Result<Vec<u8>, EvidenceError> {
    let scaled;
    let image = if image.width().max(image.height()) > thumb_px {
        scaled = image.thumbnail(thumb_px, thumb_px);
        &scaled
    } else {
        image
    };
    let rgb = flatten_on_white(image);
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, THUMB_QUALITY)
        .encode_image(&rgb)
        .map_err(|e| EvidenceError::Io(io::Error::other(e)))?;
    Ok(out)
}

/// JPEG has no transparency; dropping alpha would show whatever colour transparent pixels
/// happen to hold (often black), so they are blended onto white as a page would show them.
fn flatten_on_white(image: &DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.to_rgb8();
    }
    let rgba = image.to_rgba8();
    let mut out = RgbImage::new(rgba.width(), rgba.height());
    for (o, p) in out.pixels_mut().zip(rgba.pixels()) {
        let alpha = u32::from(p[3]);
        for c in 0..3 {
            let blended = (u32::from(p[c]) * alpha + 255 * (255 - alpha) + 127) / 255;
            o[c] = u8::try_from(blended).unwrap_or(u8::MAX);
        }
    }
    out
}

/// Writes to a temporary file beside `path`, syncs it, then renames it into place, so that a
/// crash leaves either no file or the whole file under the final name, never a partial one.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), EvidenceError> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::other("evidence path has no parent directory"))?;
    fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    // Two uploads of the same content may race here; both rename identical bytes into
    // place, so whichever lands last is as good as the first.
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir)
}

/// The rename itself lives in the directory, which needs its own sync to survive a crash.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<(), EvidenceError> {
    fs::File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<(), EvidenceError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use image::{ImageBuffer, Rgb, Rgba};

    fn store(dir: &Path) -> EvidenceStore {
        EvidenceStore::open(EvidenceConfig::new(dir.join("evidence"))).unwrap()
    }

    fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    fn gradient(width: u32, height: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(ImageBuffer::from_fn(width, height, |x, y| {
            Rgb([(x % 256) as u8, (y % 256) as u8, 128])
        }))
    }

    /// Every regular file under `dir`, however deep.
    fn files_under(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                out.extend(files_under(&path));
            } else {
                out.push(path);
            }
        }
        out
    }

    fn thumb_dims(store: &EvidenceStore, id: &str) -> (u32, u32) {
        let thumb = store.thumbnail(id).unwrap().expect("thumbnail stored");
        assert_eq!(sniff(&thumb), Some(MediaType::Jpeg));
        let img = image::load_from_memory_with_format(&thumb, ImageFormat::Jpeg).unwrap();
        (img.width(), img.height())
    }

    /// PNG chunks carry a CRC-32 that the decoder checks, so hand-made chunks need a real one.
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    }

    #[test]
    fn crc32_matches_the_png_reference_value() {
        // IEND's CRC is printed in every PNG spec and hex dump.
        assert_eq!(crc32(b"IEND"), 0xAE42_6082);
    }

    #[test]
    fn png_round_trips_with_a_thumbnail() {
        let tmp = tempfile::tempdir().unwrap();
        let store = store(tmp.path());
        let bytes = encode(&gradient(800, 400), ImageFormat::Png);

        let stored = store.put(&bytes).unwrap();
        assert_eq!(stored.media_type, MediaType::Png);
        assert_eq!(stored.size, bytes.len() as u64);
        assert_eq!((stored.width, stored.height), (Some(800), Some(400)));
        assert!(stored.has_thumbnail);
        assert_eq!(stored.sha256, hex(&Sha256::digest(&bytes)));
        assert_eq!(store.get(&stored.sha256).unwrap(), Some(bytes));
        assert_eq!(thumb_dims(&store, &stored.sha256), (320, 160));
    }

    #[test]
    fn jpeg_round_trips_with_a_thumbnail() {
        let tmp = tempfile::tempdir().unwrap();
        let store = store(tmp.path());
        let bytes = encode(&gradient(300, 900), ImageFormat::Jpeg);

        let stored = store.put(&bytes).unwrap();
        assert_eq!(stored.media_type, MediaType::Jpeg);
        assert_eq!((stored.width, stored.height), (Some(300), Some(900)));
        assert_eq!(store.get(&stored.sha256).unwrap(), Some(bytes));
        let (w, h) = thumb_dims(&store, &stored.sha256);
        assert_eq!(h, 320);
        assert!((100..=110).contains(&w), "aspect kept: {w}×{h}");
    }

    #[test]
    fn gif_and_webp_are_accepted() {
        let tmp = tempfile::tempdir().unwrap();
        let store = store(tmp.path());
        let rgba = DynamicImage::ImageRgba8(ImageBuffer::from_fn(40, 30, |x, _| {
            Rgba([200, 10, 10, if x < 20 { 255 } else { 0 }])
        }));
        for (format, media_type) in [
            (ImageFormat::Gif, MediaType::Gif),
            (ImageFormat::WebP, MediaType::Webp),
        ] {
            let bytes = encode(&rgba, format);
            assert_eq!(sniff(&bytes), Some(media_type));
            let stored = store.put(&bytes).unwrap();
            assert_eq!(stored.media_type, media_type);
            assert_eq!((stored.width, stored.height), (Some(40), Some(30)));
            assert_eq!(store.get(&stored.sha256).unwrap(), Some(bytes));
            assert_eq!(thumb_dims(&store, &stored.sha256), (40, 30));
        }
    }

    #[test]
    fn small_images_are_not_enlarged() {
        let tmp = tempfile::tempdir().unwrap();
        let store = store(tmp.path());
        let stored = store
            .put(&encode(&gradient(50, 20), ImageFormat::Png))
            .unwrap();
        assert_eq!(thumb_dims(&store, &stored.sha256), (50, 20));
    }

    #[test]
    fn transparent_pixels_become_white_in_the_thumbnail() {
        let tmp = tempfile::tempdir().unwrap();
        let store = store(tmp.path());
        let clear = DynamicImage::ImageRgba8(ImageBuffer::from_pixel(16, 16, Rgba([0, 0, 0, 0])));
        let stored = store.put(&encode(&clear, ImageFormat::Png)).unwrap();
        let thumb = store.thumbnail(&stored.sha256).unwrap().unwrap();
        let img = image::load_from_memory(&thumb).unwrap().to_rgb8();
        assert!(img.pixels().all(|p| p.0.iter().all(|&c| c > 245)));
    }

    #[test]
    fn identical_content_is_stored_once() {
        let tmp = tempfile::tempdir().unwrap();
        let store = store(tmp.path());
        let bytes = encode(&gradient(64, 64), ImageFormat::Png);

        let first = store.put(&bytes).unwrap();
        let second = store.put(&bytes).unwrap();
        assert_eq!(first, second);

        let files = files_under(&store.config().dir);
        let thumbs: Vec<_> = files
            .iter()
            .filter(|p| p.starts_with(store.config().dir.join("thumbs")))
            .collect();
        assert_eq!(files.len(), 2, "one original and one thumbnail: {files:?}");
        assert_eq!(thumbs.len(), 1);
        let id = &first.sha256;
        let expected = store.config().dir.join(&id[0..2]).join(&id[2..4]).join(id);
        assert!(files.contains(&expected), "{files:?}");
        // No temporary file outlives a put.
        assert!(
            files
                .iter()
                .all(|p| { !p.file_name().unwrap().to_string_lossy().starts_with(".tmp") })
        );
    }

    #[test]
    fn text_named_jpg_is_not_an_image() {
        let tmp = tempfile::tempdir().unwrap();
        let store = store(tmp.path());
        let text = b"hello";
        assert_eq!(sniff(text), None);
        let err = store.put(text).unwrap_err();
        assert!(matches!(err, EvidenceError::NotAnImage), "{err:?}");
        assert!(err.to_string().contains("JPEG, PNG, WebP or GIF"));
        assert!(files_under(&store.config().dir).is_empty());
    }

    #[test]
    fn empty_upload_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let err = store(tmp.path()).put(&[]).unwrap_err();
        assert!(matches!(err, EvidenceError::Empty), "{err:?}");
    }

    #[test]
    fn oversize_upload_is_refused_before_decoding() {
        let tmp = tempfile::tempdir().unwrap();
        let store = EvidenceStore::open(EvidenceConfig {
            max_bytes: 100,
            ..EvidenceConfig::new(tmp.path().join("evidence"))
        })
        .unwrap();
        let bytes = encode(&gradient(64, 64), ImageFormat::Png);
        assert!(bytes.len() > 100);
        let err = store.put(&bytes).unwrap_err();
        assert!(
            matches!(err, EvidenceError::TooLarge { size, max: 100 } if size == bytes.len()),
            "{err:?}"
        );
    }

    #[test]
    fn image_magic_followed_by_garbage_is_undecodable() {
        let tmp = tempfile::tempdir().unwrap();
        let store = store(tmp.path());
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend_from_slice(b"this is not really a png at all");
        let mut jpeg = vec![0xFF, 0xD8, 0xFF];
        jpeg.extend_from_slice(b"hello");
        for bytes in [png, jpeg] {
            assert!(sniff(&bytes).is_some());
            let err = store.put(&bytes).unwrap_err();
            assert!(matches!(err, EvidenceError::Undecodable(_)), "{err:?}");
        }
        assert!(files_under(&store.config().dir).is_empty());
    }

    #[test]
    fn truncated_png_is_undecodable() {
        let tmp = tempfile::tempdir().unwrap();
        let store = store(tmp.path());
        let bytes = encode(&gradient(64, 64), ImageFormat::Png);
        let err = store.put(&bytes[..bytes.len() / 2]).unwrap_err();
        assert!(matches!(err, EvidenceError::Undecodable(_)), "{err:?}");
    }

    #[test]
    fn declared_giant_dimensions_are_refused_without_decoding() {
        let tmp = tempfile::tempdir().unwrap();
        let store = store(tmp.path());
        let mut bomb = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&100_000u32.to_be_bytes());
        ihdr.extend_from_slice(&100_000u32.to_be_bytes());
        ihdr.extend_from_slice(&[8, 6, 0, 0, 0]); // 8-bit RGBA: 40 GB once decoded
        png_chunk(&mut bomb, b"IHDR", &ihdr);
        png_chunk(
            &mut bomb,
            b"IDAT",
            &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
        );
        png_chunk(&mut bomb, b"IEND", &[]);

        let err = store.put(&bomb).unwrap_err();
        assert!(
            matches!(
                err,
                EvidenceError::ImageTooLarge {
                    width: 100_000,
                    height: 100_000,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(files_under(&store.config().dir).is_empty());
    }

    #[test]
    fn a_real_bomb_under_the_byte_limit_is_refused_by_pixel_count() {
        // A flat 2000×2000 image compresses to a few kilobytes but decodes to 16 MB; the pixel
        // limit, not the byte limit, is what stops it.
        let tmp = tempfile::tempdir().unwrap();
        let store = EvidenceStore::open(EvidenceConfig {
            max_pixels: 1_000_000,
            ..EvidenceConfig::new(tmp.path().join("evidence"))
        })
        .unwrap();
        let flat = DynamicImage::ImageRgba8(ImageBuffer::from_pixel(2000, 2000, Rgba([0; 4])));
        let bytes = encode(&flat, ImageFormat::Png);
        assert!(bytes.len() < 100_000, "{}", bytes.len());
        let err = store.put(&bytes).unwrap_err();
        assert!(
            matches!(err, EvidenceError::ImageTooLarge { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn ids_that_are_not_hashes_never_reach_the_disk() {
        let tmp = tempfile::tempdir().unwrap();
        let store = store(tmp.path());
        // A file just outside the store that a traversal would find.
        fs::write(tmp.path().join("secret"), b"secret").unwrap();
        let traversal_64 = format!("../secret{}", "0".repeat(55));
        assert_eq!(traversal_64.len(), 64);
        for id in [
            "../etc/passwd",
            "../secret",
            "../../secret",
            "/etc/passwd",
            traversal_64.as_str(),
            &"g".repeat(64),
            &"a".repeat(63),
            &"a".repeat(65),
            "",
            "thumbs",
        ] {
            assert_eq!(store.get(id).unwrap(), None, "{id}");
            assert_eq!(store.thumbnail(id).unwrap(), None, "{id}");
        }
    }

    #[test]
    fn unknown_and_uppercase_ids() {
        let tmp = tempfile::tempdir().unwrap();
        let store = store(tmp.path());
        assert_eq!(store.get(&"0".repeat(64)).unwrap(), None);
        let bytes = encode(&gradient(10, 10), ImageFormat::Png);
        let stored = store.put(&bytes).unwrap();
        assert_eq!(
            store.get(&stored.sha256.to_ascii_uppercase()).unwrap(),
            Some(bytes)
        );
    }

    #[test]
    fn sniff_reads_magic_bytes_only() {
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some(MediaType::Jpeg));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n"), Some(MediaType::Png));
        assert_eq!(sniff(b"GIF89a"), Some(MediaType::Gif));
        assert_eq!(sniff(b"GIF87a"), Some(MediaType::Gif));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some(MediaType::Webp));
        assert_eq!(sniff(b"RIFF\0\0\0\0WAVEfmt "), None);
        assert_eq!(sniff(b"\x89PNG"), None);
        assert_eq!(sniff(b"<svg xmlns='http://www.w3.org/2000/svg'/>"), None);
        assert_eq!(sniff(b"%PDF-1.7"), None);
        assert_eq!(sniff(&[]), None);
    }

    #[test]
    fn media_type_names() {
        for t in MediaType::ALL {
            assert_eq!(MediaType::from_mime(t.as_str()), Some(t));
            assert_eq!(
                serde_json::to_value(t).unwrap(),
                serde_json::json!(t.as_str())
            );
        }
        assert_eq!(MediaType::Jpeg.extension(), "jpg");
        assert_eq!(MediaType::from_mime("image/svg+xml"), None);
    }
}
