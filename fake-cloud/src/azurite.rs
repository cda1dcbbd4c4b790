//! The Azurite blob server child process, and a small blob client that authenticates with
//! SAS tokens the fake signs itself (service SAS for blobs, account SAS to create containers).

use crate::AzuriteOptions;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use sha2::Sha256;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};

/// Azurite's well-known account.
pub(crate) const ACCOUNT: &str = "devstoreaccount1";
/// Azurite's well-known account key.
pub(crate) const ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// Version of the SAS tokens (and `x-ms-version` of the fake's own requests).
pub(crate) const SAS_VERSION: &str = "2021-08-06";
/// How to install Azurite where the fake looks for it by default.
pub(crate) const INSTALL_HINT: &str = "npm install --prefix fake-cloud/.azurite azurite@3.37.0 (or scripts/azurite.sh), in the repository root";

/// A blob service response.
#[derive(Debug)]
pub(crate) struct BlobResp {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Client of the Azurite blob endpoint (cheap to clone).
#[derive(Clone)]
pub(crate) struct Blobs {
    port: u16,
    key: Arc<Vec<u8>>,
    connector: TlsConnector,
}

fn utc(t: time::OffsetDateTime) -> String {
    crate::util::iso(t.unix_timestamp())
}

/// Percent-encodes a blob path (keeps `/` and unreserved characters).
fn encode_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Blobs {
    /// A client for Azurite on 127.0.0.1:`port`, trusting `ca_pem`.
    pub fn new(port: u16, ca_pem: &str) -> Result<Blobs, String> {
        let mut roots = rustls::RootCertStore::empty();
        let ca = CertificateDer::from_pem_slice(ca_pem.as_bytes()).map_err(|e| e.to_string())?;
        roots.add(ca).map_err(|e| e.to_string())?;
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let key = B64.decode(ACCOUNT_KEY).map_err(|e| e.to_string())?;
        Ok(Blobs {
            port,
            key: Arc::new(key),
            connector: TlsConnector::from(Arc::new(config)),
        })
    }

    /// `https://127.0.0.1:PORT/devstoreaccount1`.
    pub fn endpoint(&self) -> String {
        format!("https://127.0.0.1:{}/{ACCOUNT}", self.port)
    }

    fn sign(&self, string_to_sign: &str) -> String {
        // HMAC accepts keys of any length.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(string_to_sign.as_bytes());
        B64.encode(mac.finalize().into_bytes())
    }

    /// Query string of a service SAS (version 2021-08-06) for one blob, valid for `ttl`.
    pub fn blob_sas(&self, container: &str, blob: &str, perms: &str, ttl: Duration) -> String {
        let now = time::OffsetDateTime::now_utc();
        let start = utc(now - time::Duration::minutes(5));
        let expiry = utc(now + ttl);
        let canonical = format!("/blob/{ACCOUNT}/{container}/{blob}");
        // sp, st, se, canonicalizedResource, si, sip, spr, sv, sr, snapshot time, ses,
        // rscc, rscd, rsce, rscl, rsct.
        let string_to_sign = [
            perms,
            &start,
            &expiry,
            &canonical,
            "",
            "",
            "https",
            SAS_VERSION,
            "b",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
        ]
        .join("\n");
        let sig = self.sign(&string_to_sign);
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("sv", SAS_VERSION)
            .append_pair("spr", "https")
            .append_pair("st", &start)
            .append_pair("se", &expiry)
            .append_pair("sr", "b")
            .append_pair("sp", perms)
            .append_pair("sig", &sig)
            .finish()
    }

    /// Full URL of a blob with a service SAS.
    pub fn blob_url(&self, container: &str, blob: &str, perms: &str, ttl: Duration) -> String {
        format!(
            "{}/{container}/{}?{}",
            self.endpoint(),
            encode_path(blob),
            self.blob_sas(container, blob, perms, ttl)
        )
    }

    /// Query string of an account SAS (blob service, container and object resource types).
    fn account_sas(&self) -> String {
        let now = time::OffsetDateTime::now_utc();
        let start = utc(now - time::Duration::minutes(5));
        let expiry = utc(now + time::Duration::minutes(10));
        let (perms, services, types) = ("rwdlacu", "b", "sco");
        let string_to_sign = [
            ACCOUNT,
            perms,
            services,
            types,
            &start,
            &expiry,
            "",
            "https",
            SAS_VERSION,
            "",
            "",
        ]
        .join("\n");
        let sig = self.sign(&string_to_sign);
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("sv", SAS_VERSION)
            .append_pair("ss", services)
            .append_pair("srt", types)
            .append_pair("sp", perms)
            .append_pair("st", &start)
            .append_pair("se", &expiry)
            .append_pair("spr", "https")
            .append_pair("sig", &sig)
            .finish()
    }

    /// Sends one request (fresh connection) to Azurite.
    pub async fn request(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<BlobResp, String> {
        let err = |e: &dyn std::fmt::Display| format!("azurite {method} {path_and_query}: {e}");
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .map_err(|e| err(&e))?;
        let name = ServerName::try_from("127.0.0.1").map_err(|e| err(&e))?;
        let tls = self
            .connector
            .connect(name, tcp)
            .await
            .map_err(|e| err(&e))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| err(&e))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut builder = hyper::Request::builder()
            .method(method)
            .uri(path_and_query)
            .header("host", format!("127.0.0.1:{}", self.port))
            .header("x-ms-version", SAS_VERSION)
            .header("content-length", body.len().to_string());
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let request = builder
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| err(&e))?;
        let response = sender.send_request(request).await.map_err(|e| err(&e))?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| err(&e))?
            .to_bytes()
            .to_vec();
        Ok(BlobResp {
            status: parts.status.as_u16(),
            body,
        })
    }

    fn path(&self, container: &str, blob: &str, extra_query: &str, perms: &str) -> String {
        let sas = self.blob_sas(container, blob, perms, Duration::from_secs(600));
        format!(
            "/{ACCOUNT}/{container}/{}?{extra_query}{}{sas}",
            encode_path(blob),
            if extra_query.is_empty() { "" } else { "&" }
        )
    }

    fn expect(resp: BlobResp, what: &str, ok: &[u16]) -> Result<BlobResp, String> {
        if ok.contains(&resp.status) {
            Ok(resp)
        } else {
            Err(format!(
                "azurite {what}: HTTP {}: {}",
                resp.status,
                String::from_utf8_lossy(&resp.body)
            ))
        }
    }

    /// Creates a container (no error when it exists).
    pub async fn create_container(&self, container: &str) -> Result<(), String> {
        let path = format!(
            "/{ACCOUNT}/{container}?restype=container&{}",
            self.account_sas()
        );
        let r = self.request("PUT", &path, &[], Vec::new()).await?;
        Self::expect(r, &format!("create container {container}"), &[201, 409]).map(|_| ())
    }

    /// Creates an empty append blob.
    pub async fn create_append_blob(&self, container: &str, blob: &str) -> Result<(), String> {
        let path = self.path(container, blob, "", "racwd");
        let r = self
            .request(
                "PUT",
                &path,
                &[("x-ms-blob-type", "AppendBlob")],
                Vec::new(),
            )
            .await?;
        Self::expect(r, &format!("create append blob {container}/{blob}"), &[201]).map(|_| ())
    }

    /// Appends a block to an append blob.
    pub async fn append_block(
        &self,
        container: &str,
        blob: &str,
        data: &[u8],
    ) -> Result<(), String> {
        let path = self.path(container, blob, "comp=appendblock", "racwd");
        let r = self.request("PUT", &path, &[], data.to_vec()).await?;
        Self::expect(r, &format!("append block to {container}/{blob}"), &[201]).map(|_| ())
    }

    /// Replaces a blob's metadata.
    pub async fn set_metadata(
        &self,
        container: &str,
        blob: &str,
        metadata: &[(&str, &str)],
    ) -> Result<(), String> {
        let path = self.path(container, blob, "comp=metadata", "racwd");
        let names: Vec<(String, &str)> = metadata
            .iter()
            .map(|(k, v)| (format!("x-ms-meta-{k}"), *v))
            .collect();
        let headers: Vec<(&str, &str)> = names.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let r = self.request("PUT", &path, &headers, Vec::new()).await?;
        Self::expect(r, &format!("set metadata of {container}/{blob}"), &[200]).map(|_| ())
    }

    /// A blob's content; `None` when the blob (or its container) does not exist.
    pub async fn get_blob(&self, container: &str, blob: &str) -> Result<Option<Vec<u8>>, String> {
        let path = self.path(container, blob, "", "r");
        let r = self.request("GET", &path, &[], Vec::new()).await?;
        if r.status == 404 {
            return Ok(None);
        }
        Self::expect(r, &format!("read {container}/{blob}"), &[200]).map(|r| Some(r.body))
    }
}

