//! The GitHub App private key: reading what users paste, refusing what is not an RSA private key,
//! and the fingerprint GitHub shows.

use base64::Engine as _;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::secret::Secret;

/// A parsed RSA private key with its normalised PEM and fingerprint.
pub struct AppKey {
    pem: Secret,
    pkcs1_der: Secret,
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
    /// material.
    pub fn parse(raw: &str) -> Result<AppKey> {
        let text = raw.trim().replace("\\r\\n", "\n").replace("\\n", "\n");
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
        let body: String = body_and_rest[..end]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .map_err(|_| bad_key("its base64 body is damaged or truncated"))?;

        if label == "PRIVATE KEY" {
            // Tell a PKCS#8 key of another algorithm from a damaged one by its algorithm OID.
            const RSA_ENCRYPTION: rsa::pkcs8::ObjectIdentifier =
                rsa::pkcs8::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
            match rsa::pkcs8::PrivateKeyInfo::try_from(der.as_slice()) {
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
            rsa::RsaPrivateKey::from_pkcs1_der(&der)
                .map_err(|_| bad_key("it is truncated or damaged (the RSA key does not decode)"))?
        } else {
            match rsa::RsaPrivateKey::from_pkcs8_der(&der) {
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
        let pkcs1 = key
            .to_pkcs1_der()
            .map_err(|_| bad_key("it cannot be re-encoded"))?;
        let pem = wrap_pem(&label, &body);
        let pkcs1_der = base64::engine::general_purpose::STANDARD.encode(pkcs1.as_bytes());
        Ok(AppKey {
            pem: Secret::masked(pem),
            pkcs1_der: Secret::new(pkcs1_der),
            fingerprint,
        })
    }

    /// The key as normalised PEM (LF line ends, 64-column body, trailing newline).
    pub fn pem(&self) -> &Secret {
        &self.pem
    }

    /// `SHA256:` + base64 of SHA-256 over the public key's DER SubjectPublicKeyInfo, as GitHub's
    /// App settings page shows it.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The signing key for App JWTs.
    pub fn encoding_key(&self) -> Result<jsonwebtoken::EncodingKey> {
        let der = base64::engine::general_purpose::STANDARD
            .decode(self.pkcs1_der.expose())
            .map_err(|_| bad_key("it cannot be re-encoded"))?;
        Ok(jsonwebtoken::EncodingKey::from_rsa_der(&der))
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
    fn tolerates_paste_accidents() {
        let crlf = PKCS1.replace('\n', "\r\n");
        let escaped = PKCS1.trim().replace('\n', "\\n");
        let padded = format!("\n\n   {PKCS1}   \n");
        let base = AppKey::parse(PKCS1).unwrap();
        for variant in [crlf, escaped, padded] {
            let k = AppKey::parse(&variant).unwrap();
            assert_eq!(k.fingerprint(), base.fingerprint());
            assert_eq!(k.pem().expose(), base.pem().expose());
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
