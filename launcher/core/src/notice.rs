//! Messages for people, kept as a Fluent id with arguments until the UI translates them,
//! so that an error raised in Rust reads in whichever language the window shows — also
//! after the user switches language.

use serde::Serialize;

use crate::i18n::Translator;

/// The daemon's machine-readable error codes (see docs/DBUS.md); each has a message
/// `error-<code>` in every locale.
pub const DAEMON_ERROR_CODES: [&str; 10] = [
    "invalid_field",
    "invalid_json",
    "image_too_large",
    "queue_full",
    "no_such_job",
    "not_cancellable",
    "job_active",
    "no_such_model",
    "no_model_installed",
    "internal",
];

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notice {
    pub id: String,
    pub args: Vec<(String, String)>,
}

impl Notice {
    pub fn new(id: &str) -> Self {
        Self {
            id: id.to_string(),
            args: Vec::new(),
        }
    }

    pub fn arg(mut self, name: &str, value: impl ToString) -> Self {
        self.args.push((name.to_string(), value.to_string()));
        self
    }

    /// A refused or failed D-Bus call. The daemon's message (English, for people)
    /// becomes `$detail`; the code picks the translated sentence around it.
    pub fn from_dbus(err: &zbus::Error) -> Self {
        let detail = match err {
            zbus::Error::MethodError(_, Some(text), _) => text.clone(),
            other => other.to_string(),
        };
        match ra_wire::dbus::error_code(err) {
            Some(code) if DAEMON_ERROR_CODES.contains(&code.as_str()) => {
                Self::new(&format!("error-{}", code.replace('_', "-")))
            }
            _ => Self::new("error-daemon-unreachable"),
        }
        .arg("detail", detail)
    }

    /// A model library, pack or update failure: the ones users meet get their own
    /// translated sentence, the rest `library-failed` with the library's English text.
    pub fn from_library(e: &ra_library::LibraryError) -> Self {
        use ra_library::LibraryError as E;
        match e {
            E::PackNeedsSpace { dir, needed, free } => Notice::new("lib-needs-space")
                .arg("needed", crate::files::size_text(*needed))
                .arg("free", crate::files::size_text(*free))
                .arg("dir", dir.display()),
            E::ManifestUnreachable { origin, problem } => {
                Notice::new("lib-manifest-unreachable").arg("origin", origin).arg("problem", problem)
            }
            E::BadPack { origin, problem } => Notice::new("lib-bad-pack").arg("origin", origin).arg("problem", problem),
            E::NameTaken { path, model } => Notice::new("lib-name-taken").arg("path", path.display()).arg("model", model),
            E::PackIncomplete { pack, failures } => {
                Notice::new("lib-pack-incomplete").arg("pack", pack).arg("failures", failures)
            }
            E::NoSuchPack(id) => Notice::new("lib-no-such-pack").arg("id", id),
            E::DiskFull { part, .. } => Notice::new("lib-disk-full").arg("path", part.display()),
            E::UpdateUnreachable { url, problem } => Notice::new("update-unreachable").arg("url", url).arg("problem", problem),
            E::UpdateWrongKey => Notice::new("update-wrong-key"),
            E::UpdateTampered | E::UpdateSignatureUnreadable { .. } => Notice::new("update-tampered"),
            E::UpdateManifest { problem } => Notice::new("update-manifest-invalid").arg("problem", problem),
            E::UpdateExpired { expires, .. } => Notice::new("update-expired").arg("expires", expires),
            E::UpdateReplayed { version, accepted_version, .. } => {
                Notice::new("update-replayed").arg("version", version).arg("accepted", accepted_version)
            }
            E::UpdateDowngrade { offered, installed } => {
                Notice::new("update-downgrade").arg("offered", offered).arg("installed", installed)
            }
            E::UpdateRolledBack { version, .. } => Notice::new("update-rolled-back-before").arg("version", version),
            E::UpdateArtefactSize { name, .. } | E::UpdateArtefactHash { name, .. } => {
                Notice::new("update-artefact-bad").arg("name", name)
            }
            E::UpdateHealthCheck { version, problem, restored } => Notice::new("update-failed-to-start")
                .arg("version", version)
                .arg("problem", problem)
                .arg("restored", restored),
            E::UpdateNoPrevious => Notice::new("update-no-previous"),
            E::UpdateNotInstalled { root } => Notice::new("update-not-installed").arg("root", root.display()),
            other => Notice::new("library-failed").arg("detail", other),
        }
    }

    pub fn render(&self, t: &Translator) -> String {
        let args: Vec<(&str, &str)> = self
            .args
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        t.tr(&self.id, &args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_codes_become_translated_sentences_with_the_detail() {
        let err = zbus::Error::MethodError(
            "org.ra_studio.Daemon1.Error.QueueFull".try_into().unwrap(),
            Some("the queue is full (64 jobs wait); retry later".into()),
            zbus::message::Message::method_call("/", "x").build(&()).unwrap(),
        );
        let n = Notice::from_dbus(&err);
        assert_eq!(n.id, "error-queue-full");
        let zh = n.render(&Translator::new("zh-CN").unwrap());
        assert!(zh.contains("64 jobs wait"), "{zh}");
        assert!(!zh.starts_with('['), "{zh}");
        let other = Notice::from_dbus(&zbus::Error::InvalidReply);
        assert_eq!(other.id, "error-daemon-unreachable");
    }
}
