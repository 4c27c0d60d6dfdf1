//! A fault-injecting HTTP/1.1 proxy for tests of remote clients.
//!
//! [`FaultProxy`] listens on a loopback port and forwards each request to
//! an upstream server (a real registry, a local fake of a service's API),
//! unless a [`Rule`] matches it; then it applies the rule's [`Fault`]:
//! an answer of its own (a 500, a 429 with `Retry-After`, a garbage
//! body), a delay, an answer cut mid-body, a request cut mid-body, an
//! answer lost after the upstream acted on the request, or no answer at
//! all. It keeps a log of what it saw ([`FaultProxy::seen`]), so a test
//! can count the attempts a client made and the time between them.
//!
//! Every answer the proxy passes on carries `Connection: close`: each
//! request is one connection, so a fault on one request never touches
//! another.
//!
//! The proxy runs on a thread and runtime of its own, so it serves both
//! synchronous tests (which run a program against it) and asynchronous
//! ones, whatever their runtime; dropping it stops it and closes every
//! connection it holds.
//!
//! ```
//! use paragon_core::conformance::faults::{Fault, FaultProxy, Rule};
//!
//! // Without an upstream, a request no rule takes gets a 502.
//! let proxy = FaultProxy::start(None);
//! proxy.add(Rule::new(Fault::status(503).with_retry_after("1")).method("PUT").times(2));
//! assert!(proxy.address().starts_with("127.0.0.1:"));
//! assert!(proxy.seen().is_empty());
//! ```

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The longest request or answer head read (64 KiB).
const MAX_HEAD: usize = 64 * 1024;

/// What the proxy does to a request a [`Rule`] takes.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answers itself, never forwarding: this status, headers and body.
    Answer {
        /// The HTTP status.
        status: u16,
        /// Extra headers (`Retry-After`, `Content-Type`…).
        headers: Vec<(String, String)>,
        /// The body.
        body: Vec<u8>,
    },
    /// Waits this long, then forwards.
    Delay(Duration),
    /// Forwards, and passes on the answer's head and at most this many
    /// bytes of its body, always fewer than the whole, then closes the
    /// connection; an answer without a body breaks off in its head.
    CutAnswer {
        /// Body bytes passed on.
        after: usize,
    },
    /// Reads half of the request body, forwards that half under the
    /// request's full `Content-Length`, and closes both connections: the
    /// upstream sees an upload that broke off, the client an answer that
    /// never came.
    CutRequest,
    /// Forwards the request and reads the whole answer (the upstream has
    /// acted), then closes the client's connection without a byte of it.
    LoseAnswer,
    /// Reads the request and never answers, holding the connection open
    /// until the proxy is dropped.
    Silent,
}

impl Fault {
    /// An answer of this status with a short JSON error body.
    pub fn status(status: u16) -> Fault {
        Fault::Answer {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: format!(r#"{{"errors":[{{"code":"FAULT","message":"injected {status}"}}]}}"#)
                .into_bytes(),
        }
    }

    /// A 200 whose body is not what any API answers: bytes that are
    /// neither JSON nor text, under a JSON content type. (To a `HEAD`,
    /// which has no body, it is a plain 200.)
    pub fn garbage() -> Fault {
        Fault::Answer {
            status: 200,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: b"\x00\xffnot json {\"unterminated\": [1, 2,".to_vec(),
        }
    }

    /// This answer with a `Retry-After` header (delta-seconds or an HTTP
    /// date); other faults are returned unchanged.
    #[must_use]
    pub fn with_retry_after(self, value: &str) -> Fault {
        self.with_header("Retry-After", value)
    }

    /// This answer with one more header; other faults are returned
    /// unchanged.
    #[must_use]
    pub fn with_header(mut self, name: &str, value: &str) -> Fault {
        if let Fault::Answer { headers, .. } = &mut self {
            headers.push((name.into(), value.into()));
        }
        self
    }

    /// A short name for logs and test messages.
    pub fn kind(&self) -> String {
        match self {
            Fault::Answer { status, .. } => format!("answer {status}"),
            Fault::Delay(d) => format!("delay {} ms", d.as_millis()),
            Fault::CutAnswer { after } => format!("answer cut after {after} body bytes"),
            Fault::CutRequest => "request cut mid-body".into(),
            Fault::LoseAnswer => "answer lost".into(),
            Fault::Silent => "no answer".into(),
        }
    }
}

impl fmt::Debug for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.kind())
    }
}

/// Which requests a [`Fault`] applies to, and how many times.
#[derive(Debug, Clone)]
pub struct Rule {
    method: Option<String>,
    path: Vec<String>,
    fault: Fault,
    skip: usize,
    times: Option<usize>,
    matched: usize,
    applied: usize,
}

