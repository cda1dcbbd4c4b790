//! The GitHub App private key: reading what users paste, refusing what is not an RSA private key,
//! the fingerprint GitHub shows, and the RS256 signatures of App JWTs.
//!
//! Key material lives in types that zero it when dropped: the decoded DER in a
//! [`secrecy::SecretBox`] while the key is read, then the RSA signing key (built once, when the
//! key is parsed). The normalised PEM is kept only by whoever stores it
//! ([`AppKey::parse_for_storage`]).

use base64::Engine as _;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
use rsa::signature::{RandomizedSigner as _, SignatureEncoding as _};
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret as _, SecretBox, SecretString};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::runtime::Runtime;
use crate::secret::Secret;

/// A parsed RSA private key: its signing key and its fingerprint.
pub struct AppKey {
    signer: Box<SigningKey<Sha256>>,
    fingerprint: String,
}

impl std::fmt::Debug for AppKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppKey")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

fn bad_key(reason: &str) -> Error {
    Error::PrivateKey(reason.to_string())
}

impl AppKey {
    /// Parses the `private-key` input. Accepts PKCS#1 and PKCS#8 RSA PEM, tolerating CRLF line ends,
    /// blanks around and inside the text, and literal `\n` escapes. Error messages never contain key
    /// material. The PEM is not kept: use [`AppKey::parse_for_storage`] to store the key.
    pub fn parse(raw: &str) -> Result<AppKey> {
        Self::read(raw).map(|(key, _pem)| key)
    }

    /// Parses like [`AppKey::parse`] and also returns the key as normalised PEM (LF line ends,
    /// 64-column body, trailing newline), the form that is stored; it is masked with `mask` at
    /// once.
    pub fn parse_for_storage(raw: &str, mask: &Runtime) -> Result<(AppKey, Secret)> {
        let (key, pem) = Self::read(raw)?;
        Ok((key, Secret::masked(pem.expose_secret(), mask)))
    }

    fn read(raw: &str) -> Result<(AppKey, SecretString)> {
        let text = Zeroizing::new(raw.trim().replace("\\r\\n", "\n").replace("\\n", "\n"));
        if text.is_empty() {
            return Err(bad_key("it is empty"));
        }
        let Some(begin) = text.find("-----BEGIN ") else {
            return Err(bad_key(
                "it is not a PEM private key (no `-----BEGIN ... PRIVATE KEY-----` line); paste the whole .pem file GitHub downloaded",
            ));
        };
        let after_begin = &text[begin + "-----BEGIN ".len()..];
        let Some(label_end) = after_begin.find("-----") else {
            return Err(bad_key("its BEGIN line is damaged"));
        };
        let label = after_begin[..label_end].trim().to_string();
        let body_and_rest = &after_begin[label_end + 5..];
        match label.as_str() {
            "RSA PRIVATE KEY" | "PRIVATE KEY" => {}
            "ENCRYPTED PRIVATE KEY" => {
                return Err(bad_key(
                    "it is encrypted with a passphrase; use the unencrypted key GitHub downloaded",
                ));
            }
            "EC PRIVATE KEY" | "OPENSSH PRIVATE KEY" | "DSA PRIVATE KEY" => {
                return Err(bad_key(&format!(
                    "it is not an RSA key ({label}); GitHub App keys are RSA: download a new key from the App's settings"
                )));
            }
            l if l.contains("PUBLIC KEY") => {
                return Err(bad_key(
                    "it is a public key; the input needs the App's private key",
                ));
            }
            "CERTIFICATE" => return Err(bad_key("it is a certificate, not a private key")),
            _ => return Err(bad_key("its PEM label is not a private key")),
        }
        if body_and_rest.contains("Proc-Type: 4,ENCRYPTED") {
            return Err(bad_key(
                "it is encrypted with a passphrase; use the unencrypted key GitHub downloaded",
            ));
        }
        let end_marker = format!("-----END {label}-----");
        let Some(end) = body_and_rest.find(&end_marker) else {
            return Err(bad_key(
                "it is truncated (no END line); paste the whole key, including its last line",
            ));
        };
        let body: Zeroizing<String> = Zeroizing::new(
            body_and_rest[..end]
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect(),
        );
        let der: SecretBox<Vec<u8>> = SecretBox::new(Box::new(
            base64::engine::general_purpose::STANDARD
                .decode(body.as_bytes())
                .map_err(|_| bad_key("its base64 body is damaged or truncated"))?,
        ));
        let der = der.expose_secret().as_slice();

        if label == "PRIVATE KEY" {
            // Tell a PKCS#8 key of another algorithm from a damaged one by its algorithm OID.
            const RSA_ENCRYPTION: rsa::pkcs8::ObjectIdentifier =
                rsa::pkcs8::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
            match rsa::pkcs8::PrivateKeyInfo::try_from(der) {
                Ok(info) if info.algorithm.oid != RSA_ENCRYPTION => {
                    return Err(bad_key(
                        "it is not an RSA key; GitHub App keys are RSA: download a new key from the App's settings",
                    ));
                }
                Ok(_) => {}
                Err(_) => {
                    return Err(bad_key(
                        "it is truncated or damaged (the PKCS#8 key does not decode)",
                    ));
                }
            }
        }
        let key = if label == "RSA PRIVATE KEY" {
            rsa::RsaPrivateKey::from_pkcs1_der(der)
                .map_err(|_| bad_key("it is truncated or damaged (the RSA key does not decode)"))?
        } else {
            match rsa::RsaPrivateKey::from_pkcs8_der(der) {
                Ok(k) => k,
                Err(rsa::pkcs8::Error::PublicKey(_))
                | Err(rsa::pkcs8::Error::KeyMalformed)
                | Err(rsa::pkcs8::Error::Asn1(_)) => {
                    return Err(bad_key(
                        "it is truncated or damaged (the PKCS#8 key does not decode)",
                    ));
                }
                Err(_) => {
                    return Err(bad_key(
                        "it is not an RSA key; GitHub App keys are RSA: download a new key from the App's settings",
                    ));
                }
            }
        };
        // A PKCS#8 key of another algorithm fails above with an algorithm error; make sure the
        // algorithm really was RSA for keys that parsed.
        let spki = key
            .to_public_key()
            .to_public_key_der()
            .map_err(|_| bad_key("its public part cannot be encoded"))?;
        let fingerprint = format!(
            "SHA256:{}",
            base64::engine::general_purpose::STANDARD.encode(Sha256::digest(spki.as_bytes()))
        );
        let key = AppKey {
            signer: Box::new(SigningKey::new(key)),
            fingerprint,
        };
        Ok((key, SecretString::from(wrap_pem(&label, &body))))
    }

