//! PNG files with an infotext chunk.
//!
//! The `parameters` text goes in a `tEXt` chunk when it is Latin-1, as A1111 (through
//! PIL) writes it, and in an uncompressed `iTXt` chunk otherwise, so that Chinese prompts
//! survive. Reading accepts `tEXt`, `zTXt` and `iTXt`.

use std::io::Cursor;

pub const PARAMETERS_KEY: &str = "parameters";

#[derive(Debug, thiserror::Error)]
pub enum PngError {
    #[error("not a readable PNG image: {0}")]
    Decode(String),
    #[error("could not encode PNG: {0}")]
    Encode(String),
    #[error("image buffer holds {got} bytes, expected {expected} for {width}x{height} RGB")]
    BufferSize {
        got: usize,
        expected: usize,
        width: u32,
        height: u32,
    },
}

/// An 8-bit RGB image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PngImage {
    pub width: u32,
    pub height: u32,
    /// Row-major RGB, 3 bytes a pixel.
    pub rgb: Vec<u8>,
}

impl PngImage {
    pub fn new(width: u32, height: u32, rgb: Vec<u8>) -> Result<Self, PngError> {
        let expected = width as usize * height as usize * 3;
        if rgb.len() != expected {
            return Err(PngError::BufferSize {
                got: rgb.len(),
                expected,
                width,
                height,
            });
        }
        Ok(Self { width, height, rgb })
    }

    /// Encodes the image with `parameters` set to `infotext`.
    pub fn encode(&self, infotext: Option<&str>) -> Result<Vec<u8>, PngError> {
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, self.width, self.height);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let e = |e: png::EncodingError| PngError::Encode(e.to_string());
            if let Some(text) = infotext {
                if text.chars().all(|c| (c as u32) < 256) {
                    enc.add_text_chunk(PARAMETERS_KEY.to_string(), text.to_string())
                        .map_err(e)?;
                } else {
                    enc.add_itxt_chunk(PARAMETERS_KEY.to_string(), text.to_string())
                        .map_err(e)?;
                }
            }
            let mut writer = enc.write_header().map_err(e)?;
            writer.write_image_data(&self.rgb).map_err(e)?;
            writer.finish().map_err(e)?;
        }
        Ok(out)
    }
}

/// Reads the `parameters` text of a PNG, if it has one.
pub fn read_parameters(bytes: &[u8]) -> Result<Option<String>, PngError> {
    let decoder = png::Decoder::new(Cursor::new(bytes));
    let mut reader = decoder
        .read_info()
        .map_err(|e| PngError::Decode(e.to_string()))?;
    // Text chunks may also follow the image data; read to the end to see them.
    let mut buf = vec![0; reader.output_buffer_size().unwrap_or(0)];
    if reader.next_frame(&mut buf).is_ok() {
        let _ = reader.finish();
    }
    let info = reader.info();
    if let Some(t) = info
        .uncompressed_latin1_text
        .iter()
        .find(|t| t.keyword == PARAMETERS_KEY)
    {
        return Ok(Some(t.text.clone()));
    }
    for t in &info.compressed_latin1_text {
        if t.keyword == PARAMETERS_KEY {
            return t
                .get_text()
                .map(Some)
                .map_err(|e| PngError::Decode(e.to_string()));
        }
    }
    for t in &info.utf8_text {
        if t.keyword == PARAMETERS_KEY {
            return t
                .get_text()
                .map(Some)
                .map_err(|e| PngError::Decode(e.to_string()));
        }
    }
    Ok(None)
}

/// Decodes a PNG to 8-bit RGB (dropping alpha, expanding palettes and grey).
pub fn decode_rgb(bytes: &[u8]) -> Result<PngImage, PngError> {
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder
        .read_info()
        .map_err(|e| PngError::Decode(e.to_string()))?;
    let mut buf = vec![0; reader.output_buffer_size().unwrap_or(0)];
    let frame = reader
        .next_frame(&mut buf)
        .map_err(|e| PngError::Decode(e.to_string()))?;
    let (w, h) = (frame.width, frame.height);
    let data = &buf[..frame.buffer_size()];
    let rgb = match frame.color_type {
        png::ColorType::Rgb => data.to_vec(),
        png::ColorType::Rgba => data
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect(),
        png::ColorType::Grayscale => data.iter().flat_map(|&g| [g, g, g]).collect(),
        png::ColorType::GrayscaleAlpha => data
            .chunks_exact(2)
            .flat_map(|p| [p[0], p[0], p[0]])
            .collect(),
        png::ColorType::Indexed => return Err(PngError::Decode("palette was not expanded".into())),
    };
    PngImage::new(w, h, rgb)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_round_trip_in_latin1_and_chinese() {
        let img = PngImage::new(2, 1, vec![1, 2, 3, 4, 5, 6]).unwrap();
        for text in ["a cat\nSteps: 20", "一只猫\nSteps: 20"] {
            let bytes = img.encode(Some(text)).unwrap();
            assert_eq!(read_parameters(&bytes).unwrap().as_deref(), Some(text));
            assert_eq!(decode_rgb(&bytes).unwrap(), img);
        }
        assert_eq!(read_parameters(&img.encode(None).unwrap()).unwrap(), None);
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let err = read_parameters(b"not a png").unwrap_err();
        assert!(
            err.to_string().starts_with("not a readable PNG image"),
            "{err}"
        );
        assert!(PngImage::new(2, 2, vec![0; 3]).is_err());
    }
}
