//! The library database and the disk scan, on real safetensors files in A1111 folders.

use std::collections::BTreeMap;
use std::path::Path;

use ra_library::pack::{Kind, Pack, Tier};
use ra_library::scan;
use ra_library::store::{Library, Query, Sort};

/// A safetensors file with zero-filled f32 tensors of these shapes and `metadata`.
fn write_safetensors(path: &Path, tensors: &[(&str, &[usize])], metadata: &[(&str, &str)]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut header = serde_json::Map::new();
    let mut offset = 0;
    for (name, shape) in tensors {
        let bytes = shape.iter().product::<usize>() * 4;
        header.insert(name.to_string(), serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + bytes]}));
        offset += bytes;
    }
    if !metadata.is_empty() {
        let m: BTreeMap<&str, &str> = metadata.iter().copied().collect();
        header.insert("__metadata__".into(), serde_json::json!(m));
    }
    let text = serde_json::to_vec(&header).unwrap();
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend(text);
    out.extend(vec![0u8; offset]);
    std::fs::write(path, out).unwrap();
}

fn sd1_checkpoint(path: &Path) {
    write_safetensors(
        path,
        &[("model.diffusion_model.out.2.weight", &[4, 8]), ("cond_stage_model.transformer.text_model.final_layer_norm.weight", &[768])],
        &[("modelspec.title", "Test SD1")],
    );
}

fn models_root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("models");
    sd1_checkpoint(&root.join("Stable-diffusion/dreamy.safetensors"));
    write_safetensors(&root.join("Lora/inked.safetensors"), &[("lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight", &[4, 768])], &[("ss_output_name", "inked")]);
    write_safetensors(&root.join("ESRGAN/4x-test.safetensors"), &[("conv_first.weight", &[8, 3, 3, 3])], &[]);
    std::fs::create_dir_all(root.join("VAE")).unwrap();
    std::fs::write(root.join("VAE/broken.safetensors"), b"not a model").unwrap();
    dir
}

#[test]
fn a_scan_records_what_the_headers_say_and_hashes_each_file_once() {
    let dir = models_root();
    let lib = Library::open(&dir.path().join("library.sqlite")).unwrap();
    let roots = vec![dir.path().join("models")];
    let first = scan::sync(&lib, &roots).unwrap();
    assert_eq!((first.hashed, first.unchanged), (3, 0));
    assert_eq!(first.unreadable.len(), 1);
    assert!(first.unreadable[0].1.contains("broken.safetensors is not a safetensors model file"), "{:?}", first.unreadable);

    let all = lib.search(&Query::default()).unwrap();
    let names: Vec<(&str, Option<Kind>, &str)> = all.iter().map(|m| (m.name.as_str(), m.kind, m.architecture.as_str())).collect();
    assert_eq!(names, vec![("4x-test", Some(Kind::Upscaler), "esrgan"), ("dreamy", Some(Kind::Checkpoint), "sd1"), ("inked", Some(Kind::Lora), "sd1")]);
    let dreamy = &all[1];
    assert_eq!(dreamy.metadata.get("modelspec.title").map(String::as_str), Some("Test SD1"));
    assert_eq!(dreamy.sha256, ra_library::hash::sha256_file(&dreamy.path).unwrap());
    assert_eq!(dreamy.autov2(), &dreamy.sha256[..10]);

    let again = scan::sync(&lib, &roots).unwrap();
    assert_eq!((again.hashed, again.unchanged, again.removed), (0, 3, 0));
    std::fs::remove_file(&dreamy.path).unwrap();
    assert_eq!(scan::sync(&lib, &roots).unwrap().removed, 1);
}

