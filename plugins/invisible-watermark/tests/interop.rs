//! Interop with the Python `invisible-watermark` package (imwatermark, 'dwtDct').
//! The PNGs in tests/data were made by tests/reference.py; see tests/data/README.md.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ra_plugin_invisible_watermark::dwtdct::{self, WatermarkError};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Loads an 8-bit RGB or RGBA PNG as RGBA.
fn load_png(path: &Path) -> (Vec<u8>, u32, u32) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let (w, h) = (info.width, info.height);
    let rgba = match info.color_type {
        png::ColorType::Rgb => buf[..info.buffer_size()]
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect(),
        png::ColorType::Rgba => buf[..info.buffer_size()].to_vec(),
        other => panic!("{}: unexpected colour type {other:?}", path.display()),
    };
    (rgba, w, h)
}

fn png_bytes(rgba: &[u8], w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgba);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().unwrap();
    writer.write_image_data(rgba).unwrap();
    writer.finish().unwrap();
    out
}

fn save_png(path: &Path, rgba: &[u8], w: u32, h: u32) {
    std::fs::write(path, png_bytes(rgba, w, h)).unwrap();
}

fn decode_png_bytes(bytes: &[u8]) -> Vec<u8> {
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    buf
}

fn hash32(mut x: u32) -> u32 {
    x = (x ^ (x >> 16)).wrapping_mul(0x7FEB_352D);
    x = (x ^ (x >> 15)).wrapping_mul(0x846C_A68B);
    x ^ (x >> 16)
}

/// The deterministic gradient + noise test pattern of tests/reference.py, as RGBA
/// with a varying alpha (which must come through untouched).
fn pattern(w: u32, h: u32, seed: u32) -> Vec<u8> {
    const AMPS: [i64; 3] = [0, 0, 64];
    let (wi, hi) = (i64::from(w), i64::from(h));
    let mut out = Vec::with_capacity((w * h * 4) as usize);
    for y in 0..hi {
        for x in 0..wi {
            let base = [
                x * 255 / (wi - 1),
                y * 255 / (hi - 1),
                (x + y) * 255 / (wi + hi - 2),
            ];
            for c in 0..3 {
                let idx = ((y * wi + x) * 3 + c as i64) as u64;
                let key = (u64::from(seed).wrapping_mul(0x9E37_79B9).wrapping_add(idx)
                    & 0xFFFF_FFFF) as u32;
                let a = AMPS[c];
                let n = i64::from(hash32(key)) % (2 * a + 1) - a;
                out.push((base[c] + n).clamp(0, 255) as u8);
            }
            out.push((x * 7 + y * 13) as u8);
        }
    }
    out
}

fn rgb_eq(a: &[u8], b: &[u8]) -> (usize, u8) {
    let mut n = 0;
    let mut max = 0u8;
    for (pa, pb) in a.chunks_exact(4).zip(b.chunks_exact(4)) {
        for c in 0..3 {
            let d = pa[c].abs_diff(pb[c]);
            if d > 0 {
                n += 1;
                max = max.max(d);
            }
        }
    }
    (n, max)
}

