//! TLS for the client-facing WebSocket: a certificate generated at start
//! (rcgen), and the simulator's client configuration.
//!
//! Session resumption works as on a real service: a node issues one
//! stateless TLS 1.3 ticket per handshake (its own rotating key, so a
//! ticket resumes only on the node that issued it), and each simulated
//! device keeps its own tickets, as a phone's TLS stack does. Devices must
//! not share a cache: one shared cache would let client A resume with the
//! ticket handed to client B, a saving no real storm gets.
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

/// A server configuration with a fresh self-signed certificate for `names`,
/// issuing one resumption ticket per full handshake.
pub fn server_config(names: &[String]) -> Result<Arc<rustls::ServerConfig>> {
    let cert = rcgen::generate_simple_self_signed(names.to_vec())
        .context("generating the node's certificate")?;
    let der = CertificateDer::from(cert.cert.der().to_vec());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![der], key)
        .context("building the TLS server configuration")?;
    // Stateless tickets: no per-session state on the node, and one ticket
    // is all a device needs for its next reconnect (rustls sends two by
    // default, a record and an encryption more per handshake).
    config.ticketer = rustls::crypto::ring::Ticketer::new()?;
    config.send_tls13_tickets = 1;
    Ok(Arc::new(config))
}

/// The simulator's client configuration (see [`LabOnlyVerifier`]), without
/// session resumption; [`with_own_sessions`] gives a device its own.
pub fn lab_client_config() -> Arc<rustls::ClientConfig> {
    let verifier = Arc::new(LabOnlyVerifier(provider()));
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions")
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

/// `base` for one device: its own session cache, which keeps its tickets
/// for a few servers (a client that moves between nodes keeps each one's).
pub fn with_own_sessions(base: &rustls::ClientConfig) -> Arc<rustls::ClientConfig> {
    let mut config = base.clone();
    config.resumption = rustls::client::Resumption::store(Arc::new(
        rustls::client::ClientSessionMemoryCache::new(4),
    ));
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
