//! Where RA keeps things per user, by the XDG rules, shared by the daemon and the
//! launcher so both agree on the default folders without talking to each other.

use std::path::PathBuf;

/// `$var` when it is an absolute path, else `~/<fallback>`.
fn xdg(var: &str, fallback: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(fallback)))
        .unwrap_or_else(|| PathBuf::from("."))
}

/// `$XDG_DATA_HOME/ra`: the database, models, inputs, outputs, user skins.
pub fn data_dir() -> PathBuf {
    xdg("XDG_DATA_HOME", ".local/share").join("ra")
}

/// `$XDG_CONFIG_HOME/ra`: `daemon.toml` and `launcher.toml`.
pub fn config_dir() -> PathBuf {
    xdg("XDG_CONFIG_HOME", ".config").join("ra")
}
