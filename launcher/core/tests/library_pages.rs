//! The Models, Packs, Downloads and Updates pages' logic against the real thing: a pack
//! and a signed update served by a loopback HTTP server, the SQLite library, files on
//! disk, and installed "binaries" that must start after an update.

#[path = "../../../library/tests/support/http_server.rs"]
mod http_server;
#[path = "../../../library/tests/support/safetensors.rs"]
mod support;

use std::io::Cursor;
use std::path::Path;
use std::sync::{Arc, Mutex};

use http_server::{Served, Server};
use ra_launcher_core::downloads::{Board, FileState};
use ra_launcher_core::model_library::{ModelFilter, ModelLibrary};
use ra_launcher_core::notice::Notice;
use ra_launcher_core::pack_list;
use ra_launcher_core::updates::{UpdateView, Updates};
use ra_library::download::DownloadConfig;
use ra_library::hash::sha256_reader;
use ra_library::update::{Installation, UpdateConfig, UpdateKey, Updater};

fn safetensors(n: usize, seed: u8) -> Arc<Vec<u8>> {
    Arc::new(support::lora(n, seed))
}

#[test]
fn a_pack_is_planned_downloaded_with_pause_and_resume_rated_and_removed() {
    let server = Server::start();
    let (a, b) = (safetensors(4_000, 3), safetensors(6_000, 7));
    server.serve("/ink.safetensors", Served::new(a.clone()));
    server.serve("/wash.safetensors", Served::new(b.clone()));
    let model = |name: &str, body: &[u8], cat: &str| {
        format!(
            "[[models]]\nname = \"{name}\"\nfile = \"{name}.safetensors\"\nkind = \"lora\"\ntier = \"recommended\"\n\
             categories = [\"{cat}\"]\nurls = [\"{}\"]\nsize = {}\nsha256 = \"{}\"\nlicense = \"MIT\"\n\n",
            server.url(&format!("/{name}.safetensors")),
            body.len(),
            sha256_reader(body).unwrap()
        )
    };
    let manifest = format!(
        "id = \"ink\"\nversion = \"1.2.0\"\n[name]\nzh-CN = \"水墨\"\nen-US = \"Ink\"\n[description]\nen-US = \"Ink styles\"\n\n{}{}",
        model("ink", &a, "国风"),
        model("wash", &b, "国风")
    );
    server.serve("/ink.toml", Served::new(Arc::new(manifest.into_bytes())));
    let dir = tempfile::tempdir().unwrap();
    let library = ModelLibrary::new(dir.path(), vec![dir.path().join("models")]);
    let source = server.url("/ink.toml");

    // Bad sources say what is wrong.
    assert_eq!(pack_list::card(&library, "  ").unwrap_err().id, "packs-source-empty");
    assert_eq!(pack_list::card(&library, &server.url("/nothing.toml")).unwrap_err().id, "lib-manifest-unreachable");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "id = \"x\"\nversion = 1\n").unwrap();
    assert_eq!(pack_list::card(&library, bad.to_str().unwrap()).unwrap_err().id, "lib-bad-pack");

    let card = pack_list::card(&library, &source).unwrap();
    assert_eq!((card.id.as_str(), card.version.as_str(), card.installed.as_str()), ("ink", "1.2.0", ""));
    assert_eq!(card.download, (a.len() + b.len()) as u64);
    assert!(card.fits && card.free > card.download);
    assert_eq!(card.name["zh-CN"], "水墨");

    // First run: the second file is paused from the Downloads page before it starts.
    let board = Mutex::new(Board::default());
    let run = |board: &Mutex<Board>| {
        let plan = pack_list::plan(&library, &source).unwrap();
        let controls = board.lock().unwrap().begin(&plan, &source).unwrap();
        let mut lib = library.open().unwrap();
        let outcome = ra_library::install::install_with(&plan, &mut lib, DownloadConfig::TEST, &controls, |p| {
            board.lock().unwrap().progress("ink", p)
        });
        board.lock().unwrap().finish("ink", outcome.map(drop).map_err(|e| Notice::from_library(&e)));
    };
    board.lock().unwrap().begin(&pack_list::plan(&library, &source).unwrap(), &source).unwrap();
    board.lock().unwrap().pause("ink", "wash.safetensors");
    board.lock().unwrap().finish("ink", Err(Notice::new("lib-pack-incomplete")));
    run(&board);
    {
        let b = board.lock().unwrap();
        let files = &b.tasks()[0].files;
        assert_eq!((files[0].state, files[1].state), (FileState::Done, FileState::Paused));
        assert_eq!(b.tasks()[0].error.as_ref().unwrap().id, "lib-pack-incomplete");
    }
    assert!(library.open().unwrap().packs().unwrap().is_empty(), "no pack until every model is in");
    assert_eq!(pack_list::card(&library, &source).unwrap().download, b.len() as u64);

    // Resume: the install runs again and finishes the pack.
    assert!(board.lock().unwrap().resume("ink", "wash.safetensors"));
    run(&board);
    assert!(board.lock().unwrap().tasks()[0].installed);
    assert!(board.lock().unwrap().tasks()[0].files.iter().all(|f| f.state == FileState::Done));
    assert_eq!(pack_list::card(&library, &source).unwrap().installed, "1.2.0");

    // The Models page sees them, with the pack's categories and tier; rate and filter.
    let listed = library.list(&ModelFilter { category: "国风".into(), ..Default::default() }).unwrap();
    assert_eq!(listed.models.len(), 2);
    assert_eq!(listed.categories, ["国风"]);
    assert_eq!((listed.models[0].tier.as_str(), listed.models[0].packs.clone()), ("recommended", vec!["ink".to_string()]));
    library.rate(listed.models[1].id, 5).unwrap();
    let best = library.list(&ModelFilter { sort: "rating".into(), ..Default::default() }).unwrap();
    assert_eq!(best.models[0].name, "wash");

    let removed = pack_list::remove(&library, "ink").unwrap();
    assert_eq!(removed.args, [("pack".to_string(), "ink".to_string()), ("count".to_string(), "2".to_string())]);
    assert!(library.list(&ModelFilter::default()).unwrap().models.is_empty());
    assert_eq!(pack_list::remove(&library, "ink").unwrap_err().id, "lib-no-such-pack");
}

