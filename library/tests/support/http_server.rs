//! A small HTTP/1.1 file server on 127.0.0.1 for download tests.
//!
//! It serves byte payloads by path with `Range: bytes=N-` and `If-Range` the way real
//! servers do, and misbehaves on demand per path: drops the connection or goes quiet after
//! some bytes, flips a byte, answers an error status, ignores ranges or If-Range, sends
//! slowly. It records every request and the most connections it had open at once. Every
//! answer carries `Connection: close`, so one request is one connection.

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// One way to misbehave, for one request or for all of them.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Send this many body bytes, then close the connection.
    DropAfter(usize),
    /// Send this many body bytes, then send nothing more while keeping the connection
    /// open (until the client gives up, or a minute passes).
    StallAfter(usize),
    /// Serve the byte at this offset of the file with its bits flipped.
    CorruptByte(usize),
    /// Answer with this status and an empty body.
    Status(u16),
    /// Answer `200` with the whole file even to a range request.
    IgnoreRange,
    /// Honour `Range` even when `If-Range` names an old validator.
    IgnoreIfRange,
}

/// A file the server offers at one path.
#[derive(Debug, Clone)]
pub struct Served {
    body: Arc<Vec<u8>>,
    etag: Option<String>,
    last_modified: Option<String>,
    /// Faults for the next requests, one list per request, used up in order.
    once: VecDeque<Vec<Fault>>,
    /// Faults for every request once `once` is used up.
    always: Vec<Fault>,
    /// Send in pieces of this many bytes with this pause between them.
    throttle: Option<(usize, Duration)>,
}

impl Served {
    pub fn new(body: Arc<Vec<u8>>) -> Self {
        Served {
            body,
            etag: None,
            last_modified: None,
            once: VecDeque::new(),
            always: Vec::new(),
            throttle: None,
        }
    }

    pub fn etag(mut self, etag: &str) -> Self {
        self.etag = Some(etag.to_owned());
        self
    }

    pub fn last_modified(mut self, value: &str) -> Self {
        self.last_modified = Some(value.to_owned());
        self
    }

    /// The next request (after those queued before) gets these faults.
    pub fn then(mut self, faults: impl IntoIterator<Item = Fault>) -> Self {
        self.once.push_back(faults.into_iter().collect());
        self
    }

    pub fn always(mut self, fault: Fault) -> Self {
        self.always.push(fault);
        self
    }

    pub fn throttle(mut self, chunk: usize, pause: Duration) -> Self {
        self.throttle = Some((chunk, pause));
        self
    }
}

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub range: Option<String>,
    pub if_range: Option<String>,
}

#[derive(Default)]
struct State {
    files: Mutex<HashMap<String, Served>>,
    seen: Mutex<Vec<Seen>>,
    active: AtomicUsize,
    max_active: AtomicUsize,
}

pub struct Server {
    addr: SocketAddr,
    state: Arc<State>,
}

impl Server {
    /// Listens on a free port of 127.0.0.1; the accept thread lives as long as the test.
    pub fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a local port");
        let addr = listener.local_addr().expect("local address");
        let state = Arc::new(State::default());
        let shared = state.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let state = shared.clone();
                thread::spawn(move || serve_connection(stream, &state));
            }
        });
        Server { addr, state }
    }

    pub fn serve(&self, path: &str, file: Served) {
        self.state.files.lock().unwrap().insert(path.to_owned(), file);
    }

    /// Changes what a path's later answers say about the file's version.
    pub fn set_etag(&self, path: &str, etag: &str) {
        if let Some(file) = self.state.files.lock().unwrap().get_mut(path) {
            file.etag = Some(etag.to_owned());
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    pub fn seen_for(&self, path: &str) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.path == path).collect()
    }

    /// The most connections that were open at the same time.
    pub fn max_active(&self) -> usize {
        self.state.max_active.load(Ordering::SeqCst)
    }
}

/// A URL on 127.0.0.1 where nothing listens: the port was free a moment ago.
pub fn refused_url(path: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a local port");
    let addr = listener.local_addr().expect("local address");
    drop(listener);
    format!("http://{addr}{path}")
}

/// Deterministic bytes that do not repeat in any short period.
pub fn payload(len: usize, seed: u64) -> Arc<Vec<u8>> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let bytes = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    Arc::new(bytes)
}

