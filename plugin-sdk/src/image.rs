//! Helpers on the contract's RGBA image.

use crate::Image;

impl Image {
    /// A transparent black image.
    pub fn new(width: u32, height: u32) -> Image {
        Image { width, height, rgba: vec![0; width as usize * height as usize * 4] }
    }

    /// Checks that the buffer holds exactly width × height RGBA pixels.
    pub fn validate(&self) -> Result<(), String> {
        let want = self.width as usize * self.height as usize * 4;
        if self.rgba.len() == want {
            Ok(())
        } else {
            Err(format!(
                "a {}x{} RGBA image needs {want} bytes, got {}",
                self.width,
                self.height,
                self.rgba.len()
            ))
        }
    }

    /// The pixel at (x, y) as [r, g, b, a].
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 4] {
        let i = (y as usize * self.width as usize + x as usize) * 4;
        [self.rgba[i], self.rgba[i + 1], self.rgba[i + 2], self.rgba[i + 3]]
    }

    /// The `width` × `height` region whose top-left corner is (x, y), which must lie
    /// inside the image.
    pub fn crop(&self, x: u32, y: u32, width: u32, height: u32) -> Image {
        let mut out = Image::new(width, height);
        let row = width as usize * 4;
        for dy in 0..height as usize {
            let from = ((y as usize + dy) * self.width as usize + x as usize) * 4;
            out.rgba[dy * row..(dy + 1) * row].copy_from_slice(&self.rgba[from..from + row]);
        }
        out
    }

    pub fn set_pixel(&mut self, x: u32, y: u32, value: [u8; 4]) {
        let i = (y as usize * self.width as usize + x as usize) * 4;
        self.rgba[i..i + 4].copy_from_slice(&value);
    }
}

impl crate::Params {
    /// Adds (or replaces) an infotext field.
    pub fn set_extra(&mut self, key: &str, value: &str) {
        self.extra.retain(|f| f.key != key);
        self.extra.push(crate::Field { key: key.to_string(), value: value.to_string() });
    }
}