/// `<dir>/{ra-daemon, ra-launcher}` scripts that print `version`, except `broken`, which
/// fails to start.
fn release(dir: &Path, version: &str, broken: Option<&str>) -> std::path::PathBuf {
    let out = dir.join(format!("release-{version}"));
    std::fs::create_dir_all(&out).unwrap();
    for name in ["ra-daemon", "ra-launcher"] {
        let body = if broken != Some(name) {
            format!("#!/bin/sh\necho {name} {version}\n")
        } else {
            "#!/bin/sh\necho 'error while loading shared libraries' >&2\nexit 127\n".to_string()
        };
        std::fs::write(out.join(name), body).unwrap();
    }
    out
}

#[test]
fn the_updates_page_checks_installs_rolls_back_and_refuses_what_it_must() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let keys = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
    let public = keys.pk.to_base64();
    let sign = |bytes: &[u8]| {
        minisign::sign(Some(&keys.pk), &keys.sk, Cursor::new(bytes), None, None).unwrap().into_string()
    };
    // RA 0.1.0 installed the way a release installs it.
    let root = dir.path().join("install");
    let first = release(dir.path(), "0.1.0", None);
    Updater::new(UpdateKey::parse(&public).unwrap(), Installation::new(&root), dir.path().join("state"), UpdateConfig::ra())
        .adopt(&"0.1.0".parse().unwrap(), &first)
        .unwrap();
    let exe = std::fs::canonicalize(root.join("current/ra-launcher")).unwrap();
    let updates = Updates::new(&public, &exe, dir.path().join("state"), "0.1.0").unwrap();
    assert!(!updates.has_previous());

    let publish = |version: &str, issued: &str, broken: Option<&str>, key_sign: &dyn Fn(&[u8]) -> String| {
        let files = release(dir.path(), version, broken);
        let mut text = format!(
            "format = 1\nversion = \"{version}\"\nissued = {issued}\nexpires = 2099-01-01T00:00:00Z\n\
             [notes]\nzh-CN = \"更快的采样\"\nen-US = \"Faster sampling\"\n"
        );
        for name in ["ra-daemon", "ra-launcher"] {
            let bytes = std::fs::read(files.join(name)).unwrap();
            let path = format!("/{version}/{name}");
            server.serve(&path, Served::new(Arc::new(bytes.clone())));
            text.push_str(&format!(
                "[[artefacts]]\nname = \"{name}\"\nurl = \"{}\"\nsha256 = \"{}\"\nsize = {}\n",
                server.url(&path),
                sha256_reader(&bytes[..]).unwrap(),
                bytes.len()
            ));
        }
        server.serve("/manifest.toml", Served::new(Arc::new(text.clone().into_bytes())));
        server.serve("/manifest.toml.minisig", Served::new(Arc::new(key_sign(text.as_bytes()).into_bytes())));
    };
    let url = server.url("/manifest.toml");
    assert_eq!(updates.check("", "zh-CN").unwrap_err().id, "update-url-empty");
    assert_eq!(updates.check(&url, "zh-CN").unwrap_err().id, "update-unreachable");

    publish("0.2.0", "2026-01-01T00:00:00Z", None, &sign);
    let (view, update) = updates.check(&url, "zh-CN").unwrap();
    assert_eq!(view, UpdateView::Available { version: "0.2.0".into(), notes: "更快的采样".into() });
    let view = updates.install(&update.unwrap()).unwrap();
    assert_eq!(view, UpdateView::Installed { version: "0.2.0".into(), previous: "0.1.0".into() });
    assert!(updates.has_previous());
    assert_eq!(updates.check(&url, "en-US").unwrap().0, UpdateView::UpToDate { version: "0.2.0".into() });
    assert_eq!(updates.rollback().unwrap(), UpdateView::RolledBack { version: "0.1.0".into() });

    // A release whose daemon or launcher does not start is undone at once.
    for (version, issued, broken) in [
        ("0.3.0", "2026-02-01T00:00:00Z", "ra-daemon"),
        ("0.3.1", "2026-02-02T00:00:00Z", "ra-launcher"),
    ] {
        publish(version, issued, Some(broken), &sign);
        let (_, update) = updates.check(&url, "en-US").unwrap();
        let failed = updates.install(&update.unwrap()).unwrap_err();
        assert_eq!(failed.id, "update-failed-to-start");
        assert!(failed.args.iter().any(|(_, v)| v.contains(broken)), "{failed:?}");
        assert!(std::fs::read_link(root.join("current")).unwrap().ends_with("0.1.0"));
    }

    // Signed by someone else, or changed after signing.
    let other = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
    let sign_other = |bytes: &[u8]| {
        minisign::sign(Some(&other.pk), &other.sk, Cursor::new(bytes), None, None).unwrap().into_string()
    };
    publish("0.4.0", "2026-03-01T00:00:00Z", None, &sign_other);
    assert_eq!(updates.check(&url, "en-US").unwrap_err().id, "update-wrong-key");
    let tamper = |bytes: &[u8]| sign(&[bytes, b"\n"].concat());
    publish("0.4.0", "2026-03-01T00:00:00Z", None, &tamper);
    assert_eq!(updates.check(&url, "en-US").unwrap_err().id, "update-tampered");

    // A copy running from a build folder is never touched.
    let dev = Updates::new(&public, Path::new("/src/ra/target/release/ra-launcher"), dir.path().join("s2"), "0.1.0").unwrap();
    assert_eq!(dev.check(&url, "en-US").unwrap_err().id, "update-from-build");
    assert_eq!(dev.rollback().unwrap_err().id, "update-from-build");
}

#[test]
fn the_built_in_release_key_is_a_minisign_key() {
    assert!(Updates::new(ra_launcher_core::updates::RELEASE_KEY, Path::new("/x"), "/tmp".into(), env!("CARGO_PKG_VERSION")).is_ok());
}
