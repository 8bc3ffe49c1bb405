//! TLS to PostgreSQL with rustls, as libpq's `sslmode` says it: `disable` (plain), `prefer`
//! (the default: TLS when the server offers it, else plain), `require` (TLS or nothing),
//! `verify-ca` (TLS, the server's certificate chained to a trusted root) and `verify-full`
//! (also issued for the host connected to). `sslrootcert=FILE` names the trusted roots (PEM);
//! without it `verify-ca`/`verify-full` trust the system's bundle, and `prefer`/`require`
//! encrypt without checking who answers — with it, they check the chain as `verify-ca` does
//! (libpq does so when its root file exists). The handshake's signatures are always checked.
//! Channel binding (SCRAM-…-PLUS) is not offered.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};
use tokio_rustls::rustls;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{DigitallySignedStruct, SignatureScheme};

/// The system's CA bundle (Debian's `ca-certificates`).
pub const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    pub fn parse(s: &str) -> Option<SslMode> {
        Some(match s {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }
}

/// Why a database URL's TLS settings were refused.
#[derive(Debug, thiserror::Error)]
pub enum PgTlsError {
    #[error("sslmode={0:?}: use disable, prefer, require, verify-ca or verify-full")]
    BadMode(String),
    #[error("sslrootcert {path}: {reason}")]
    Roots { path: String, reason: String },
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// A database URL with its TLS parameters taken out (tokio-postgres knows only some of them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsUrl {
    /// The URL as tokio-postgres takes it: `sslmode` mapped to disable/prefer/require.
    pub url: String,
    pub mode: SslMode,
    pub root_cert: Option<PathBuf>,
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits `sslmode` and `sslrootcert` off a `postgres://` URL.
pub fn split_url(url: &str) -> Result<TlsUrl, PgTlsError> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, q),
        None => (url, ""),
    };
    let (mut mode, mut root_cert, mut rest) = (SslMode::Prefer, None, Vec::new());
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "sslmode" => {
                let v = percent_decode(v);
                mode = SslMode::parse(&v).ok_or(PgTlsError::BadMode(v))?;
            }
            "sslrootcert" => root_cert = Some(PathBuf::from(percent_decode(v))),
            _ => rest.push(pair),
        }
    }
    let pg_mode = match mode {
        SslMode::Disable => "disable",
        SslMode::Prefer => "prefer",
        _ => "require",
    };
    rest.push(match pg_mode {
        "disable" => "sslmode=disable",
        "prefer" => "sslmode=prefer",
        _ => "sslmode=require",
    });
    Ok(TlsUrl {
        url: format!("{base}?{}", rest.join("&")),
        mode,
        root_cert,
    })
}

fn load_roots(path: &Path) -> Result<rustls::RootCertStore, PgTlsError> {
    let err = |reason: String| PgTlsError::Roots {
        path: path.display().to_string(),
        reason,
    };
    let mut roots = rustls::RootCertStore::empty();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| err(e.to_string()))?;
    let (added, _ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(err("no usable certificate in the file".into()));
    }
    Ok(roots)
}

/// Accepts any certificate (no chain, no name) but checks the handshake's signatures:
/// `prefer`/`require` without `sslrootcert` — encrypted against a passive listener only.
#[derive(Debug)]
struct EncryptOnly(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
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

/// The chain checked, the name not: `verify-ca`.
#[derive(Debug)]
struct ChainOnly(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        use rustls::{CertificateError, Error};
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The rustls client configuration for `mode` and `root_cert`.
pub fn client_config(
    mode: SslMode,
    root_cert: Option<&Path>,
) -> Result<Arc<rustls::ClientConfig>, PgTlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let roots = match (mode, root_cert) {
        (_, Some(p)) => Some(load_roots(p)?),
        (SslMode::VerifyCa | SslMode::VerifyFull, None) => {
            Some(load_roots(Path::new(SYSTEM_ROOTS))?)
        }
        _ => None,
    };
    let config = match roots {
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
            .with_no_client_auth(),
        Some(roots) => {
            let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| PgTlsError::Config(rustls::Error::General(e.to_string())))?;
            if mode == SslMode::VerifyFull {
                builder.with_webpki_verifier(webpki).with_no_client_auth()
            } else {
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(ChainOnly(webpki)))
                    .with_no_client_auth()
            }
        }
    };
    Ok(Arc::new(config))
}

/// The connector the pool uses.
#[derive(Clone)]
pub struct MakeRustls {
    config: Arc<rustls::ClientConfig>,
}

impl MakeRustls {
    pub fn new(config: Arc<rustls::ClientConfig>) -> MakeRustls {
        MakeRustls { config }
    }
}

/// One connection's handshake.
pub struct RustlsConnect {
    name: Result<ServerName<'static>, String>,
    connector: tokio_rustls::TlsConnector,
}

/// A TLS stream to the server.
pub struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S> MakeTlsConnect<S> for MakeRustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = std::io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> Result<RustlsConnect, std::io::Error> {
        Ok(RustlsConnect {
            name: ServerName::try_from(domain.to_string())
                .map_err(|e| format!("{domain:?} is not a host name: {e}")),
            connector: tokio_rustls::TlsConnector::from(self.config.clone()),
        })
    }
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let name = self.name.map_err(std::io::Error::other)?;
            let s = self.connector.connect(name, stream).await?;
            Ok(RustlsStream(s))
        })
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> tokio_postgres::tls::TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

/// The tokio-postgres configuration and connector for a `postgres://` URL with libpq's TLS
/// parameters.
pub fn connector(url: &str) -> Result<(tokio_postgres::Config, MakeRustls), crate::db::StoreError> {
    let t = split_url(url).map_err(|e| crate::db::StoreError::Other(e.to_string()))?;
    let config: tokio_postgres::Config = t.url.parse()?;
    let tls = client_config(t.mode, t.root_cert.as_deref())
        .map_err(|e| crate::db::StoreError::Other(e.to_string()))?;
    Ok((config, MakeRustls::new(tls)))
}

/// One connection outside the pool (tools and tests), with the URL's TLS settings.
pub async fn connect(url: &str) -> Result<tokio_postgres::Client, crate::db::StoreError> {
    let (config, tls) = connector(url)?;
    let (client, conn) = config.connect(tls).await?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "postgres connection ended");
        }
    });
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_parameters_are_taken_out_of_the_url() {
        let t = split_url("postgres://u@h:5/db?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=x").unwrap();
        assert_eq!(t.mode, SslMode::VerifyFull);
        assert_eq!(t.root_cert.as_deref(), Some(Path::new("/etc/ca.pem")));
        assert_eq!(
            t.url,
            "postgres://u@h:5/db?application_name=x&sslmode=require"
        );
        let t = split_url("postgres://u@h/db").unwrap();
        assert_eq!(
            (t.mode, t.url.as_str()),
            (SslMode::Prefer, "postgres://u@h/db?sslmode=prefer")
        );
        assert_eq!(
            split_url("postgres://h/db?sslmode=disable").unwrap().mode,
            SslMode::Disable
        );
        assert!(matches!(
            split_url("postgres://h/db?sslmode=allow"),
            Err(PgTlsError::BadMode(m)) if m == "allow"
        ));
    }

    #[test]
    fn a_root_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ca.pem");
        std::fs::write(&p, "not a certificate").unwrap();
        let e = client_config(SslMode::VerifyFull, Some(&p))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("ca.pem") && e.contains("no usable certificate"),
            "{e}"
        );
        let e = client_config(SslMode::VerifyCa, Some(&dir.path().join("missing.pem")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.pem"), "{e}");
    }
}
