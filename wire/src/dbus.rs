//! The daemon's D-Bus contract: its well-known name, object path and interface, and a
//! client proxy for it. The launcher and the tests use [`DaemonProxy`]; the daemon
//! implements the same interface (`ra_daemon::dbus`). Structured values (job requests,
//! jobs, models, status) travel as JSON strings of this crate's types, so both sides
//! share one definition of each. See `docs/DBUS.md`.
//!
//! Errors come back as D-Bus errors named `org.ra_studio.Daemon1.Error.<Code>`; use
//! [`error_code`] to get the same snake_case code the HTTP API puts in `code`.

pub const BUS_NAME: &str = "org.ra_studio.Daemon1";
pub const OBJECT_PATH: &str = "/org/ra_studio/Daemon1";
pub const INTERFACE: &str = "org.ra_studio.Daemon1";
pub const ERROR_PREFIX: &str = "org.ra_studio.Daemon1.Error.";

#[zbus::proxy(
    interface = "org.ra_studio.Daemon1",
    default_service = "org.ra_studio.Daemon1",
    default_path = "/org/ra_studio/Daemon1"
)]
pub trait Daemon {
    /// Queues a [`crate::JobRequest`] (JSON); returns the job id at once.
    fn submit(&self, request_json: &str) -> zbus::Result<i64>;
    /// Cancels a queued job, or the running one within one step.
    fn cancel(&self, id: i64) -> zbus::Result<()>;
    /// Cancels whatever runs; returns its id, or -1 when nothing ran.
    fn interrupt(&self) -> zbus::Result<i64>;
    /// Ends the current image of the running job; returns its id, or -1.
    fn skip(&self) -> zbus::Result<i64>;
    /// Removes an ended job from the history with its images.
    fn delete_job(&self, id: i64) -> zbus::Result<()>;
    /// A [`crate::JobInfo`] as JSON.
    fn get_job(&self, id: i64) -> zbus::Result<String>;
    /// History as a JSON array of [`crate::JobInfo`], newest first: `limit` jobs older
    /// than `before` (0 for the newest).
    fn list_jobs(&self, before: i64, limit: u32) -> zbus::Result<String>;
    /// Every model found, as a JSON array of [`crate::ModelInfo`].
    fn list_models(&self) -> zbus::Result<String>;
    /// Scans the model folders again; returns how many models it found.
    fn refresh_models(&self) -> zbus::Result<u32>;
    /// Makes a checkpoint (title, name, hash or path) the default; returns its title.
    fn switch_model(&self, name: &str) -> zbus::Result<String>;
    /// A [`crate::DaemonStatus`] as JSON.
    fn status(&self) -> zbus::Result<String>;
    /// Every plugin with its status, as the JSON array `GET /ra/v1/plugins` holds.
    fn list_plugins(&self) -> zbus::Result<String>;
    /// Installs a `.raplugin` file or a plugin folder by local path; returns its JSON.
    fn install_plugin(&self, path: &str) -> zbus::Result<String>;
    fn uninstall_plugin(&self, id: &str) -> zbus::Result<()>;
    fn set_plugin_enabled(&self, id: &str, enabled: bool) -> zbus::Result<String>;
    /// Sets settings from a JSON object; returns the plugin's JSON.
    fn set_plugin_settings(&self, id: &str, settings_json: &str) -> zbus::Result<String>;
    /// Runs a plugin action: JSON text and encoded images in, JSON text and PNGs out.
    fn run_plugin_action(
        &self,
        id: &str,
        name: &str,
        input_json: &str,
        images: Vec<Vec<u8>>,
    ) -> zbus::Result<(String, Vec<Vec<u8>>)>;

    #[zbus(signal)]
    fn started(&self, id: i64) -> zbus::Result<()>;
    /// `preview_png` is a latent-sized PNG (64×64 for a 512² image), empty if none.
    #[zbus(signal)]
    fn progress(
        &self,
        id: i64,
        step: u32,
        total: u32,
        eta_seconds: f64,
        preview_png: Vec<u8>,
    ) -> zbus::Result<()>;
    /// `outputs` are absolute paths of the finished PNG files.
    #[zbus(signal)]
    fn finished(&self, id: i64, outputs: Vec<String>) -> zbus::Result<()>;
    #[zbus(signal)]
    fn failed(&self, id: i64, error: String) -> zbus::Result<()>;
    #[zbus(signal)]
    fn cancelled(&self, id: i64) -> zbus::Result<()>;
}

/// The RA error code (`queue_full`, `no_such_job`, …) of a failed call, if the daemon
/// sent one.
pub fn error_code(e: &zbus::Error) -> Option<String> {
    let zbus::Error::MethodError(name, _, _) = e else {
        return None;
    };
    let camel = name.as_str().strip_prefix(ERROR_PREFIX)?;
    let mut code = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                code.push('_');
            }
            code.push(c.to_ascii_lowercase());
        } else {
            code.push(c);
        }
    }
    Some(code)
}
