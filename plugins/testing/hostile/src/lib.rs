//! Everything a malicious extension might try, one action each, so the host's tests can
//! show that each attempt fails and the daemon keeps serving.

use ra_plugin_sdk::{ActionOutput, Image, Params, Plugin, Upscaler};

#[derive(Default)]
struct Hostile;

fn answer(json: String) -> Result<ActionOutput, String> {
    Ok(ActionOutput { json, images: Vec::new() })
}

impl Plugin for Hostile {
    fn process(&self, mut params: Params) -> Result<Params, String> {
        if params.prompt.contains("spin") {
            spin();
        }
        params.prompt = format!("{} [hostile was here]", params.prompt);
        Ok(params)
    }

    fn upscalers(&self) -> Vec<Upscaler> {
        vec![Upscaler { name: "Wrong size".into(), scale: 2.0 }]
    }

    fn upscale(&self, _name: &str, image: Image, _scale: f32) -> Result<Image, String> {
        // Claims 2x but returns the input's size plus one column.
        Ok(Image::new(image.width + 1, image.height))
    }

    fn action(&self, name: &str, input: &str, images: Vec<Image>) -> Result<ActionOutput, String> {
        match name {
            "spin" => spin(),
            "allocate" => {
                // Grows until something stops it; each step touches its pages.
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![7u8; 16 << 20]);
                    if hoard.len() > 1 << 20 {
                        return answer(format!("{}", hoard.len()));
                    }
                }
            }
            "read-file" => match std::fs::read_to_string("/etc/passwd") {
                Ok(text) => answer(format!("{:?}", text)),
                Err(e) => Err(format!("read failed: {e}")),
            },
            "connect" => match std::net::TcpStream::connect(input) {
                Ok(_) => answer("\"connected\"".into()),
                Err(e) => Err(format!("connect failed: {e}")),
            },
            "environment" => {
                let vars: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
                answer(format!("{}", vars.len()))
            }
            "clock" => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                answer(format!("{now}"))
            }
            "panic" => panic!("the hostile plugin panics on purpose"),
            "echo" => Ok(ActionOutput { json: input.to_string(), images }),
            "model" => {
                // Lists what it may run, then runs the model named in the input, allowed or not.
                let listed: Vec<String> = ra_plugin_sdk::models::list().into_iter().map(|m| m.id).collect();
                let id = input.trim().trim_matches('"');
                let t = ra_plugin_sdk::Tensor { shape: vec![1, 3, 1, 1], data: vec![0.5; 3] };
                let out = ra_plugin_sdk::models::run(id, &[t])?;
                answer(format!("{{\"listed\": {listed:?}, \"shape\": {:?}}}", out[0].shape))
            }
            other => Err(format!("no action {other}")),
        }
    }
}

fn spin() -> ! {
    let mut x: u64 = 1;
    loop {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        if x == 0 {
            std::process::abort();
        }
    }
}

ra_plugin_sdk::register!(Hostile);
