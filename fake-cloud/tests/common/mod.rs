//! The one raw HTTPS client of the fake's tests: HTTP/1.1 over rustls, trusting only the fake's
//! CA, so a test sees what the fake sent (status, headers, body), or that it sent nothing.
// Each test crate uses a part of it.
#![allow(dead_code)]

use fake_cloud::FakeCloud;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};

/// A response as it came over the wire.
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The body as text (lossy UTF-8).
    pub body: String,
    /// The body as bytes (de-chunked).
    pub bytes: Vec<u8>,
}

impl Resp {
    /// The body as JSON (panics, showing the body, when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// The first value of a header (name compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Where a request goes: a TCP address, the TLS server name and the `host` header.
pub struct To {
    pub ca_pem: String,
    pub addr: String,
    pub sni: String,
    pub host: String,
}

impl To {
    /// The fake's listener, named `sni` in the TLS handshake and `host` in the header.
    pub fn fake(cloud: &FakeCloud, sni: &str, host: &str) -> To {
        To {
            ca_pem: cloud.ca_pem(),
            addr: cloud.url().trim_start_matches("https://").to_string(),
            sni: sni.to_string(),
            host: host.to_string(),
        }
    }

    /// The server of `url` (`https://127.0.0.1:PORT/...`, certified by `ca_pem`), and the
    /// path and query to request there.
    pub fn url(ca_pem: &str, url: &str) -> (To, String) {
        let rest = url.strip_prefix("https://").unwrap();
        let (authority, target) = rest.split_at(rest.find('/').unwrap());
        let to = To {
            ca_pem: ca_pem.to_string(),
            addr: authority.to_string(),
            sni: authority.split(':').next().unwrap().to_string(),
            host: authority.to_string(),
        };
        (to, target.to_string())
    }

    /// A TLS client for this server (trusting only its CA) and the TCP connection to it.
    pub fn connect(&self) -> std::io::Result<(rustls::ClientConnection, TcpStream)> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(self.ca_pem.as_bytes()).unwrap())
            .unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let conn = rustls::ClientConnection::new(
            Arc::new(config),
            ServerName::try_from(self.sni.clone()).unwrap(),
        )
        .unwrap();
        let tcp = TcpStream::connect(&self.addr)?;
        Ok((conn, tcp))
    }

    /// One request (`connection: close`); an error when the connection fails or closes without
    /// a response.
    pub fn send(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Resp> {
        let (conn, tcp) = self.connect()?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let mut head = format!(
            "{method} {target} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\ncontent-length: {}\r\n",
            self.host,
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        tls.write_all(head.as_bytes())?;
        tls.write_all(body)?;
        let mut raw = Vec::new();
        if let Err(e) = tls.read_to_end(&mut raw)
            && raw.is_empty()
        {
            return Err(e);
        }
        if raw.is_empty() {
            return Err(std::io::Error::other("connection closed without response"));
        }
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| {
                std::io::Error::other(format!(
                    "no response head in {:?}",
                    String::from_utf8_lossy(&raw)
                ))
            })?;
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let mut lines = head.lines();
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(": "))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut bytes = raw[split + 4..].to_vec();
        if headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"))
        {
            bytes = dechunk(&bytes);
        }
        Ok(Resp {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            bytes,
        })
    }
}

/// One request to the fake's listener as `localhost`.
pub fn send(
    cloud: &FakeCloud,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<Resp> {
    To::fake(cloud, "localhost", "localhost").send(method, target, headers, body.as_bytes())
}

/// Completes a TLS handshake with `sni` as the server name (fails when the certificate does
/// not name it).
pub fn handshake(cloud: &FakeCloud, sni: &str) -> std::io::Result<()> {
    let (mut conn, mut tcp) = To::fake(cloud, sni, sni).connect()?;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp)?;
    }
    Ok(())
}

/// An Entra access token for `scope` (an OIDC token from the Actions issuer, exchanged at the
/// token endpoint), both requests sent to the listener as `host`.
pub fn entra_token(cloud: &FakeCloud, host: &str, scope: &str) -> String {
    let to = To::fake(cloud, host, host);
    let seed = cloud.seed();
    let oidc_auth = format!("bearer {}", seed.oidc_request_token);
    let r = to
        .send(
            "GET",
            "/_actions/idtoken?api-version=2.0&audience=api%3A%2F%2FAzureADTokenExchange",
            &[("authorization", &oidc_auth)],
            b"",
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let assertion = r.json()["value"].as_str().unwrap().to_string();
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_assertion", &assertion)
        .append_pair(
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        )
        .append_pair("client_id", &seed.azure_client_id)
        .append_pair("grant_type", "client_credentials")
        .append_pair("scope", scope)
        .finish();
    let r = to
        .send(
            "POST",
            &format!("/{}/oauth2/v2.0/token", seed.tenant_id),
            &[("content-type", "application/x-www-form-urlencoded")],
            form.as_bytes(),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["access_token"].as_str().unwrap().to_string()
}

/// A `Transfer-Encoding: chunked` body joined.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&raw[..eol]).into_owned();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.extend_from_slice(&raw[eol + 2..eol + 2 + size]);
        raw = &raw[eol + 2 + size + 2..];
    }
    out
}

/// The `authorization` header value of an ARM request: a bearer token for the management scope.
pub fn arm_auth(cloud: &FakeCloud) -> String {
    format!(
        "Bearer {}",
        entra_token(cloud, "localhost", "https://management.azure.com/.default")
    )
}