/// (file, width, height, seed, payload, what the Python package decodes from it).
type PyVector = (&'static str, u32, u32, u32, &'static [u8], &'static [u8]);
const PY_VECTORS: &[PyVector] = &[
    // 136 bits in 1024 blocks: 7 or 8 votes a bit, too few for this fragile
    // scheme, so even Python reads back something else. We must agree exactly.
    (
        "py_sd1_256x256.png",
        256,
        256,
        1,
        b"StableDiffusionV1",
        b"Stajme\xc4}ffwsioo^\xb1",
    ),
    ("py_ra_300x257.png", 300, 257, 5, b"RA test", b"RA test"),
    ("py_sdv2_384x200.png", 384, 200, 1, b"SDV2", b"SDV2"),
];

#[test]
fn reads_what_python_reads_from_python_marked_images() {
    for &(name, w, h, _, payload, python_reads) in PY_VECTORS {
        let (rgba, pw, ph) = load_png(&data(name));
        assert_eq!((pw, ph), (w, h), "{name}");
        let got = dwtdct::read(&rgba, w, h, payload.len()).unwrap();
        assert_eq!(
            got,
            python_reads,
            "{name}: {:?}",
            String::from_utf8_lossy(&got)
        );
    }
}

#[test]
fn embeds_the_same_pixels_as_python() {
    for &(name, w, h, seed, payload, _) in PY_VECTORS {
        let (python, _, _) = load_png(&data(name));
        let mut ours = pattern(w, h, seed);
        let alpha: Vec<u8> = ours.iter().skip(3).step_by(4).copied().collect();
        dwtdct::embed(&mut ours, w, h, payload).unwrap();
        assert_eq!(
            rgb_eq(&ours, &python),
            (0, 0),
            "{name}: (values differing, max difference)"
        );
        assert!(
            ours.iter().skip(3).step_by(4).eq(alpha.iter()),
            "{name}: alpha changed"
        );
    }
}

/// `ours_ra_300x257.png` was marked by this crate (then decoded by Python as "RA
/// test", see tests/data/README.md); embedding again must reproduce it exactly.
#[test]
fn reproduces_our_checked_in_mark_exactly() {
    let (checked_in, w, h) = load_png(&data("ours_ra_300x257.png"));
    let mut ours = pattern(w, h, 5);
    dwtdct::embed(&mut ours, w, h, b"RA test").unwrap();
    assert_eq!(rgb_eq(&ours, &checked_in), (0, 0));
    assert_eq!(dwtdct::read(&checked_in, w, h, 7).unwrap(), b"RA test");
}

#[test]
fn png_round_trip_reads_back() {
    let (w, h) = (320, 240);
    let mut img = pattern(w, h, 9);
    dwtdct::embed(&mut img, w, h, b"SDV2").unwrap();
    let back = decode_png_bytes(&png_bytes(&img, w, h));
    assert_eq!(back, img);
    assert_eq!(dwtdct::read(&back, w, h, 4).unwrap(), b"SDV2");
}

#[test]
fn unmarked_image_does_not_read_as_the_payload() {
    for (w, h, seed) in [(256, 256, 1), (300, 257, 5), (384, 200, 1)] {
        let img = pattern(w, h, seed);
        assert_ne!(dwtdct::read(&img, w, h, 4).unwrap(), b"SDV2");
        assert_ne!(dwtdct::read(&img, w, h, 7).unwrap(), b"RA test");
    }
    // A flat grey image: every block votes 0.
    let grey = vec![128u8; 256 * 256 * 4];
    assert_eq!(dwtdct::read(&grey, 256, 256, 4).unwrap(), [0, 0, 0, 0]);
}

#[test]
fn errors() {
    let mut small = vec![0u8; 255 * 256 * 4];
    let e = dwtdct::embed(&mut small, 255, 256, b"x").unwrap_err();
    assert_eq!(
        e,
        WatermarkError::TooSmall {
            width: 255,
            height: 256
        }
    );
    assert!(e.to_string().contains("256x256"), "{e}");
    assert!(dwtdct::read(&small, 255, 256, 1).is_err());

    let mut img = vec![0u8; 256 * 256 * 4];
    assert_eq!(
        dwtdct::embed(&mut img[4..], 256, 256, b"x").unwrap_err(),
        WatermarkError::BufferLength {
            expected: 256 * 256 * 4,
            actual: 256 * 256 * 4 - 4
        }
    );
    assert_eq!(
        dwtdct::embed(&mut img, 0, 256, b"x").unwrap_err(),
        WatermarkError::BadDimensions {
            width: 0,
            height: 256
        }
    );
    assert_eq!(
        dwtdct::embed(&mut img, 256, 256, b"").unwrap_err(),
        WatermarkError::EmptyPayload
    );
    // 1024 blocks: 128 bytes fit, 129 do not.
    assert!(dwtdct::embed(&mut img, 256, 256, &[7; 128]).is_ok());
    assert_eq!(
        dwtdct::read(&img, 256, 256, 129).unwrap_err(),
        WatermarkError::PayloadTooLong {
            bits: 1032,
            blocks: 1024
        }
    );
    // Big enough but too thin for a single block.
    let mut thin = vec![0u8; 65536 * 4 * 4];
    assert!(matches!(
        dwtdct::embed(&mut thin, 65536, 4, b"x").unwrap_err(),
        WatermarkError::PayloadTooLong { blocks: 0, .. }
    ));
}

#[test]
fn timing_512() {
    let (w, h) = (512, 512);
    let mut img = pattern(w, h, 3);
    let runs = 10;
    let t = Instant::now();
    for _ in 0..runs {
        dwtdct::embed(&mut img, w, h, b"StableDiffusionV1").unwrap();
    }
    let embed = t.elapsed() / runs;
    let t = Instant::now();
    let mut got = Vec::new();
    for _ in 0..runs {
        got = dwtdct::read(&img, w, h, 17).unwrap();
    }
    let read = t.elapsed() / runs;
    println!(
        "512x512: embed {embed:?}, read {read:?} (mean of {runs}); read back {:?}",
        String::from_utf8_lossy(&got)
    );
}

/// Writes images our encoder marked, with their unmarked inputs and what we
/// read from both (`reads.txt`), for `python tests/reference.py check DIR`:
/// `RA_WM_OUT=DIR cargo test --release -- --ignored write_marked_for_python`.
/// `RA_WM_EXTRA=a.png:b.png` adds other PNGs (marked "StableDiffusionV1").
#[test]
#[ignore]
fn write_marked_for_python() {
    use std::fmt::Write;
    let dir = PathBuf::from(std::env::var("RA_WM_OUT").expect("set RA_WM_OUT to a directory"));
    std::fs::create_dir_all(&dir).unwrap();
    let cases: &[(u32, u32, u32, &'static [u8])] = &[
        (256, 256, 1, b"StableDiffusionV1"),
        (300, 257, 5, b"RA test"),
        (384, 200, 1, b"SDV2"),
        (512, 512, 1, b"StableDiffusionV1"),
        (512, 512, 2, b"SDV2"),
        (640, 480, 3, b"RA test"),
        (513, 769, 4, b"StableDiffusionV1"),
        (1000, 66, 6, b"SDV2"),
        (257, 256, 7, b"\x00\xff\x5a"),
        (768, 768, 8, b"StableDiffusionV1"),
    ];
    type Input = (String, Vec<u8>, u32, u32, &'static [u8]);
    let mut inputs: Vec<Input> = cases
        .iter()
        .map(|&(w, h, seed, payload)| {
            (
                format!("{w}x{h}_{seed}"),
                pattern(w, h, seed),
                w,
                h,
                payload,
            )
        })
        .collect();
    if let Ok(extra) = std::env::var("RA_WM_EXTRA") {
        for (i, path) in extra.split(':').filter(|p| !p.is_empty()).enumerate() {
            let (img, w, h) = load_png(Path::new(path));
            inputs.push((format!("{w}x{h}_x{i}"), img, w, h, b"StableDiffusionV1"));
        }
    }
    let hex = |b: &[u8]| {
        b.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    };
    let mut reads = String::new();
    for (tag, mut img, w, h, payload) in inputs {
        for a in img.iter_mut().skip(3).step_by(4) {
            *a = 255; // cv2.imread drops alpha anyway
        }
        let name = format!("in_{tag}.png");
        save_png(&dir.join(&name), &img, w, h);
        let _ = writeln!(
            reads,
            "{name} {}",
            hex(&dwtdct::read(&img, w, h, payload.len()).unwrap())
        );
        dwtdct::embed(&mut img, w, h, payload).unwrap();
        let name = format!("ours_{}_{tag}.png", hex(payload));
        save_png(&dir.join(&name), &img, w, h);
        let got = dwtdct::read(&img, w, h, payload.len()).unwrap();
        let _ = writeln!(reads, "{name} {}", hex(&got));
        println!("{name}: we read back {:?}", String::from_utf8_lossy(&got));
    }
    std::fs::write(dir.join("reads.txt"), reads).unwrap();
}
