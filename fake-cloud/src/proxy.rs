//! A forward proxy for tests of `HTTPS_PROXY`: it answers `CONNECT host:port` by opening a
//! tunnel to 127.0.0.1 on that port (whatever the host name, so production names reach the
//! fake cloud) and records each target. Anything but `CONNECT` gets 405.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// A running proxy; it stops accepting when dropped.
#[derive(Debug)]
pub struct ConnectProxy {
    url: String,
    connects: Arc<Mutex<Vec<String>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    port: u16,
}

impl ConnectProxy {
    /// Listens on a free port of 127.0.0.1.
    pub fn start() -> std::io::Result<ConnectProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let port = listener.local_addr()?.port();
        let connects = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (log, halt) = (connects.clone(), stop.clone());
        std::thread::Builder::new()
            .name("fake-proxy".into())
            .spawn(move || {
                for client in listener.incoming() {
                    if halt.load(std::sync::atomic::Ordering::SeqCst) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    let log = log.clone();
                    std::thread::spawn(move || {
                        let _ = tunnel(client, &log);
                    });
                }
            })?;
        Ok(ConnectProxy {
            url: format!("http://127.0.0.1:{port}"),
            connects,
            stop,
            port,
        })
    }

    /// `http://127.0.0.1:PORT`, for `HTTPS_PROXY`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The `host:port` of every `CONNECT` so far, in order.
    pub fn connects(&self) -> Vec<String> {
        self.connects
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn tunnel(client: TcpStream, log: &Mutex<Vec<String>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" || header == "\n" {
            break;
        }
    }
    let mut client = client;
    let mut parts = request_line.split_whitespace();
    let (Some("CONNECT"), Some(target)) = (parts.next(), parts.next()) else {
        client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n")?;
        return Ok(());
    };
    log.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(target.to_string());
    let port: u16 = target
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(443);
    let upstream = match TcpStream::connect(("127.0.0.1", port)) {
        Ok(s) => s,
        Err(_) => {
            client.write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")?;
            return Ok(());
        }
    };
    client.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")?;
    // Bytes the client sent after the request head are still in the reader's buffer.
    let buffered = reader.buffer().to_vec();
    let mut up_write = upstream.try_clone()?;
    up_write.write_all(&buffered)?;
    let mut up_read = upstream;
    let mut client_write = client.try_clone()?;
    let mut client_read = reader.into_inner();
    let forward = std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_read, &mut up_write);
        let _ = up_write.shutdown(Shutdown::Write);
    });
    let _ = std::io::copy(&mut up_read, &mut client_write);
    let _ = client_write.shutdown(Shutdown::Write);
    let _ = forward.join();
    Ok(())
}
