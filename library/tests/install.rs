//! Installing a pack with the window's pause and cancel handles, its preview pictures, and
//! removing it again, against the loopback server.

#[path = "support/http_server.rs"]
mod http_server;
#[path = "support/safetensors.rs"]
mod support;

use std::sync::Arc;

use http_server::{Served, Server};
use ra_library::download::{Control, DownloadConfig};
use ra_library::hash::sha256_reader;
use ra_library::install::{install, install_with, plan, read_manifest, remove};
use ra_library::store::{Library, Query};
use ra_library::LibraryError;

/// An ESRGAN-named tensor, so the files read as upscalers.
fn safetensors(n: usize, seed: u8) -> Arc<Vec<u8>> {
    Arc::new(support::one_tensor("conv_first.weight", n, seed))
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n-not-decoded-only-sniffed-";

fn manifest(server: &Server, a: &[u8], b: &[u8]) -> String {
    let model = |name: &str, path: &str, body: &[u8], preview: &str| {
        format!(
            "[[models]]\nname = \"{name}\"\nfile = \"{name}.safetensors\"\nkind = \"upscaler\"\ntier = \"official\"\n\
             urls = [\"{}\"]\nsize = {}\nsha256 = \"{}\"\nlicense = \"MIT\"\n{preview}\n",
            server.url(path),
            body.len(),
            sha256_reader(body).unwrap()
        )
    };
    format!(
        "id = \"upscalers\"\nversion = \"1.0.0\"\n[name]\nzh-CN = \"放大\"\nen-US = \"Upscalers\"\n\n{}{}",
        model("first", "/a", a, &format!("preview = \"{}\"", server.url("/a.png"))),
        model("second", "/b", b, &format!("preview = \"{}\"", server.url("/b.html"))),
    )
}

#[test]
fn a_paused_model_leaves_no_pack_and_installing_again_completes_it_with_previews() {
    let server = Server::start();
    let (a, b) = (safetensors(5_000, 3), safetensors(7_000, 5));
    server.serve("/a", Served::new(a.clone()));
    server.serve("/b", Served::new(b.clone()));
    server.serve("/a.png", Served::new(Arc::new(PNG.to_vec())));
    server.serve("/b.html", Served::new(Arc::new(b"<html>not found</html>".to_vec())));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pack.toml");
    std::fs::write(&file, manifest(&server, &a, &b)).unwrap();
    let root = dir.path().join("models");
    let mut lib = Library::open(&dir.path().join("library.sqlite")).unwrap();

    let (pack, text) = read_manifest(file.to_str().unwrap()).unwrap();
    let planned = plan(pack, text, &lib, &root).unwrap();
    let controls = vec![Control::new(), Control::new()];
    controls[1].pause();
    let err = install_with(&planned, &mut lib, DownloadConfig::TEST, &controls, |_| {}).unwrap_err();
    assert!(matches!(err, LibraryError::PackIncomplete { .. }), "{err}");
    assert!(err.to_string().contains("second: the download of") && err.to_string().contains("is paused"), "{err}");
    assert!(lib.packs().unwrap().is_empty(), "a paused install records no pack");
    assert!(root.join("ESRGAN/first.safetensors").is_file());
    assert!(!root.join("ESRGAN/second.safetensors").exists());
    // The picture beside the model, under A1111's name.
    assert_eq!(std::fs::read(root.join("ESRGAN/first.preview.png")).unwrap(), PNG);

    controls[1].resume();
    let (pack, text) = read_manifest(file.to_str().unwrap()).unwrap();
    let planned = plan(pack, text, &lib, &root).unwrap();
    assert_eq!(planned.missing().count(), 1);
    let done = install(&planned, &mut lib, DownloadConfig::TEST, |_| {}).unwrap();
    assert_eq!((done.downloaded, done.already_present), (1, 1));
    assert_eq!(lib.packs().unwrap()[0].id, "upscalers");
    // A preview URL that answers with a web page leaves no picture and no temporary file.
    let names: Vec<String> = std::fs::read_dir(root.join("ESRGAN")).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    let mut names = names;
    names.sort();
    assert_eq!(names, ["first.preview.png", "first.safetensors", "second.safetensors"]);

    let deleted = remove(&mut lib, "upscalers").unwrap();
    assert_eq!(deleted.len(), 2);
    assert_eq!(std::fs::read_dir(root.join("ESRGAN")).unwrap().count(), 0, "models and previews are gone");
    assert!(lib.search(&Query::default()).unwrap().is_empty());
    assert!(matches!(remove(&mut lib, "upscalers"), Err(LibraryError::NoSuchPack(_))));
}

#[test]
fn a_file_already_under_the_name_counts_when_its_bytes_match_and_is_never_overwritten_otherwise() {
    let server = Server::start();
    let (a, b) = (safetensors(5_000, 3), safetensors(7_000, 5));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pack.toml");
    std::fs::write(&file, manifest(&server, &a, &b)).unwrap();
    let root = dir.path().join("models");
    std::fs::create_dir_all(root.join("ESRGAN")).unwrap();
    // The right bytes, put there by hand and never scanned: nothing to download.
    std::fs::write(root.join("ESRGAN/first.safetensors"), &a[..]).unwrap();
    let lib = Library::open(&dir.path().join("library.sqlite")).unwrap();
    let (pack, text) = read_manifest(file.to_str().unwrap()).unwrap();
    let planned = plan(pack.clone(), text.clone(), &lib, &root).unwrap();
    assert_eq!(planned.missing().count(), 1);
    // Other bytes under the pack's name: refused, and the file stays as it was.
    std::fs::write(root.join("ESRGAN/second.safetensors"), &a[..]).unwrap();
    let err = plan(pack, text, &lib, &root).unwrap_err();
    assert!(matches!(err, LibraryError::NameTaken { .. }), "{err}");
    assert!(err.to_string().contains("second.safetensors already exists and is not the model \"second\""), "{err}");
    assert_eq!(std::fs::read(root.join("ESRGAN/second.safetensors")).unwrap(), &a[..]);
}
