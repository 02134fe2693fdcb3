//! Builds the real plugins from `plugins/` (once per test binary) and opens hosts on
//! them.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use ra_plugins::{Limits, ModelRunner, NoModels, Plugins, PluginsConfig};

/// (shipped plugins, test-only plugins), as `scripts/plugins.sh` lays them out.
pub fn built() -> &'static (PathBuf, PathBuf) {
    static BUILT: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    BUILT.get_or_init(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/plugins.sh");
        let out = std::process::Command::new("bash").arg(script).output().expect("run scripts/plugins.sh");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "scripts/plugins.sh failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        let line = stdout.lines().last().unwrap();
        let bundle = PathBuf::from(line.strip_prefix("plugins built into ").unwrap());
        let testing = bundle.with_file_name("plugins-testing");
        (bundle, testing)
    })
}

pub struct Host {
    pub plugins: Plugins,
    pub dir: tempfile::TempDir,
}

/// A host with the shipped plugins bundled and an empty user folder.
pub fn host(limits: Limits) -> Host {
    host_with(limits, Arc::new(NoModels))
}

/// The same with `models` answering `run-model`.
pub fn host_with(limits: Limits, models: Arc<dyn ModelRunner>) -> Host {
    let dir = tempfile::tempdir().unwrap();
    let mut config = PluginsConfig::under(dir.path(), Some(built().0.clone()));
    config.limits = limits;
    let plugins = Plugins::open(config, models).unwrap();
    Host { plugins, dir }
}

pub fn testing_plugin(id: &str) -> PathBuf {
    built().1.join(id)
}