/// The running Azurite child process; killed on drop.
pub(crate) struct AzuriteProcess {
    child: std::process::Child,
    dir: tempfile::TempDir,
}

impl Drop for AzuriteProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl AzuriteProcess {
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("azurite.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

/// `node_modules/azurite/dist/src/blob/main.js` under the options' directory.
pub(crate) fn main_js(opts: &AzuriteOptions) -> PathBuf {
    opts.dir_of_node_modules
        .join("node_modules/azurite/dist/src/blob/main.js")
}

/// Starts Azurite's blob server with the fake's leaf certificate and waits until it answers.
pub(crate) fn start(
    opts: &AzuriteOptions,
    leaf_chain_pem: &str,
    leaf_key_pem: &str,
    ca_pem: &str,
    runtime: &tokio::runtime::Runtime,
) -> std::io::Result<(AzuriteProcess, Blobs)> {
    let main = main_js(opts);
    if !main.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!(
                "Azurite is not installed ({} is missing); install it with: npm install --prefix {} azurite@3.37.0 (scripts/azurite.sh does this for the default location)",
                main.display(),
                opts.dir_of_node_modules.display()
            ),
        ));
    }
    let dir = tempfile::Builder::new()
        .prefix("fake-cloud-azurite-")
        .tempdir()?;
    let cert = dir.path().join("leaf.pem");
    let key = dir.path().join("leaf-key.pem");
    std::fs::write(&cert, leaf_chain_pem)?;
    std::fs::write(&key, leaf_key_pem)?;
    let log = std::fs::File::create(dir.path().join("azurite.log"))?;
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port();
    let node = std::env::var_os("FAKE_CLOUD_NODE").unwrap_or_else(|| "node".into());
    let child = std::process::Command::new(&node)
        .arg(&main)
        .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
        .arg("--cert")
        .arg(&cert)
        .arg("--key")
        .arg(&key)
        .args([
            "--inMemoryPersistence",
            "--extentMemoryLimit",
            "256",
            "--skipApiVersionCheck",
            "--disableTelemetry",
            "--disableProductStyleUrl",
            "--silent",
        ])
        .current_dir(dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot run {} for Azurite: {e}", node.to_string_lossy()),
            )
        })?;
    let mut process = AzuriteProcess { child, dir };
    let blobs = Blobs::new(port, ca_pem).map_err(std::io::Error::other)?;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let probe = runtime.block_on(async {
            tokio::time::timeout(
                Duration::from_secs(2),
                blobs.request("GET", &format!("/{ACCOUNT}?comp=list"), &[], Vec::new()),
            )
            .await
        });
        if let Ok(Ok(_)) = probe {
            return Ok((process, blobs));
        }
        if let Ok(Some(status)) = process.child.try_wait() {
            return Err(std::io::Error::other(format!(
                "Azurite exited during start-up ({status}):\n{}",
                process.log_tail()
            )));
        }
        if std::time::Instant::now() > deadline {
            return Err(std::io::Error::other(format!(
                "Azurite did not answer on port {port} within 30 s:\n{}",
                process.log_tail()
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
