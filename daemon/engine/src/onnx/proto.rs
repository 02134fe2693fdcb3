//! The part of ONNX's protobuf schema (`onnx.proto`, proto2) that RA writes, encoded by
//! hand: a model, its graph, nodes with attributes, initializers (inline or in an
//! external data file) and typed inputs and outputs. Field numbers are onnx.proto's.
//!
//! Written rather than generated so that making fixtures needs neither `protoc` nor
//! Python. Only writing is needed: ONNX Runtime itself reads the files.

use std::io::Write;

/// Element types (`TensorProto.DataType`).
pub const FLOAT: i32 = 1;
pub const INT32: i32 = 6;
pub const INT64: i32 = 7;

/// ONNX IR version 8 goes with opset 17, which has every operator RA emits.
pub const IR_VERSION: i64 = 8;
pub const OPSET: i64 = 17;

/// A protobuf message being encoded.
#[derive(Default)]
struct Msg(Vec<u8>);

impl Msg {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    fn key(&mut self, field: u32, wire: u32) {
        self.varint(u64::from(field << 3 | wire));
    }
    fn int(&mut self, field: u32, v: i64) {
        self.key(field, 0);
        // Negative int64s are ten-byte two's complement varints in protobuf.
        self.varint(v as u64);
    }
    fn float(&mut self, field: u32, v: f32) {
        self.key(field, 5);
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.key(field, 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }
    fn str(&mut self, field: u32, s: &str) {
        self.bytes(field, s.as_bytes());
    }
    fn msg(&mut self, field: u32, m: Msg) {
        self.bytes(field, &m.0);
    }
}

#[derive(Debug, Clone)]
pub enum Attr {
    Int(i64),
    Float(f32),
    Ints(Vec<i64>),
    Str(String),
}

#[derive(Debug, Clone)]
pub struct Node {
    pub op: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub name: String,
    pub attrs: Vec<(String, Attr)>,
}

/// A constant tensor: little-endian bytes of `dims` elements of `data_type`.
#[derive(Debug, Clone)]
pub struct Initializer {
    pub name: String,
    pub dims: Vec<i64>,
    pub data_type: i32,
    pub raw: Vec<u8>,
}

#[derive(Debug, Clone)]
pub enum Dim {
    Fixed(i64),
    Named(String),
}

#[derive(Debug, Clone)]
pub struct ValueInfo {
    pub name: String,
    pub elem_type: i32,
    pub dims: Vec<Dim>,
}

#[derive(Debug, Default)]
pub struct Graph {
    pub name: String,
    pub nodes: Vec<Node>,
    pub initializers: Vec<Initializer>,
    pub inputs: Vec<ValueInfo>,
    pub outputs: Vec<ValueInfo>,
}

impl Graph {
    /// Bytes of every initializer.
    pub fn weight_bytes(&self) -> usize {
        self.initializers.iter().map(|i| i.raw.len()).sum()
    }
}

fn node(n: &Node) -> Msg {
    let mut m = Msg::default();
    for i in &n.inputs {
        m.str(1, i);
    }
    for o in &n.outputs {
        m.str(2, o);
    }
    m.str(3, &n.name);
    m.str(4, &n.op);
    for (name, value) in &n.attrs {
        let mut a = Msg::default();
        a.str(1, name);
        match value {
            Attr::Float(f) => {
                a.float(2, *f);
                a.int(20, 1);
            }
            Attr::Int(i) => {
                a.int(3, *i);
                a.int(20, 2);
            }
            Attr::Str(s) => {
                a.str(4, s);
                a.int(20, 3);
            }
            Attr::Ints(v) => {
                for i in v {
                    a.int(8, *i);
                }
                a.int(20, 7);
            }
        }
        m.msg(5, a);
    }
    m
}

/// Where an initializer's bytes live when they are not inline.
struct External<'a> {
    location: &'a str,
    offset: u64,
}

fn initializer(t: &Initializer, external: Option<External>) -> Msg {
    let mut m = Msg::default();
    for d in &t.dims {
        m.int(1, *d);
    }
    m.int(2, i64::from(t.data_type));
    m.str(8, &t.name);
    match external {
        None => m.bytes(9, &t.raw),
        Some(e) => {
            for (k, v) in [
                ("location", e.location.to_string()),
                ("offset", e.offset.to_string()),
                ("length", t.raw.len().to_string()),
            ] {
                let mut entry = Msg::default();
                entry.str(1, k);
                entry.str(2, &v);
                m.msg(13, entry);
            }
            // data_location = EXTERNAL
            m.int(14, 1);
        }
    }
    m
}

fn value_info(v: &ValueInfo) -> Msg {
    let mut shape = Msg::default();
    for d in &v.dims {
        let mut dim = Msg::default();
        match d {
            Dim::Fixed(n) => dim.int(1, *n),
            Dim::Named(s) => dim.str(2, s),
        }
        shape.msg(1, dim);
    }
    let mut tensor = Msg::default();
    tensor.int(1, i64::from(v.elem_type));
    tensor.msg(2, shape);
    let mut ty = Msg::default();
    ty.msg(1, tensor);
    let mut m = Msg::default();
    m.str(1, &v.name);
    m.msg(2, ty);
    m
}

/// Encodes `graph` as a model. With `external = Some((name, sink))`, the bytes of
/// initializers of 1 KiB or more are written to `sink` (the file `name`, beside the model) instead of inline: protobuf
/// caps a message at 2 GiB, which a real SD UNet's weights exceed.
pub fn encode_model(
    graph: &Graph,
    mut external: Option<(&str, &mut dyn Write)>,
) -> std::io::Result<Vec<u8>> {
    let mut g = Msg::default();
    for n in &graph.nodes {
        g.msg(1, node(n));
    }
    g.str(2, &graph.name);
    let mut offset = 0u64;
    for t in &graph.initializers {
        let ext = match external.as_mut() {
            // Small constants (axes, shapes) stay inline: ONNX Runtime's shape inference
            // reads them while loading and cannot follow external data there.
            Some((location, sink)) if t.raw.len() >= 1024 => {
                sink.write_all(&t.raw)?;
                let e = External { location, offset };
                offset += t.raw.len() as u64;
                Some(e)
            }
            _ => None,
        };
        g.msg(5, initializer(t, ext));
    }
    for v in &graph.inputs {
        g.msg(11, value_info(v));
    }
    for v in &graph.outputs {
        g.msg(12, value_info(v));
    }
    let mut m = Msg::default();
    m.int(1, IR_VERSION);
    m.str(2, "ra");
    m.str(3, env!("CARGO_PKG_VERSION"));
    m.msg(7, g);
    let mut opset = Msg::default();
    opset.str(1, "");
    opset.int(2, OPSET);
    m.msg(8, opset);
    Ok(m.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_match_protobufs_encoding() {
        let mut m = Msg::default();
        m.varint(300);
        assert_eq!(m.0, [0xac, 0x02]);
        let mut m = Msg::default();
        m.int(1, -1);
        // key 0x08, then ten bytes of two's complement.
        assert_eq!(m.0.len(), 11);
        assert_eq!(m.0[10], 0x01);
    }
}