impl Rule {
    /// `fault` on every request, every time.
    pub fn new(fault: Fault) -> Rule {
        Rule {
            method: None,
            path: Vec::new(),
            fault,
            skip: 0,
            times: None,
            matched: 0,
            applied: 0,
        }
    }

    /// Only requests of this method (`PUT`, `HEAD`…).
    #[must_use]
    pub fn method(mut self, method: &str) -> Rule {
        self.method = Some(method.to_ascii_uppercase());
        self
    }

    /// Only requests whose path and query contain `part`; several calls
    /// require all of them.
    #[must_use]
    pub fn path_contains(mut self, part: &str) -> Rule {
        self.path.push(part.into());
        self
    }

    /// Applied this many times, then the rule lets requests through.
    #[must_use]
    pub fn times(mut self, n: usize) -> Rule {
        self.times = Some(n);
        self
    }

    /// The first `n` matching requests pass untouched.
    #[must_use]
    pub fn after(mut self, n: usize) -> Rule {
        self.skip = n;
        self
    }

    fn matches(&self, method: &str, target: &str) -> bool {
        self.method.as_deref().is_none_or(|m| m == method)
            && self.path.iter().all(|p| target.contains(p.as_str()))
    }
}

/// One request the proxy saw.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Its method.
    pub method: String,
    /// Its path and query.
    pub target: String,
    /// The fault applied to it, if one was.
    pub fault: Option<Fault>,
    /// When its head had been read.
    pub at: Instant,
}

#[derive(Default)]
struct Shared {
    rules: Mutex<Vec<Rule>>,
    seen: Mutex<Vec<Seen>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    /// The fault for this request, if a rule takes it (the first rule
    /// that matches and has applications left).
    fn pick(&self, method: &str, target: &str) -> Option<Fault> {
        let mut rules = lock(&self.rules);
        let mut chosen = None;
        for r in rules.iter_mut().filter(|r| r.matches(method, target)) {
            r.matched += 1;
            if chosen.is_none() && r.matched > r.skip && r.times.is_none_or(|t| r.applied < t) {
                r.applied += 1;
                chosen = Some(r.fault.clone());
            }
        }
        lock(&self.seen).push(Seen {
            method: method.into(),
            target: target.into(),
            fault: chosen.clone(),
            at: Instant::now(),
        });
        chosen
    }
}

/// A fault-injecting proxy on a loopback port (see the [module docs](self)).
pub struct FaultProxy {
    address: String,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultProxy")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl FaultProxy {
    /// A proxy forwarding to `upstream` (`host:port`); with none, every
    /// request no rule takes is answered 502.
    ///
    /// # Panics
    /// When no loopback port can be bound or its thread cannot start: a
    /// test cannot go on without it.
    pub fn start(upstream: Option<&str>) -> FaultProxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking socket");
        let address = listener
            .local_addr()
            .expect("the bound address")
            .to_string();
        let shared = Arc::new(Shared::default());
        let (stop, stopped) = watch::channel(false);
        let upstream = upstream.map(str::to_owned);
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("fault-proxy".into())
                .spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("a runtime for the proxy");
                    rt.block_on(serve(listener, shared, upstream, stopped));
                })
                .expect("start the proxy's thread")
        };
        FaultProxy {
            address,
            shared,
            stop,
            thread: Some(thread),
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Adds a rule; rules are tried in the order they were added.
    pub fn add(&self, rule: Rule) {
        lock(&self.shared.rules).push(rule);
    }

    /// Removes every rule: from now on, everything is forwarded.
    pub fn clear(&self) {
        lock(&self.shared.rules).clear();
    }

    /// Every request seen so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        lock(&self.shared.seen).clone()
    }

    /// The requests seen so far whose method is `method` and whose path
    /// contains `part`.
    pub fn seen_matching(&self, method: &str, part: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.method == method && s.target.contains(part))
            .collect()
    }

    /// How many requests had a fault applied.
    pub fn faults_applied(&self) -> usize {
        lock(&self.shared.seen)
            .iter()
            .filter(|s| s.fault.is_some())
            .count()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    upstream: Option<String>,
    mut stopped: watch::Receiver<bool>,
) {
    let Ok(listener) = TcpListener::from_std(listener) else {
        return;
    };
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((sock, _)) = accepted else { continue };
                let shared = Arc::clone(&shared);
                let upstream = upstream.clone();
                let stopped = stopped.clone();
                tokio::spawn(async move {
                    let _ = connection(sock, &shared, upstream.as_deref(), stopped).await;
                });
            }
            _ = stopped.changed() => return,
        }
    }
}

/// A request as read from the client.
struct Request {
    method: String,
    target: String,
    /// Header lines, without the framing ones (`Content-Length`,
    /// `Transfer-Encoding`, `Connection`).
    headers: Vec<(String, String)>,
    /// The body's declared length (`Content-Length`), when it has one.
    declared: Option<usize>,
    chunked: bool,
}

