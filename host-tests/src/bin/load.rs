//! `make serve-demo`'s load generator: C concurrent clients, R requests
//! each, HTTP/1.1 keep-alive GETs of `/page<k>` against the served plugin.
//! Prints requests/s, p50 and p99 latency and errors, then asks the plugin
//! for every page's count (`/_count/page<k>`) and checks it equals the
//! successful requests counted by the clients, exactly. Exit 1 on any error
//! or mismatch.
//!
//! Usage: `load ADDR C R [PAGES]` (PAGES default 4); prints one line
//! `C=.. R=.. ok=.. errors=.. req/s=.. p50_ms=.. p99_ms=.. counts=exact`.
//! With `LOAD_COUNTS=skip` the counts are not checked (`counts=skipped`):
//! for a provider that keeps nothing between requests, the served demo's
//! in-memory floor (issue 29).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// One keep-alive connection.
struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    fn open(addr: &str) -> std::io::Result<Conn> {
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        Ok(Conn { reader: BufReader::new(s.try_clone()?), writer: s })
    }

    /// GET `path`: the status and the body.
    fn get(&mut self, path: &str) -> std::io::Result<(u16, String)> {
        write!(self.writer, "GET {path} HTTP/1.1\r\nHost: datawal-demo\r\n\r\n")?;
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status: u16 = line.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| bad(&line))?;
        let mut length = None;
        let mut chunked = false;
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header.split_once(':').ok_or_else(|| bad(header))?;
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().ok(),
                "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
                _ => {}
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.reader.read_line(&mut line)?;
                let size = usize::from_str_radix(line.trim(), 16).map_err(|_| bad(&line))?;
                let mut chunk = vec![0; size + 2];
                self.reader.read_exact(&mut chunk)?;
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..size]);
            }
        } else {
            body.resize(length.ok_or_else(|| bad("no content-length"))?, 0);
            self.reader.read_exact(&mut body)?;
        }
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

fn bad(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, format!("bad response: {what:?}"))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: load ADDR C R [PAGES]";
    let addr = args.first().expect(usage).clone();
    let clients: usize = args.get(1).and_then(|a| a.parse().ok()).expect(usage);
    let rounds: usize = args.get(2).and_then(|a| a.parse().ok()).expect(usage);
    let pages: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(4);

    // The server may still be starting: wait up to 30 s for it.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut conn = loop {
        match Conn::open(&addr) {
            Ok(conn) => break conn,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("connect to {addr}: {e}"),
        }
    };
    // Counts before the run, so that runs can share a store.
    let count = |conn: &mut Conn, p: usize| -> u64 {
        let (status, body) = conn.get(&format!("/_count/page{p}")).expect("count");
        assert_eq!(status, 200, "count: {body}");
        body.trim().parse().expect("a count")
    };
    let before: Vec<u64> = (0..pages).map(|p| count(&mut conn, p)).collect();

    let started = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|c| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let mut conn = Conn::open(&addr).expect("connect");
                let (mut latencies, mut ok, mut errors) = (Vec::new(), BTreeMap::new(), 0u64);
                for r in 0..rounds {
                    let page = (c + r) % pages;
                    let t = Instant::now();
                    match conn.get(&format!("/page{page}")) {
                        Ok((200, _)) => {
                            latencies.push(t.elapsed());
                            *ok.entry(page).or_insert(0u64) += 1;
                        }
                        Ok((status, body)) => {
                            errors += 1;
                            eprintln!("load: /page{page}: {status} {}", body.trim());
                        }
                        Err(e) => {
                            errors += 1;
                            eprintln!("load: /page{page}: {e}");
                            conn = Conn::open(&addr).expect("reconnect");
                        }
                    }
                }
                (latencies, ok, errors)
            })
        })
        .collect();
    let (mut latencies, mut ok, mut errors) = (Vec::new(), BTreeMap::<usize, u64>::new(), 0);
    for w in workers {
        let (l, o, e) = w.join().expect("a client panicked");
        latencies.extend(l);
        for (page, n) in o {
            *ok.entry(page).or_insert(0) += n;
        }
        errors += e;
    }
    let secs = started.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |q: f64| {
        latencies.get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
    };
    let ms = |d: Option<&Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1e3);
    let check = std::env::var("LOAD_COUNTS").map_or(true, |v| v != "skip");
    let mut exact = true;
    for (p, before) in before.iter().enumerate().filter(|_| check) {
        let got = count(&mut conn, p) - before;
        let want = ok.get(&p).copied().unwrap_or(0);
        if got != want {
            exact = false;
            eprintln!("load: page{p}: the store counted {got}, the clients saw {want} acknowledged");
        }
    }
    println!(
        "C={clients} R={rounds} ok={} errors={errors} req/s={:.0} p50_ms={:.2} p99_ms={:.2} counts={}",
        latencies.len(),
        latencies.len() as f64 / secs,
        ms(pct(0.50)),
        ms(pct(0.99)),
        match (check, exact) {
            (false, _) => "skipped",
            (true, true) => "exact",
            (true, false) => "WRONG",
        }
    );
    if errors > 0 || !exact {
        std::process::exit(1);
    }
}