/// Counts a connection as open for as long as it lives.
struct Active<'a>(&'a State);

impl<'a> Active<'a> {
    fn enter(state: &'a State) -> Self {
        let now = state.active.fetch_add(1, Ordering::SeqCst) + 1;
        state.max_active.fetch_max(now, Ordering::SeqCst);
        Active(state)
    }
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

fn serve_connection(stream: TcpStream, state: &State) {
    let active = Active::enter(state);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    state.seen.lock().unwrap().push(Seen {
        path: path.clone(),
        range: headers.get("range").cloned(),
        if_range: headers.get("if-range").cloned(),
    });

    let file = {
        let mut files = state.files.lock().unwrap();
        files.get_mut(&path).map(|file| {
            let faults = file.once.pop_front().unwrap_or_else(|| file.always.clone());
            (file.clone(), faults)
        })
    };
    let mut stream = stream;
    let Some((file, faults)) = file else {
        let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    if let Some(status) = faults
        .iter()
        .find_map(|f| if let Fault::Status(s) = f { Some(*s) } else { None })
    {
        let _ = write!(
            stream,
            "HTTP/1.1 {status} Fault\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        return;
    }

    let len = file.body.len();
    let validator_matches = match headers.get("if-range") {
        None => true,
        Some(v) => Some(v) == file.etag.as_ref() || Some(v) == file.last_modified.as_ref(),
    };
    let start = headers
        .get("range")
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|_| !faults.contains(&Fault::IgnoreRange))
        .filter(|_| validator_matches || faults.contains(&Fault::IgnoreIfRange));
    let mut head = String::new();
    match start {
        Some(start) if start >= len => {
            let _ = write!(
                stream,
                "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{len}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            return;
        }
        Some(start) => {
            head.push_str("HTTP/1.1 206 Partial Content\r\n");
            head.push_str(&format!("Content-Range: bytes {start}-{}/{len}\r\n", len - 1));
        }
        None => head.push_str("HTTP/1.1 200 OK\r\n"),
    }
    let start = start.unwrap_or(0);
    head.push_str(&format!(
        "Content-Length: {}\r\nAccept-Ranges: bytes\r\nConnection: close\r\n",
        len - start
    ));
    if let Some(etag) = &file.etag {
        head.push_str(&format!("ETag: {etag}\r\n"));
    }
    if let Some(lm) = &file.last_modified {
        head.push_str(&format!("Last-Modified: {lm}\r\n"));
    }
    head.push_str("\r\n");
    if stream.write_all(head.as_bytes()).is_err() {
        return;
    }

    let mut body = file.body[start..].to_vec();
    for fault in &faults {
        if let Fault::CorruptByte(at) = fault {
            if *at >= start && *at < len {
                body[*at - start] ^= 0xFF;
            }
        }
    }
    let cut = faults.iter().find_map(|f| match f {
        Fault::DropAfter(n) => Some((*n, false)),
        Fault::StallAfter(n) => Some((*n, true)),
        _ => None,
    });
    let send = cut.map_or(body.len(), |(n, _)| n.min(body.len()));
    let (chunk, pause) = file.throttle.unwrap_or((64 << 10, Duration::ZERO));
    let pieces: Vec<&[u8]> = body[..send].chunks(chunk.max(1)).collect();
    let mut active = Some(active);
    for (i, piece) in pieces.iter().enumerate() {
        if i > 0 && !pause.is_zero() {
            thread::sleep(pause);
        }
        if i + 1 == pieces.len() && cut.is_none() {
            // The connection stops counting as open before its last byte goes out, so the
            // client cannot finish and connect again while this thread still counts it.
            active = None;
        }
        if stream.write_all(piece).is_err() {
            return;
        }
    }
    let _ = stream.flush();
    match cut {
        Some((_, true)) => {
            // Quiet but open: wait for the client to hang up.
            let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
            let until = Instant::now() + Duration::from_secs(60);
            let mut sink = [0u8; 64];
            while Instant::now() < until {
                match stream.read(&mut sink) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => break,
                }
            }
        }
        _ => {
            drop(active);
            let _ = stream.shutdown(std::net::Shutdown::Write);
        }
    }
}
