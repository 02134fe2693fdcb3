//! The PNG info page: the parameters stored in any PNG (RA's or A1111's), as text and
//! as a form ready for "send to Generate".

use std::path::Path;

use serde::Serialize;

use crate::form::GenerateForm;
use crate::notice::Notice;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PngInfo {
    pub path: String,
    /// The infotext as stored.
    pub parameters: String,
    /// The parameters as a Generate form, when the text is an infotext.
    pub form: Option<GenerateForm>,
}

pub fn read(path: &Path) -> Result<PngInfo, Notice> {
    let bytes = std::fs::read(path).map_err(|e| {
        Notice::new("image-unreadable")
            .arg("path", path.display())
            .arg("detail", e)
    })?;
    let parameters = ra_wire::png_text::read_parameters(&bytes)
        .map_err(|e| Notice::new("pnginfo-not-png").arg("detail", e))?
        .ok_or_else(|| Notice::new("pnginfo-none"))?;
    Ok(PngInfo {
        path: path.display().to_string(),
        form: GenerateForm::from_infotext(&parameters).ok(),
        parameters,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ra_wire::PngImage;

    #[test]
    fn parameters_are_read_and_bad_files_are_explained() {
        let dir = tempfile::tempdir().unwrap();
        let img = PngImage::new(4, 4, vec![0; 48]).unwrap();
        let text = "一只猫\nSteps: 12, Sampler: Euler a, CFG scale: 5, Seed: 9, Size: 4x4";
        let ours = dir.path().join("ours.png");
        std::fs::write(&ours, img.encode(Some(text)).unwrap()).unwrap();
        let info = read(&ours).unwrap();
        assert_eq!(info.parameters, text);
        let form = info.form.unwrap();
        assert_eq!((form.prompt.as_str(), form.steps, form.seed), ("一只猫", 12, 9));

        let bare = dir.path().join("bare.png");
        std::fs::write(&bare, img.encode(None).unwrap()).unwrap();
        assert_eq!(read(&bare).unwrap_err().id, "pnginfo-none");
        let text_file = dir.path().join("notes.png");
        std::fs::write(&text_file, "hello").unwrap();
        assert_eq!(read(&text_file).unwrap_err().id, "pnginfo-not-png");
        assert_eq!(read(&dir.path().join("gone.png")).unwrap_err().id, "image-unreadable");
    }
}
