//! Certificate authority and server certificate generation.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{
    self,
    pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer},
};

/// The generated CA and a ready TLS acceptor for the leaf certificate.
pub(crate) struct Tls {
    pub ca_pem: String,
    /// Leaf certificate (PEM), followed by the CA certificate.
    pub leaf_chain_pem: String,
    /// Leaf private key (PKCS#8 PEM).
    pub leaf_key_pem: String,
    pub acceptor: TlsAcceptor,
}

/// Generates a CA and a leaf certificate for 127.0.0.1, ::1, localhost and `extra` names.
pub(crate) fn generate(extra: &[String]) -> Result<Tls, String> {
    let err = |e: rcgen::Error| format!("certificate generation failed: {e}");
    let now = time::OffsetDateTime::now_utc();

    let ca_key = KeyPair::generate().map_err(err)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "aca-runner-action fake cloud CA");
    ca_params.distinguished_name = dn;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params.not_before = now - time::Duration::days(1);
    ca_params.not_after = now + time::Duration::days(365);
    let ca_cert = ca_params.self_signed(&ca_key).map_err(err)?;

    let mut names: Vec<String> = vec!["127.0.0.1".into(), "::1".into(), "localhost".into()];
    names.extend(extra.iter().cloned());
    let leaf_key = KeyPair::generate().map_err(err)?;
    let mut leaf_params = CertificateParams::new(names).map_err(err)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "fake-cloud");
    leaf_params.distinguished_name = dn;
    leaf_params.is_ca = IsCa::ExplicitNoCa;
    leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf_params.not_before = now - time::Duration::days(1);
    leaf_params.not_after = now + time::Duration::days(30);
    let leaf_cert = leaf_params
        .signed_by(&leaf_key, &ca_cert, &ca_key)
        .map_err(err)?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf_cert.der().clone(), ca_cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Tls {
        ca_pem: ca_cert.pem(),
        leaf_chain_pem: format!("{}{}", leaf_cert.pem(), ca_cert.pem()),
        leaf_key_pem: leaf_key.serialize_pem(),
        acceptor: TlsAcceptor::from(Arc::new(config)),
    })
}
