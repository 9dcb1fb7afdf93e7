//! The webhook's HTTP client: one POST to a checked address, TLS to the host's name, a timeout on the
//! whole exchange, no redirect followed, and no more than a small part of the answer read.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use imgpipe_domain::webhook::CallbackTarget;
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

/// One signed webhook request.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub target: CallbackTarget,
    pub address: SocketAddr,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// What the receiver answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// A 2xx: delivered.
    Accepted(u16),
    /// Any other status (redirects included: they are not followed).
    Refused(u16),
    /// No answer in time, or no connection.
    Unreachable(String),
}

/// Sends a webhook request (the network in Lambda, a recorder in tests).
pub trait Sender: Send + Sync {
    fn send(&self, delivery: &Delivery) -> impl Future<Output = Answer> + Send;
}

/// The real client.
pub struct HttpSender {
    tls: TlsConnector,
    timeout: Duration,
    max_response_bytes: usize,
}

impl HttpSender {
    /// With the system's trust store (Amazon Linux's in Lambda).
    pub fn new(timeout: Duration, max_response_bytes: usize) -> Self {
        let mut roots = RootCertStore::empty();
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        let config = ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Self {
            tls: TlsConnector::from(Arc::new(config)),
            timeout,
            max_response_bytes,
        }
    }

    async fn exchange(&self, delivery: &Delivery) -> Result<u16, String> {
        let tcp = TcpStream::connect(delivery.address)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let request = build_request(delivery)?;
        let status = if delivery.target.https {
            let name = ServerName::try_from(delivery.target.host.clone()).map_err(|e| format!("server name: {e}"))?;
            let tls = self.tls.connect(name, tcp).await.map_err(|e| format!("TLS: {e}"))?;
            post(TokioIo::new(tls), request, self.max_response_bytes).await?
        } else {
            post(TokioIo::new(tcp), request, self.max_response_bytes).await?
        };
        Ok(status)
    }
}

fn build_request(delivery: &Delivery) -> Result<http::Request<Full<Bytes>>, String> {
    let authority = match (delivery.target.https, delivery.target.port) {
        (true, 443) | (false, 80) => delivery.target.host.clone(),
        (_, port) => format!("{}:{port}", delivery.target.host),
    };
    let mut builder = http::Request::post(delivery.target.path.as_str())
        .header(http::header::HOST, authority)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::USER_AGENT, "imgpipe-webhooks/1");
    for (name, value) in &delivery.headers {
        builder = builder.header(*name, value);
    }
    builder
        .body(Full::new(Bytes::from(delivery.body.clone())))
        .map_err(|e| format!("request: {e}"))
}

async fn post<I>(io: I, request: http::Request<Full<Bytes>>, max_response_bytes: usize) -> Result<u16, String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    tokio::spawn(connection);
    let response = sender.send_request(request).await.map_err(|e| format!("HTTP: {e}"))?;
    let status = response.status().as_u16();
    // Read at most a little of the answer (nothing is done with it); a larger one is cut off.
    let _ = Limited::new(response.into_body(), max_response_bytes).collect().await;
    Ok(status)
}

impl Sender for HttpSender {
    async fn send(&self, delivery: &Delivery) -> Answer {
        match tokio::time::timeout(self.timeout, self.exchange(delivery)).await {
            Err(_) => Answer::Unreachable(format!("no answer within {} s", self.timeout.as_secs())),
            Ok(Err(reason)) => Answer::Unreachable(reason),
            Ok(Ok(status)) if (200..300).contains(&status) => Answer::Accepted(status),
            Ok(Ok(status)) => Answer::Refused(status),
        }
    }
}
