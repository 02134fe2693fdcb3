//! The plugin's settings, as declared in its manifest: the user's value, else the
//! manifest's default. A key the manifest does not declare reads as `None`.

use crate::bindings::ra::plugin::host;
use serde_json::Value;

/// The setting as a JSON value.
pub fn get(key: &str) -> Option<Value> {
    host::setting(key).and_then(|text| serde_json::from_str(&text).ok())
}

pub fn bool(key: &str) -> Option<bool> {
    get(key)?.as_bool()
}

pub fn string(key: &str) -> Option<String> {
    match get(key)? {
        Value::String(s) => Some(s),
        _ => None,
    }
}

pub fn number(key: &str) -> Option<f64> {
    get(key)?.as_f64()
}
