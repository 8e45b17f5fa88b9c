//! A lean HTTP/1.1 client over one TCP stream, so that the client adds as
//! little as it can to what is timed: no pool, no resolver, no header maps;
//! one write of the request and reads until the response ends. It speaks only
//! what the two servers under test send back: a status line, headers, and a
//! body sized by `Content-Length`, sent `chunked`, or closed at its end.

use std::io;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// One connection to `host:port`; `keep_alive` false opens a new one per request.
pub struct Connection {
    addr: String,
    keep_alive: bool,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

/// `http://127.0.0.1:PORT/path` split into ("127.0.0.1:PORT", "/path").
pub fn split_url(url: &str) -> (&str, &str) {
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let slash = rest.find('/').unwrap_or(rest.len());
    let path = if slash == rest.len() { "/" } else { &rest[slash..] };
    (&rest[..slash], path)
}

impl Connection {
    pub fn new(addr: &str, keep_alive: bool) -> Self {
        Connection { addr: addr.to_owned(), keep_alive, stream: None, buf: Vec::with_capacity(16 * 1024) }
    }

    pub async fn get(&mut self, path: &str) -> io::Result<Response> {
        self.send("GET", path, None).await
    }

    pub async fn post_json(&mut self, path: &str, body: &[u8]) -> io::Result<Response> {
        self.send("POST", path, Some(body)).await
    }

    async fn send(&mut self, method: &str, path: &str, body: Option<&[u8]>) -> io::Result<Response> {
        let reused = self.stream.is_some();
        match self.exchange(method, path, body).await {
            // A kept connection the server closed while idle: once more on a new one.
            Err(e) if reused && is_closed(&e) => {
                self.stream = None;
                self.exchange(method, path, body).await
            }
            other => other,
        }
    }

    async fn exchange(&mut self, method: &str, path: &str, body: Option<&[u8]>) -> io::Result<Response> {
        // A server that closes after each response without saying so (uWSGI's
        // router): its close has arrived by now, so open a new connection
        // rather than time a request that fails and is sent again.
        if let Some(s) = &self.stream {
            let mut probe = [0u8; 1];
            if !matches!(s.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
                self.stream = None;
            }
        }
        if self.stream.is_none() {
            let s = TcpStream::connect(&self.addr).await?;
            s.set_nodelay(true)?;
            self.stream = Some(s);
        }
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nAccept: */*\r\n", self.addr).into_bytes();
        if !self.keep_alive {
            req.extend_from_slice(b"Connection: close\r\n");
        }
        if let Some(b) = body {
            req.extend_from_slice(format!("Content-Type: application/json\r\nContent-Length: {}\r\n\r\n", b.len()).as_bytes());
            req.extend_from_slice(b);
        } else {
            req.extend_from_slice(b"\r\n");
        }
        let stream = self.stream.as_mut().expect("connected above");
        stream.write_all(&req).await?;
        self.buf.clear();
        let result = read_response(stream, &mut self.buf, method == "HEAD").await;
        if !self.keep_alive || result.as_ref().map(|(_, close)| *close).unwrap_or(true) {
            self.stream = None;
        }
        result.map(|(r, _)| r)
    }
}

fn is_closed(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe)
}

/// Reads one response; the flag says whether the server closes the connection after it.
async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>, head_only: bool) -> io::Result<(Response, bool)> {
    let header_end = loop {
        if let Some(at) = find(buf, b"\r\n\r\n") {
            break at + 4;
        }
        if fill(stream, buf).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    };
    let head = std::str::from_utf8(&buf[..header_end]).map_err(|_| bad("a response head that is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).ok_or_else(|| bad("a status line"))?;
    let (mut length, mut chunked, mut close) = (None, false, false);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse::<usize>().map_err(|_| bad("a Content-Length"))?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
    }
    let no_body = head_only || status == 204 || status == 304 || (100..200).contains(&status);
    let body = if no_body {
        Vec::new()
    } else if chunked {
        read_chunked(stream, buf, header_end).await?
    } else if let Some(n) = length {
        while buf.len() < header_end + n {
            if fill(stream, buf).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        buf[header_end..header_end + n].to_vec()
    } else {
        close = true;
        while fill(stream, buf).await? > 0 {}
        buf[header_end..].to_vec()
    };
    Ok((Response { status, body }, close))
}

async fn read_chunked(stream: &mut TcpStream, buf: &mut Vec<u8>, mut at: usize) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = loop {
            if let Some(i) = find(&buf[at..], b"\r\n") {
                break at + i;
            }
            if fill(stream, buf).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        };
        let size_text = std::str::from_utf8(&buf[at..line_end]).map_err(|_| bad("a chunk size"))?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16).map_err(|_| bad("a chunk size"))?;
        let data = line_end + 2;
        while buf.len() < data + size + 2 {
            if fill(stream, buf).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        if size == 0 {
            return Ok(body);
        }
        body.extend_from_slice(&buf[data..data + size]);
        at = data + size + 2;
    }
}

async fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<usize> {
    let mut chunk = [0u8; 16 * 1024];
    let n = stream.read(&mut chunk).await?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("expected {what}"))
}
