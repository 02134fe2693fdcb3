//! Signed updates end to end: a key pair made on the spot signs manifests, shell-script
//! "binaries" stand in for ra-daemon and ra-launcher, and every refusal is checked to
//! leave the installation exactly as it was.

use std::fs;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use minisign::KeyPair;
use ra_library::hash::sha256_file;
use ra_library::update::{
    copy_from_dir, download_artefacts, fetch_manifest, installation_of, reports_version, Installation, Timestamp, UpdateCheck, UpdateConfig, UpdateKey, Updater, Version,
    VerifiedUpdate,
};
use ra_library::LibraryError;

const NOW: &str = "2026-03-10T00:00:00Z";

struct Keys {
    pair: KeyPair,
}

impl Keys {
    fn new() -> Keys {
        Keys { pair: KeyPair::generate_unencrypted_keypair().unwrap() }
    }

    fn public(&self) -> UpdateKey {
        UpdateKey::parse(&self.pair.pk.to_base64()).unwrap()
    }

    fn sign(&self, bytes: &[u8]) -> String {
        minisign::sign(Some(&self.pair.pk), &self.pair.sk, Cursor::new(bytes), None, None).unwrap().into_string()
    }
}

/// A temp dir holding an install, its state dir, and one source dir per release.
struct Fixture {
    dir: tempfile::TempDir,
    keys: Keys,
    updater: Updater,
}

