//! The load generator's side of HTTP: one keep-alive HTTP/1.1 connection per worker (hyper's
//! client connection, no pool, no URL parsing per request), requests built from parts prepared
//! once. `redis-benchmark`, the figure Baton is compared with, is a lean C client on the same
//! cores; a heavy client here would take CPU from the server it measures.

use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// An answer may take this long before the run stops with an error.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Where and as whom: shared by every worker's connection.
#[derive(Clone)]
pub struct Target {
    /// `host:port`, to connect to and for the `Host` header.
    authority: String,
    host: HeaderValue,
    auth: HeaderValue,
}

impl Target {
    /// `base` is `http://host:port` (Baton's listener; the bench runs beside it, so no TLS).
    pub fn new(base: &str, token: &str) -> anyhow::Result<Self> {
        let Some(authority) = base.strip_prefix("http://") else {
            bail!("--url must be http://host:port: the bench drives Baton's own listener, without TLS");
        };
        let authority = authority.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') {
            bail!("--url must be http://host:port, without a path");
        }
        let mut auth = HeaderValue::from_str(&format!("Bearer {token}"))
            .context("the token is not a valid header value")?;
        auth.set_sensitive(true);
        Ok(Self {
            authority: authority.to_string(),
            host: HeaderValue::from_str(authority).context("--url names no valid host")?,
            auth,
        })
    }
}

/// One worker's connection; reopened if the server closed it.
pub struct Conn {
    target: Target,
    send: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    pub fn new(target: Target) -> Self {
        Self { target, send: None }
    }

    /// Sends one request; `body` (JSON) is sent as is. Returns the status and the whole body.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> anyhow::Result<(u16, Bytes)> {
        self.send_within(method, path, body, TIMEOUT).await
    }

    /// [`Conn::send`] with a bound of its own: a request that waits in line answers late.
    pub async fn send_within(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
        within: Duration,
    ) -> anyhow::Result<(u16, Bytes)> {
        tokio::time::timeout(within, self.exchange(method, path, body))
            .await
            .with_context(|| format!("no answer from Baton within {within:?}"))?
    }

    async fn exchange(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> anyhow::Result<(u16, Bytes)> {
        let send = match &mut self.send {
            Some(s) if !s.is_closed() => s,
            _ => self.send.insert(self.open().await?),
        };
        send.ready()
            .await
            .context("the connection to Baton closed")?;
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, self.target.host.clone())
            .header(AUTHORIZATION, self.target.auth.clone());
        if body.is_some() {
            request = request.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let request = request.body(Full::new(body.unwrap_or_default()))?;
        let response = send.send_request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }

    async fn open(&self) -> anyhow::Result<SendRequest<Full<Bytes>>> {
        let stream = TcpStream::connect(&self.target.authority)
            .await
            .with_context(|| format!("Baton at {} is not reachable", self.target.authority))?;
        stream.set_nodelay(true)?;
        let (send, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(send)
    }
}
