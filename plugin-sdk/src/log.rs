//! Lines in the daemon's log, prefixed there with the plugin's id.

use crate::bindings::ra::plugin::host;
use crate::bindings::ra::plugin::types::LogLevel;

pub fn debug(message: &str) {
    host::log(LogLevel::Debug, message);
}

pub fn info(message: &str) {
    host::log(LogLevel::Info, message);
}

pub fn warn(message: &str) {
    host::log(LogLevel::Warn, message);
}

pub fn error(message: &str) {
    host::log(LogLevel::Error, message);
}