impl Fixture {
    /// RA 0.1.0 installed.
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let keys = Keys::new();
        let updater = Updater::new(
            keys.public(),
            Installation::new(dir.path().join("install")),
            dir.path().join("state"),
            UpdateConfig::ra(),
        );
        let fixture = Fixture { dir, keys, updater };
        let source = fixture.release("0.1.0");
        fixture.updater.adopt(&v("0.1.0"), &source).unwrap();
        fixture
    }

    /// `<tmp>/release-<version>/{ra-daemon, ra-launcher}`: scripts that print their
    /// version. Written without the executable bit: installing must set it.
    fn release(&self, version: &str) -> PathBuf {
        let dir = self.dir.path().join(format!("release-{version}"));
        fs::create_dir_all(&dir).unwrap();
        for name in ["ra-daemon", "ra-launcher"] {
            fs::write(dir.join(name), format!("#!/bin/sh\necho {name} {version}\n")).unwrap();
        }
        dir
    }

    /// A manifest for the files in `release` as TOML text.
    fn manifest(&self, version: &str, issued: &str, expires: &str, release: &Path) -> String {
        let mut text = format!(
            "format = 1\nversion = \"{version}\"\nissued = {issued}\nexpires = {expires}\n\n\
             [notes]\nzh-CN = \"修复与改进\"\nen-US = \"Fixes and improvements\"\n"
        );
        for name in ["ra-daemon", "ra-launcher"] {
            let path = release.join(name);
            text.push_str(&format!(
                "\n[[artefacts]]\nname = \"{name}\"\nurl = \"https://updates.example.org/ra/{version}/{name}\"\nsha256 = \"{}\"\nsize = {}\n",
                sha256_file(&path).unwrap(),
                fs::metadata(&path).unwrap().len()
            ));
        }
        text
    }

    fn check(&self, manifest: &str) -> Result<UpdateCheck, LibraryError> {
        self.check_at(manifest, NOW)
    }

    fn check_at(&self, manifest: &str, now: &str) -> Result<UpdateCheck, LibraryError> {
        self.updater.check(manifest.as_bytes(), &self.keys.sign(manifest.as_bytes()), now.parse().unwrap())
    }

    /// A release, its manifest (issued `issued`, expiring in April) and the checked update.
    fn offer(&self, version: &str, issued: &str) -> (PathBuf, VerifiedUpdate) {
        let release = self.release(version);
        let manifest = self.manifest(version, issued, "2026-04-01T00:00:00Z", &release);
        match self.check(&manifest).unwrap() {
            UpdateCheck::Available(update) => (release, update),
            other => panic!("expected an update, got {other:?}"),
        }
    }

    /// Installs `version` (issued `issued`) and checks that it starts.
    fn update_to(&self, version: &str, issued: &str) {
        let (release, update) = self.offer(version, issued);
        let installed = self.updater.install_and_check(&update, copy_from_dir(release), healthy(version)).unwrap();
        assert_eq!(installed.version, v(version));
    }

    fn installation(&self) -> &Installation {
        self.updater.installation()
    }

    /// Everything an update may change: the links, the version directories (with their
    /// files' content) and the update state.
    fn snapshot(&self) -> String {
        let root = self.installation().root();
        let mut out = String::new();
        for link in ["current", "previous"] {
            out.push_str(&format!("{link} -> {:?}\n", fs::read_link(root.join(link)).ok()));
        }
        let mut entries: Vec<PathBuf> = fs::read_dir(root.join("versions")).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for version_dir in entries {
            let mut files: Vec<PathBuf> = fs::read_dir(&version_dir).unwrap().map(|e| e.unwrap().path()).collect();
            files.sort();
            for file in files {
                out.push_str(&format!("{}: {}\n", file.strip_prefix(root).unwrap().display(), sha256_file(&file).unwrap()));
            }
        }
        let state = fs::read_to_string(self.dir.path().join("state/update-state.toml")).ok();
        out.push_str(&format!("state: {state:?}\n"));
        out
    }

    /// What `current/<name> --version` prints.
    fn runs(&self, name: &str) -> String {
        let out = Command::new(self.installation().binary(name)).arg("--version").output().unwrap();
        assert!(out.status.success(), "{name} failed: {out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }
}

fn v(text: &str) -> Version {
    text.parse().unwrap()
}

/// Both binaries start and report `version`.
fn healthy(version: &str) -> impl FnOnce(&Path) -> Result<(), String> {
    let version = v(version);
    move |dir: &Path| {
        reports_version("ra-daemon", &version, Duration::from_secs(120))(dir)?;
        reports_version("ra-launcher", &version, Duration::from_secs(120))(dir)
    }
}

#[test]
fn valid_update_installs_and_keeps_the_previous_version() {
    let f = Fixture::new();
    assert_eq!(f.runs("ra-daemon"), "ra-daemon 0.1.0");
    assert_eq!(f.installation().current().unwrap(), Some(v("0.1.0")));
    assert_eq!(f.installation().previous().unwrap(), None);

    let (release, update) = f.offer("0.2.0", "2026-03-01T08:00:00Z");
    assert_eq!(update.manifest().notes_for("zh-CN"), Some("修复与改进"));
    assert_eq!(update.manifest().notes_for("en-GB"), Some("Fixes and improvements"));
    let installed = f.updater.install_and_check(&update, copy_from_dir(&release), healthy("0.2.0")).unwrap();
    assert_eq!((installed.version, installed.previous), (v("0.2.0"), v("0.1.0")));

    assert_eq!(f.runs("ra-daemon"), "ra-daemon 0.2.0");
    assert_eq!(f.runs("ra-launcher"), "ra-launcher 0.2.0");
    assert_eq!(f.installation().current().unwrap(), Some(v("0.2.0")));
    assert_eq!(f.installation().previous().unwrap(), Some(v("0.1.0")));
    assert!(f.installation().version_dir(&v("0.1.0")).join("ra-daemon").is_file());
    let accepted = f.updater.last_accepted().unwrap().unwrap();
    assert_eq!((accepted.version, accepted.issued), (v("0.2.0"), "2026-03-01T08:00:00Z".parse().unwrap()));

    // The server keeps answering with the same manifest until the next release: that is
    // "up to date", not an error.
    let same = f.manifest("0.2.0", "2026-03-01T08:00:00Z", "2026-04-01T00:00:00Z", &release);
    assert!(matches!(f.check(&same).unwrap(), UpdateCheck::UpToDate { version } if version == v("0.2.0")));

    // A third version moves `previous` along and prunes the oldest.
    f.update_to("0.3.0", "2026-03-05T08:00:00Z");
    assert_eq!(f.installation().previous().unwrap(), Some(v("0.2.0")));
    assert!(!f.installation().version_dir(&v("0.1.0")).exists());
}

#[test]
fn replayed_manifest_is_refused() {
    let f = Fixture::new();
    // An older manifest, still within its validity, captured before 0.2.0 came out.
    let old_release = f.release("0.1.5");
    let old = f.manifest("0.1.5", "2026-02-20T08:00:00Z", "2026-04-01T00:00:00Z", &old_release);
    f.update_to("0.2.0", "2026-03-01T08:00:00Z");
    let before = f.snapshot();

    let err = f.check(&old).unwrap_err();
    assert!(matches!(&err, LibraryError::UpdateReplayed { version, .. } if *version == v("0.1.5")), "{err}");
    let message = err.to_string();
    assert!(message.contains("issued 2026-02-20T08:00:00Z") && message.contains("check the update URL in settings"), "{message}");

    // Same issue time, another version: two answers cannot both be the newest.
    let forged_release = f.release("0.9.0");
    let same_time = f.manifest("0.9.0", "2026-03-01T08:00:00Z", "2026-04-01T00:00:00Z", &forged_release);
    assert!(matches!(f.check(&same_time), Err(LibraryError::UpdateReplayed { .. })));
    assert_eq!(f.snapshot(), before);
}

#[test]
fn expired_manifest_is_refused() {
    let f = Fixture::new();
    let before = f.snapshot();
    let release = f.release("0.2.0");
    let manifest = f.manifest("0.2.0", "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z", &release);

    let err = f.check_at(&manifest, "2026-03-01T00:00:01Z").unwrap_err();
    assert!(matches!(err, LibraryError::UpdateExpired { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("expired on 2026-03-01T00:00:00Z"), "{message}");
    assert!(message.contains("replaying an old answer: check the update URL in settings"), "{message}");
    // The same manifest was fine a second earlier.
    assert!(matches!(f.check_at(&manifest, "2026-02-28T23:59:59Z").unwrap(), UpdateCheck::Available(_)));
    assert_eq!(f.snapshot(), before);
}

#[test]
fn downgrade_is_refused() {
    let f = Fixture::new();
    f.update_to("0.2.0", "2026-03-01T08:00:00Z");
    let before = f.snapshot();
    // Freshly issued and properly signed, but older than what is installed.
    let release = f.release("0.1.9");
    let manifest = f.manifest("0.1.9", "2026-03-05T08:00:00Z", "2026-04-01T00:00:00Z", &release);

    let err = f.check(&manifest).unwrap_err();
    assert!(
        matches!(&err, LibraryError::UpdateDowngrade { offered, installed } if *offered == v("0.1.9") && *installed == v("0.2.0")),
        "{err}"
    );
    assert_eq!(f.snapshot(), before);
    assert_eq!(f.runs("ra-daemon"), "ra-daemon 0.2.0");
}

#[test]
fn tampered_manifest_is_refused_whichever_byte_changed() {
    let f = Fixture::new();
    let before = f.snapshot();
    let release = f.release("0.2.0");
    let manifest = f.manifest("0.2.0", "2026-03-01T08:00:00Z", "2026-04-01T00:00:00Z", &release);
    let signature = f.keys.sign(manifest.as_bytes());
    let now: Timestamp = NOW.parse().unwrap();

    for i in 0..manifest.len() {
        let mut bytes = manifest.clone().into_bytes();
        bytes[i] ^= 0x01;
        let err = f.updater.check(&bytes, &signature, now).unwrap_err();
        assert!(matches!(err, LibraryError::UpdateTampered), "byte {i}: {err}");
    }
    // One byte more is a change too.
    let longer = format!("{manifest}\n");
    assert!(matches!(f.updater.check(longer.as_bytes(), &signature, now), Err(LibraryError::UpdateTampered)));
    assert_eq!(f.snapshot(), before);
    // The untouched bytes still pass.
    assert!(matches!(f.updater.check(manifest.as_bytes(), &signature, now).unwrap(), UpdateCheck::Available(_)));
}

#[test]
fn manifest_signed_by_another_key_is_refused() {
    let f = Fixture::new();
    let before = f.snapshot();
    let release = f.release("0.2.0");
    let manifest = f.manifest("0.2.0", "2026-03-01T08:00:00Z", "2026-04-01T00:00:00Z", &release);
    let stranger = Keys::new();

    let err = f.updater.check(manifest.as_bytes(), &stranger.sign(manifest.as_bytes()), NOW.parse().unwrap()).unwrap_err();
    assert!(matches!(err, LibraryError::UpdateWrongKey), "{err}");
    assert!(err.to_string().contains("different key"), "{err}");

    let err = f.updater.check(manifest.as_bytes(), "<html>502 Bad Gateway</html>", NOW.parse().unwrap()).unwrap_err();
    assert!(matches!(err, LibraryError::UpdateSignatureUnreadable { .. }), "{err}");
    assert_eq!(f.snapshot(), before);
}

#[test]
fn artefact_with_wrong_hash_or_size_is_refused_and_nothing_changes() {
    let f = Fixture::new();
    let before = f.snapshot();
    let (release, update) = f.offer("0.2.0", "2026-03-01T08:00:00Z");

    // Same size, other bytes: what a swapped file on a mirror looks like.
    let swapped = f.dir.path().join("swapped");
    fs::create_dir_all(&swapped).unwrap();
    fs::copy(release.join("ra-daemon"), swapped.join("ra-daemon")).unwrap();
    fs::write(swapped.join("ra-launcher"), "#!/bin/sh\necho ra-launcher 6.6.6\n").unwrap();
    let err = f.updater.install_and_check(&update, copy_from_dir(&swapped), healthy("0.2.0")).unwrap_err();
    assert!(matches!(&err, LibraryError::UpdateArtefactHash { name, .. } if name == "ra-launcher"), "{err}");
    assert_eq!(f.snapshot(), before);
    assert_eq!(f.runs("ra-daemon"), "ra-daemon 0.1.0");

    // A cut-off download.
    fs::write(swapped.join("ra-launcher"), "#!/bin/sh\n").unwrap();
    let err = f.updater.install(&update, copy_from_dir(&swapped)).unwrap_err();
    assert!(matches!(&err, LibraryError::UpdateArtefactSize { name, .. } if name == "ra-launcher"), "{err}");
    assert_eq!(f.snapshot(), before);

    // A failed download does not use up the version: the right files install.
    f.updater.install_and_check(&update, copy_from_dir(&release), healthy("0.2.0")).unwrap();
    assert_eq!(f.runs("ra-launcher"), "ra-launcher 0.2.0");
}

#[test]
fn broken_new_binary_rolls_back() {
    let failing: [(&str, &[u8]); 2] = [
        ("exits 1", b"#!/bin/sh\necho 'error while loading shared libraries' >&2\nexit 1\n"),
        ("garbage", &[0x7f, b'E', b'L', b'F', 0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3]),
    ];
    for (what, daemon) in failing {
        let f = Fixture::new();
        let before = f.snapshot();
        let release = f.release("0.2.0");
        fs::write(release.join("ra-daemon"), daemon).unwrap();
        let manifest = f.manifest("0.2.0", "2026-03-01T08:00:00Z", "2026-04-01T00:00:00Z", &release);
        let UpdateCheck::Available(update) = f.check(&manifest).unwrap() else { panic!("{what}: expected an update") };

        let err = f.updater.install_and_check(&update, copy_from_dir(&release), healthy("0.2.0")).unwrap_err();
        assert!(
            matches!(&err, LibraryError::UpdateHealthCheck { version, restored, .. } if *version == v("0.2.0") && *restored == v("0.1.0")),
            "{what}: {err}"
        );
        assert!(err.to_string().contains("ra-daemon"), "{what}: {err}");
        assert_eq!(f.runs("ra-daemon"), "ra-daemon 0.1.0", "{what}");
        assert_eq!(f.installation().current().unwrap(), Some(v("0.1.0")));
        assert_eq!(f.installation().previous().unwrap(), None);
        assert!(!f.installation().version_dir(&v("0.2.0")).exists(), "{what}");

        // The broken release is remembered: offering it again does not reinstall it.
        let err = f.check(&manifest).unwrap_err();
        assert!(matches!(err, LibraryError::UpdateRolledBack { .. }), "{what}: {err}");
        // Apart from that record, the install is as it was.
        let state_line = |s: &str| s.lines().filter(|l| !l.starts_with("state:")).collect::<Vec<_>>().join("\n");
        assert_eq!(state_line(&f.snapshot()), state_line(&before), "{what}");

        // The fixed release installs.
        f.update_to("0.2.1", "2026-03-02T08:00:00Z");
        assert_eq!(f.runs("ra-daemon"), "ra-daemon 0.2.1");
    }
}

#[test]
fn rollback_after_a_good_update_restores_the_old_version() {
    let f = Fixture::new();
    assert!(matches!(f.updater.rollback(), Err(LibraryError::UpdateNoPrevious)));
    f.update_to("0.2.0", "2026-03-01T08:00:00Z");
    assert_eq!(f.runs("ra-daemon"), "ra-daemon 0.2.0");

    assert_eq!(f.updater.rollback().unwrap(), v("0.1.0"));
    assert_eq!(f.runs("ra-daemon"), "ra-daemon 0.1.0");
    assert_eq!(f.runs("ra-launcher"), "ra-launcher 0.1.0");
    assert_eq!(f.installation().current().unwrap(), Some(v("0.1.0")));
    assert!(matches!(f.updater.rollback(), Err(LibraryError::UpdateNoPrevious)));
}

#[test]
fn leftovers_of_an_interrupted_update_do_not_stop_the_next() {
    let f = Fixture::new();
    let root = f.installation().root().to_path_buf();
    // Stopped while staging, after publishing but before switching, and mid link swap.
    fs::create_dir_all(root.join("versions/.staging-0.2.0-999")).unwrap();
    fs::write(root.join("versions/.staging-0.2.0-999/ra-daemon"), "partial").unwrap();
    fs::create_dir_all(root.join("versions/0.2.0")).unwrap();
    fs::write(root.join("versions/0.2.0/ra-daemon"), "old attempt").unwrap();
    std::os::unix::fs::symlink("versions/0.2.0", root.join(".current.tmp-999")).unwrap();
    assert_eq!(f.runs("ra-daemon"), "ra-daemon 0.1.0");

    f.update_to("0.2.0", "2026-03-01T08:00:00Z");
    assert_eq!(f.runs("ra-daemon"), "ra-daemon 0.2.0");
    let mut versions: Vec<String> =
        fs::read_dir(root.join("versions")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    versions.sort();
    assert_eq!(versions, ["0.1.0", "0.2.0"]);
}

#[test]
fn malformed_signed_manifests_are_refused() {
    let f = Fixture::new();
    let before = f.snapshot();
    let release = f.release("0.2.0");
    let good = f.manifest("0.2.0", "2026-03-01T08:00:00Z", "2026-04-01T00:00:00Z", &release);
    let cases = [
        ("newer format", good.replacen("format = 1", "format = 2", 1), "format 2"),
        ("no launcher", good[..good.rfind("[[artefacts]]").unwrap()].to_string(), "ra-launcher"),
        ("local time", good.replacen("expires = 2026-04-01T00:00:00Z", "expires = 2026-04-01T00:00:00", 1), "offset"),
        ("bad version", good.replacen("\"0.2.0\"", "\"latest\"", 1), "latest"),
        ("escaping name", good.replacen("name = \"ra-daemon\"", "name = \"../ra-daemon\"", 1), "plain file name"),
        ("expires first", good.replacen("expires = 2026-04-01", "expires = 2026-02-01", 1), "no later than"),
    ];
    for (what, manifest, says) in cases {
        let err = f.check(&manifest).unwrap_err();
        assert!(matches!(err, LibraryError::UpdateManifest { .. }), "{what}: {err}");
        assert!(err.to_string().contains(says), "{what}: {err}");
    }
    assert_eq!(f.snapshot(), before);
}

#[test]
fn update_key_accepts_the_base64_line_or_the_whole_pub_file() {
    let keys = Keys::new();
    let line = keys.pair.pk.to_base64();
    UpdateKey::parse(&line).unwrap();
    UpdateKey::parse(&format!("untrusted comment: minisign public key\n{line}\n")).unwrap();
    assert!(matches!(UpdateKey::parse("not a key"), Err(LibraryError::UpdateKey { .. })));
}

#[test]
fn an_install_that_cannot_be_recorded_is_undone() {
    let f = Fixture::new();
    let (release, update) = f.offer("0.2.0", "2026-03-01T08:00:00Z");
    let before = f.snapshot();
    // A file where the state directory should be: the state cannot be written.
    let blocked = f.dir.path().join("blocked");
    fs::write(&blocked, "not a directory").unwrap();
    let updater = Updater::new(f.keys.public(), f.installation().clone(), &blocked, UpdateConfig::ra());

    let err = updater.install_and_check(&update, copy_from_dir(&release), healthy("0.2.0")).unwrap_err();
    assert!(matches!(err, LibraryError::Io { .. }), "{err}");
    assert_eq!(f.snapshot(), before);
    assert_eq!(f.runs("ra-daemon"), "ra-daemon 0.1.0");
}

#[test]
fn a_release_published_as_files_is_fetched_checked_and_installed() {
    let f = Fixture::new();
    let release = f.release("0.2.0");
    // Artefacts on a share instead of a web server: the URLs are paths.
    let text = f
        .manifest("0.2.0", "2026-03-01T08:00:00Z", "2026-04-01T00:00:00Z", &release)
        .replace("https://updates.example.org/ra/0.2.0", release.to_str().unwrap());
    let url = f.dir.path().join("manifest.toml");
    fs::write(&url, &text).unwrap();
    let url = url.to_str().unwrap();
    let missing = fetch_manifest(url).unwrap_err();
    assert!(matches!(missing, LibraryError::UpdateUnreachable { .. }), "{missing}");
    assert!(missing.to_string().contains("manifest.toml.minisig"), "{missing}");
    fs::write(format!("{url}.minisig"), f.keys.sign(text.as_bytes())).unwrap();

    let (bytes, signature) = fetch_manifest(url).unwrap();
    let UpdateCheck::Available(update) = f.updater.check(&bytes, &signature, NOW.parse().unwrap()).unwrap() else {
        panic!("expected an update")
    };
    f.updater.install_and_check(&update, download_artefacts(), healthy("0.2.0")).unwrap();
    assert_eq!(f.runs("ra-launcher"), "ra-launcher 0.2.0");

    // The running launcher finds its installation from its own path.
    let exe = fs::canonicalize(f.installation().binary("ra-launcher")).unwrap();
    assert_eq!(installation_of(&exe).unwrap().root(), f.installation().root());
    assert!(installation_of(Path::new("/home/me/.cache/ra/target/release/ra-launcher")).is_none());
}