/// A socket with a read buffer.
struct Conn {
    sock: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    /// Reads more; false at the end of the stream.
    async fn fill(&mut self) -> std::io::Result<bool> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.sock.read(&mut chunk).await?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n > 0)
    }

    /// The bytes up to and including the first `\r\n\r\n`.
    async fn head(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                return Ok(Some(self.buf.drain(..i + 4).collect()));
            }
            if self.buf.len() > MAX_HEAD || !self.fill().await? {
                return Ok(None);
            }
        }
    }

    async fn line(&mut self) -> std::io::Result<Vec<u8>> {
        loop {
            if let Some(i) = find(&self.buf, b"\r\n") {
                let line = self.buf.drain(..i + 2).take(i).collect();
                return Ok(line);
            }
            if self.buf.len() > MAX_HEAD || !self.fill().await? {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    async fn exactly(&mut self, n: usize) -> std::io::Result<Vec<u8>> {
        while self.buf.len() < n {
            if !self.fill().await? {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// A chunked body, decoded.
    async fn chunked(&mut self) -> std::io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line = self.line().await?;
            let size = String::from_utf8_lossy(&line);
            let size = size.split(';').next().unwrap_or_default().trim();
            let n = usize::from_str_radix(size, 16)
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidData))?;
            if n == 0 {
                // Trailers, up to the empty line.
                while !self.line().await?.is_empty() {}
                return Ok(body);
            }
            body.extend(self.exactly(n).await?);
            self.line().await?;
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn parse_request(head: &[u8]) -> Option<Request> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_owned();
    let target = first.next()?.to_owned();
    let mut req = Request {
        method,
        target,
        headers: Vec::new(),
        declared: None,
        chunked: false,
    };
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':')?;
        let (name, value) = (name.trim(), value.trim());
        match name.to_ascii_lowercase().as_str() {
            "content-length" => req.declared = value.parse().ok(),
            "transfer-encoding" => req.chunked = value.to_ascii_lowercase().contains("chunked"),
            "connection" | "keep-alive" | "proxy-connection" => {}
            _ => req.headers.push((name.into(), value.into())),
        }
    }
    Some(req)
}

/// The request's head as sent upstream, with `length` as its
/// `Content-Length` and `Connection: close`.
fn upstream_head(req: &Request, length: usize) -> Vec<u8> {
    let mut head = format!("{} {} HTTP/1.1\r\n", req.method, req.target);
    for (name, value) in &req.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if length > 0 || matches!(req.method.as_str(), "POST" | "PUT" | "PATCH") {
        head.push_str(&format!("Content-Length: {length}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    head.into_bytes()
}

/// An answer's head with `Connection: close` in place of its own
/// connection headers, and its body.
fn split_answer(answer: &[u8]) -> (Vec<u8>, &[u8]) {
    let Some(end) = find(answer, b"\r\n\r\n") else {
        return (answer.to_vec(), &[]);
    };
    let text = String::from_utf8_lossy(&answer[..end]);
    let mut head = String::new();
    for line in text.split("\r\n") {
        let name = line.split(':').next().unwrap_or_default().trim();
        if name.eq_ignore_ascii_case("connection") || name.eq_ignore_ascii_case("keep-alive") {
            continue;
        }
        head.push_str(line);
        head.push_str("\r\n");
    }
    head.push_str("Connection: close\r\n\r\n");
    (head.into_bytes(), &answer[end + 4..])
}

fn own_answer(status: u16, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut head = format!("HTTP/1.1 {status} Fault\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    out
}

/// Sends `head` and `body` upstream and reads the whole answer (the
/// upstream closes after it: the request asked it to).
async fn exchange(upstream: &str, head: &[u8], body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut up = TcpStream::connect(upstream).await?;
    up.write_all(head).await?;
    up.write_all(body).await?;
    let mut answer = Vec::new();
    up.read_to_end(&mut answer).await?;
    Ok(answer)
}

async fn connection(
    sock: TcpStream,
    shared: &Shared,
    upstream: Option<&str>,
    mut stopped: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let mut conn = Conn {
        sock,
        buf: Vec::new(),
    };
    let Some(head) = conn.head().await? else {
        return Ok(());
    };
    let Some(req) = parse_request(&head) else {
        let bad = own_answer(400, &[], b"unreadable request");
        return conn.sock.write_all(&bad).await;
    };
    let fault = shared.pick(&req.method, &req.target);
    if fault == Some(Fault::CutRequest) {
        let half = req.declared.unwrap_or(0) / 2;
        let part = conn.exactly(half).await?;
        if let Some(up) = upstream {
            // The full length is declared; half of it comes.
            let head = upstream_head(&req, req.declared.unwrap_or(0));
            if let Ok(mut up) = TcpStream::connect(up).await {
                let _ = up.write_all(&head).await;
                let _ = up.write_all(&part).await;
                let _ = up.flush().await;
                // Give the upstream a moment to read what came before the
                // connection drops.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        return Ok(());
    }
    let body = match (req.declared, req.chunked) {
        (_, true) => conn.chunked().await?,
        (Some(n), false) => conn.exactly(n).await?,
        (None, false) => Vec::new(),
    };
    let forward = |delay: Option<Duration>| {
        let head = upstream_head(&req, body.len());
        let body = &body;
        async move {
            if let Some(d) = delay {
                tokio::time::sleep(d).await;
            }
            match upstream {
                Some(up) => exchange(up, &head, body)
                    .await
                    .unwrap_or_else(|e| own_answer(502, &[], e.to_string().as_bytes())),
                None => own_answer(502, &[], b"no upstream"),
            }
        }
    };
    match fault {
        None => {
            let answer = forward(None).await;
            let (head, body) = split_answer(&answer);
            conn.sock.write_all(&head).await?;
            conn.sock.write_all(body).await
        }
        Some(Fault::Delay(d)) => {
            let answer = forward(Some(d)).await;
            let (head, body) = split_answer(&answer);
            conn.sock.write_all(&head).await?;
            conn.sock.write_all(body).await
        }
        Some(Fault::Answer {
            status,
            headers,
            body,
        }) => {
            let mut answer = own_answer(status, &headers, &body);
            if req.method == "HEAD" {
                // A HEAD answer has the length of its body, not the body.
                answer.truncate(answer.len() - body.len());
            }
            conn.sock.write_all(&answer).await
        }
        Some(Fault::CutAnswer { after }) => {
            let answer = forward(None).await;
            let (head, body) = split_answer(&answer);
            if body.is_empty() {
                // Nothing to cut in the body: the head breaks off.
                conn.sock.write_all(&head[..head.len() / 2]).await?;
            } else {
                conn.sock.write_all(&head).await?;
                let sent = after.min(body.len() - 1);
                conn.sock.write_all(&body[..sent]).await?;
            }
            conn.sock.flush().await
        }
        Some(Fault::LoseAnswer) => {
            let _acted = forward(None).await;
            Ok(())
        }
        Some(Fault::Silent) => {
            // Held until the proxy stops.
            let _ = stopped.wait_for(|s| *s).await;
            Ok(())
        }
        Some(Fault::CutRequest) => Ok(()),
    }
}

/// The faults a client of a service's HTTP API must turn into an error:
/// 500, 502, 503 and 429 (the last two with `Retry-After: 1`), a 200 with
/// a garbage body, an answer cut after 3 body bytes, an answer lost after
/// the service acted, and no answer at all.
pub fn service_faults() -> Vec<Fault> {
    vec![
        Fault::status(500),
        Fault::status(502),
        Fault::status(503).with_retry_after("1"),
        Fault::status(429).with_retry_after("1"),
        Fault::garbage(),
        Fault::CutAnswer { after: 3 },
        Fault::LoseAnswer,
        Fault::Silent,
    ]
}

/// Runs `call` once under each of `faults`, applied by `proxy` to every
/// request, and checks that each run ends in an error, within `within`,
/// whose message names `service` (the caller must learn which service
/// failed); then, with no fault, that `call` succeeds, so that the faults
/// were what failed it. The errors, one per fault, for further checks.
///
/// # Panics
/// When a call under a fault succeeds, takes longer than `within`, or
/// gives an error that does not name `service`; or when the call fails
/// without a fault.
pub async fn each_fault_fails<T, F, Fut>(
    proxy: &FaultProxy,
    service: &str,
    faults: &[Fault],
    within: Duration,
    mut call: F,
) -> Vec<(Fault, crate::Error)>
where
    T: fmt::Debug,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = crate::Result<T>>,
{
    let mut errors = Vec::new();
    for fault in faults {
        proxy.clear();
        proxy.add(Rule::new(fault.clone()));
        let started = Instant::now();
        let result = call().await;
        let took = started.elapsed();
        let err = match result {
            Ok(v) => panic!("{service} under `{fault:?}`: the call succeeded with {v:?}"),
            Err(e) => e,
        };
        assert!(
            took <= within,
            "{service} under `{fault:?}`: the error took {took:?} (more than {within:?}): {err}"
        );
        let text = err.to_string();
        assert!(
            text.to_lowercase().contains(&service.to_lowercase()),
            "{service} under `{fault:?}`: the error does not name the service: {text}"
        );
        errors.push((fault.clone(), err));
    }
    proxy.clear();
    if let Err(e) = call().await {
        panic!("{service} without a fault: {e}");
    }
    errors
}
