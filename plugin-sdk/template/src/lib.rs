//! A complete RA plugin: a `process` hook that appends a setting to every prompt and
//! records itself in the infotext, and an action that answers JSON.

use ra_plugin_sdk::{settings, ActionOutput, Image, Params, Plugin};

#[derive(Default)]
struct MyPlugin;

impl Plugin for MyPlugin {
    fn process(&self, mut params: Params) -> Result<Params, String> {
        let suffix = settings::string("suffix").unwrap_or_default();
        if !suffix.is_empty() {
            params.prompt = format!("{}, {suffix}", params.prompt);
            params.set_extra("My plugin", &suffix);
        }
        Ok(params)
    }

    fn action(&self, name: &str, input: &str, _images: Vec<Image>) -> Result<ActionOutput, String> {
        match name {
            "hello" => Ok(ActionOutput { json: format!("{{\"hello\": {input}}}"), images: Vec::new() }),
            other => Err(format!("no action {other:?}")),
        }
    }
}

ra_plugin_sdk::register!(MyPlugin);