    /// `SHA256:` + base64 of SHA-256 over the public key's DER SubjectPublicKeyInfo, as GitHub's
    /// App settings page shows it.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The RS256 signature of `message` (RSASSA-PKCS1-v1_5 with SHA-256), as App JWTs carry it.
    /// The signature is deterministic; the random numbers only blind the private-key operation
    /// against timing attacks.
    pub fn sign_rs256(&self, message: &[u8]) -> Result<Vec<u8>> {
        self.signer
            .try_sign_with_rng(&mut rand::thread_rng(), message)
            .map(|signature| signature.to_vec())
            .map_err(|_| bad_key("it cannot sign a JWT"))
    }
}

/// Computes the fingerprint of a stored PEM value, `None` when it is not a readable RSA key.
pub fn fingerprint_of(pem: &str) -> Option<String> {
    AppKey::parse(pem).ok().map(|k| k.fingerprint)
}

fn wrap_pem(label: &str, body: &str) -> String {
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PKCS1: &str = include_str!("../tests/fixtures/keys/app1.pkcs1.pem");
    const PKCS8: &str = include_str!("../tests/fixtures/keys/app1.pkcs8.pem");

    #[test]
    fn pkcs1_and_pkcs8_share_a_fingerprint() {
        let a = AppKey::parse(PKCS1).unwrap();
        let b = AppKey::parse(PKCS8).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert!(a.fingerprint().starts_with("SHA256:"));
    }

    #[test]
    fn both_encodings_sign_alike_and_deterministically() {
        let a = AppKey::parse(PKCS1).unwrap();
        let b = AppKey::parse(PKCS8).unwrap();
        let one = a.sign_rs256(b"header.claims").unwrap();
        assert_eq!(one.len(), 256);
        assert_eq!(one, a.sign_rs256(b"header.claims").unwrap());
        assert_eq!(one, b.sign_rs256(b"header.claims").unwrap());
    }

    #[test]
    fn tolerates_paste_accidents() {
        let crlf = PKCS1.replace('\n', "\r\n");
        let escaped = PKCS1.trim().replace('\n', "\\n");
        let padded = format!("\n\n   {PKCS1}   \n");
        let rt = Runtime::default();
        let (base, base_pem) = AppKey::parse_for_storage(PKCS1, &rt).unwrap();
        for variant in [crlf, escaped, padded] {
            let (k, pem) = AppKey::parse_for_storage(&variant, &rt).unwrap();
            assert_eq!(k.fingerprint(), base.fingerprint());
            assert_eq!(pem.expose(), base_pem.expose());
        }
    }

    #[test]
    fn names_a_non_rsa_pkcs8_key_as_such() {
        let ed = include_str!("../tests/fixtures/keys/ed25519.pkcs8.pem");
        let err = AppKey::parse(ed).unwrap_err().to_string();
        assert!(err.contains("not an RSA key"), "{err}");
        let ec = include_str!("../tests/fixtures/keys/ec.pem");
        assert!(
            AppKey::parse(ec)
                .unwrap_err()
                .to_string()
                .contains("not an RSA key")
        );
    }

    #[test]
    fn refuses_truncated_key_without_echoing_it() {
        let cut = &PKCS1[..PKCS1.len() / 2];
        let err = AppKey::parse(cut).unwrap_err().to_string();
        assert!(err.contains("private-key"), "{err}");
        assert!(!err.contains(&PKCS1.lines().nth(1).unwrap()[..20]));
    }
}