#[test]
fn ratings_notes_filters_and_sorting() {
    let dir = models_root();
    let lib = Library::open(&dir.path().join("library.sqlite")).unwrap();
    scan::sync(&lib, &[dir.path().join("models")]).unwrap();
    let find = |name: &str| lib.search(&Query::default()).unwrap().into_iter().find(|m| m.name == name).unwrap();
    lib.set_rating(find("dreamy").id, Some(5)).unwrap();
    lib.set_rating(find("inked").id, Some(2)).unwrap();
    lib.set_note(find("inked").id, "good for 水墨 portraits").unwrap();
    let err = lib.set_rating(find("inked").id, Some(6)).unwrap_err().to_string();
    assert!(err.contains("1 to 5 stars"), "{err}");

    let names = |q: Query| lib.search(&q).unwrap().into_iter().map(|m| m.name).collect::<Vec<_>>();
    assert_eq!(names(Query { kind: Some(Kind::Lora), ..Default::default() }), vec!["inked"]);
    assert_eq!(names(Query { min_rating: Some(3), ..Default::default() }), vec!["dreamy"]);
    assert_eq!(names(Query { text: Some("水墨".into()), ..Default::default() }), vec!["inked"]);
    assert_eq!(names(Query { text: Some("100%_".into()), ..Default::default() }), Vec::<String>::new());
    assert_eq!(names(Query { sort: Sort::Rating, ..Default::default() }), vec!["dreamy", "inked", "4x-test"]);
    // The LoRA's 4×768 tensor outweighs the stand-in checkpoint.
    assert_eq!(names(Query { sort: Sort::Size, ..Default::default() })[0], "inked");
    let reopened = Library::open(&dir.path().join("library.sqlite")).unwrap();
    assert_eq!(reopened.model(find("inked").id).unwrap().rating, Some(2));
}

const PACK: &str = r#"
id = "ink"
version = "1.0.0"
[name]
zh-CN = "水墨包"
[[models]]
name = "Dreamy"
file = "dreamy.safetensors"
kind = "checkpoint"
categories = ["国风", "anime"]
tier = "recommended"
urls = ["http://127.0.0.1:1/dreamy.safetensors"]
size = 1
sha256 = "SHA"
trigger_words = ["ink wash"]
"#;

#[test]
fn removing_a_pack_frees_only_what_nothing_else_wants() {
    let dir = models_root();
    let mut lib = Library::open(&dir.path().join("library.sqlite")).unwrap();
    scan::sync(&lib, &[dir.path().join("models")]).unwrap();
    let all = lib.search(&Query::default()).unwrap();
    let dreamy = all.iter().find(|m| m.name == "dreamy").unwrap().clone();
    let inked = all.iter().find(|m| m.name == "inked").unwrap().clone();
    let text = PACK.replace("SHA", &dreamy.sha256);
    let pack = Pack::parse(&text, "ink.toml").unwrap();
    lib.add_pack(&pack, &text).unwrap();
    lib.describe(dreamy.id, &ra_library::store::Described { entry: &pack.models[0], architecture: "sd1" }).unwrap();
    let second = Pack::parse(&text.replace("\"ink\"", "\"ink-too\""), "ink-too.toml").unwrap();
    lib.add_pack(&second, &text).unwrap();

    let described = lib.model(dreamy.id).unwrap();
    assert_eq!((described.name.as_str(), described.tier, described.packs.len()), ("Dreamy", Some(Tier::Recommended), 2));
    let by_category = lib.search(&Query { category: Some("国风".into()), ..Default::default() }).unwrap();
    assert_eq!(by_category.len(), 1);
    assert_eq!(lib.packs().unwrap().iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), vec!["ink", "ink-too"]);

    // Another pack still wants it.
    assert!(lib.remove_pack("ink").unwrap().is_empty());
    // The user keeps it.
    lib.set_kept(dreamy.id, true).unwrap();
    assert!(lib.remove_pack("ink-too").unwrap().is_empty());
    // Without either, removing the last pack frees it.
    lib.add_pack(&pack, &text).unwrap();
    lib.set_kept(dreamy.id, false).unwrap();
    let freed = lib.remove_pack("ink").unwrap();
    assert_eq!(freed.iter().map(|m| m.id).collect::<Vec<_>>(), vec![dreamy.id]);
    assert!(lib.model(inked.id).is_ok());
    let err = lib.remove_pack("nope").unwrap_err().to_string();
    assert!(err.contains("no installed model pack with id \"nope\""), "{err}");
}

#[test]
fn verify_finds_a_changed_byte() {
    let dir = models_root();
    let lib = Library::open(&dir.path().join("library.sqlite")).unwrap();
    scan::sync(&lib, &[dir.path().join("models")]).unwrap();
    assert!(scan::verify(&lib, |_| {}).unwrap().is_empty());
    let path = dir.path().join("models/Lora/inked.safetensors");
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let bad = scan::verify(&lib, |_| {}).unwrap();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].path, path);
}
