//! Hostile plugins against the real sandbox: each attempt fails with a message naming
//! the plugin, and the host answers the next call normally.

mod common;

use ra_plugins::{Image, Limits, PluginError};

fn hostile() -> common::Host {
    let host = common::host(Limits::STRICT);
    host.plugins.install(&common::testing_plugin("hostile")).unwrap();
    host
}

fn act(host: &common::Host, action: &str, input: &str) -> Result<String, PluginError> {
    host.plugins.action("hostile", action, input, Vec::new()).map(|out| out.json)
}

/// The daemon keeps serving: the same plugin answers a plain call right after.
fn still_serving(host: &common::Host) {
    assert_eq!(act(host, "echo", "{\"ok\":true}").unwrap(), "{\"ok\":true}");
}

#[test]
fn an_endless_loop_is_stopped_at_the_deadline() {
    let host = hostile();
    let err = act(&host, "spin", "{}").unwrap_err();
    assert!(matches!(err, PluginError::Timeout { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("plugin hostile") && text.contains("deadline of 2 s"), "{text}");
    still_serving(&host);
}

#[test]
fn an_endless_loop_in_process_fails_the_job_cleanly() {
    let host = hostile();
    let params = ra_plugins::Params {
        prompt: "spin".into(),
        negative_prompt: String::new(),
        steps: 20,
        sampler: "Euler".into(),
        scheduler: "Automatic".into(),
        cfg_scale: 7.0,
        seed: 1,
        width: 64,
        height: 64,
        mode: "txt2img".into(),
        styles: Vec::new(),
        extra: Vec::new(),
    };
    let err = host.plugins.process(params.clone()).unwrap_err();
    assert_eq!(err.code(), "plugin_timeout");
    let calm = ra_plugins::Params { prompt: "a cat".into(), ..params };
    assert_eq!(host.plugins.process(calm).unwrap().prompt, "a cat [hostile was here]");
}

#[test]
fn a_memory_bomb_fails_at_the_cap() {
    let host = hostile();
    let err = act(&host, "allocate", "{}").unwrap_err();
    assert!(matches!(err, PluginError::MemoryCap { mib: 64, .. }), "{err:?}");
    assert!(err.to_string().contains("memory cap of 64 MiB"), "{err}");
    still_serving(&host);
}

#[test]
fn files_sockets_environment_and_clock_are_not_there() {
    let host = hostile();
    let err = act(&host, "read-file", "{}").unwrap_err().to_string();
    assert!(err.contains("plugin hostile (action) failed: read failed"), "{err}");
    // A listener the plugin could reach if sockets were allowed.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let err = act(&host, "connect", &format!("\"{address}\"")).unwrap_err().to_string();
    assert!(err.contains("connect failed"), "{err}");
    listener.set_nonblocking(true).unwrap();
    assert!(listener.accept().is_err(), "the plugin reached the host's socket");
    assert_eq!(act(&host, "environment", "{}").unwrap(), "0");
    assert_eq!(act(&host, "clock", "{}").unwrap(), "0");
    still_serving(&host);
}

#[test]
fn a_panic_is_reported_with_its_message() {
    let host = hostile();
    let err = act(&host, "panic", "{}").unwrap_err();
    assert_eq!(err.code(), "plugin_crashed");
    assert!(err.to_string().contains("panics on purpose"), "{err}");
    still_serving(&host);
}

#[test]
fn an_image_of_the_wrong_size_is_rejected() {
    let host = hostile();
    let image = Image { width: 8, height: 8, rgba: vec![0; 256] };
    let err = host.plugins.upscale("Wrong size", image, 2.0).unwrap_err();
    assert_eq!(err.code(), "plugin_bad_return");
    assert!(err.to_string().contains("an image of 9x8 where 16x16 was due"), "{err}");
    still_serving(&host);
}

#[test]
fn actions_check_their_names_and_json() {
    let host = hostile();
    let err = act(&host, "teleport", "{}").unwrap_err().to_string();
    assert!(err.contains("no action named \"hostile/teleport\"") && err.contains("echo"), "{err}");
    // The plugin echoes whatever it is given; text that is not JSON is refused on the way back.
    let err = act(&host, "echo", "not json").unwrap_err();
    assert_eq!(err.code(), "plugin_bad_return");
}

/// Offers three models and takes longer to run one than a strict call may last.
struct SlowModels;

impl ra_plugins::ModelRunner for SlowModels {
    fn list(&self) -> Vec<ra_plugins::ModelInfo> {
        ["upscaler/allowed", "upscaler/secret", "depth/other"]
            .into_iter()
            .map(|id| ra_plugins::ModelInfo { id: id.into(), kind: id.split('/').next().unwrap().into(), details: "{}".into() })
            .collect()
    }

    fn run(&self, _id: &str, inputs: Vec<ra_plugins::Tensor>) -> Result<Vec<ra_plugins::Tensor>, String> {
        std::thread::sleep(std::time::Duration::from_secs(3));
        Ok(inputs)
    }
}

#[test]
fn plugins_see_and_run_only_the_models_their_manifest_allows() {
    let host = common::host_with(Limits::STRICT, std::sync::Arc::new(SlowModels));
    host.plugins.install(&common::testing_plugin("hostile")).unwrap();
    // The host's model run (3 s) does not count against the plugin's 2 s deadline.
    let out = act(&host, "model", "\"upscaler/allowed\"").unwrap();
    assert_eq!(out, r#"{"listed": ["upscaler/allowed"], "shape": [1, 3, 1, 1]}"#);
    let err = act(&host, "model", "\"upscaler/secret\"").unwrap_err().to_string();
    assert!(err.contains("model \"upscaler/secret\" is not allowed by this plugin's permissions.models"), "{err}");
    still_serving(&host);
}
