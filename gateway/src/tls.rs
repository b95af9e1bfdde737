//! TLS for the client-facing WebSocket: a certificate generated at start
//! (rcgen), and the simulator's client configuration.
//!
//! Lab nodes get a fresh self-signed certificate every start, so the
//! simulator cannot pin one in advance. It uses [`LabOnlyVerifier`]: the
//! handshake signature is still verified against the presented
//! certificate (the TLS work is real), but the certificate's identity is
//! not checked. Use it ONLY against lab nodes.

use anyhow::{Context, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::sync::Arc;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server configuration with a fresh self-signed certificate for `names`.
pub fn server_config(names: &[String]) -> Result<Arc<rustls::ServerConfig>> {
    let cert = rcgen::generate_simple_self_signed(names.to_vec())
        .context("generating the node's certificate")?;
    let der = CertificateDer::from(cert.cert.der().to_vec());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![der], key)
        .context("building the TLS server configuration")?;
    Ok(Arc::new(config))
}

/// The simulator's client configuration (see [`LabOnlyVerifier`]).
pub fn lab_client_config() -> Arc<rustls::ClientConfig> {
    let verifier = Arc::new(LabOnlyVerifier(provider()));
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions")
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Arc::new(config)
}

/// Accepts any server certificate but verifies the handshake signature
/// with it. Lab nodes only: it does not authenticate the server.
#[derive(Debug)]
pub struct LabOnlyVerifier(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for LabOnlyVerifier {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
