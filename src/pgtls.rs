//! PostgreSQL URLs (the sink's and the state store's): checked once, and
//! TLS with rustls, chosen with libpq's URL parameters:
//!
//! - `sslmode=disable`: plain TCP.
//! - `sslmode=prefer` (the default, as in libpq): TLS if the server offers
//!   it, else plain; the certificate is not checked.
//! - `sslmode=require`: TLS or no connection; the certificate is not
//!   checked, so this stops eavesdropping, not an impostor. As in libpq, with
//!   `sslrootcert` given it checks the chain, like `verify-ca`.
//! - `sslmode=verify-ca`: TLS, and the server's chain must lead to a trusted
//!   root; its name is not checked.
//! - `sslmode=verify-full`: that, and the certificate must name the host
//!   connected to (a DNS name, or an IP address for an IP host).
//!
//! Trusted roots are the system's (`rustls-native-certs`: the OS store,
//! `SSL_CERT_FILE` and `SSL_CERT_DIR`), or the PEM file `sslrootcert=PATH`
//! for a private CA (a path relative to the config's folder;
//! `sslrootcert=system` names the system's roots, as libpq 16 does).
//!
//! tokio-postgres knows neither `verify-ca`, `verify-full` nor
//! `sslrootcert`, so both parameters are taken out of the URL here before
//! it sees the rest.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientConfig, WebPkiServerVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's `sslmode`, all five that matter to a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    Disable,
    #[default]
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    const NAMES: [(&'static str, SslMode); 5] = [
        ("disable", SslMode::Disable),
        ("prefer", SslMode::Prefer),
        ("require", SslMode::Require),
        ("verify-ca", SslMode::VerifyCa),
        ("verify-full", SslMode::VerifyFull),
    ];

    fn parse(value: &str) -> Result<SslMode, String> {
        Self::NAMES
            .iter()
            .find(|(name, _)| *name == value)
            .map(|(_, mode)| *mode)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::NAMES.iter().map(|(name, _)| *name).collect();
                format!(
                    "sslmode={value:?} is not one of {} (allow and the like are not \
                     supported: a client either requires TLS or not)",
                    names.join(", ")
                )
            })
    }

    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, mode)| *mode == self)
            .map_or("prefer", |(name, _)| name)
    }

    /// What tokio-postgres is told: whether TLS is tried, and required.
    pub fn negotiation(self) -> tokio_postgres::config::SslMode {
        match self {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                tokio_postgres::config::SslMode::Require
            }
        }
    }
}

/// Problems with a PostgreSQL URL (a sink's or the state store's), one
/// message each, the password left out; empty when it can be used.
pub fn validate_url(url: &str) -> Vec<String> {
    let mut problems = Vec::new();
    match url::Url::parse(url) {
        Err(e) => problems.push(format!(
            "{:?} is not a URL ({e}); expected postgres://user@host:port/database",
            crate::redact::url(url)
        )),
        Ok(u) if !matches!(u.scheme(), "postgres" | "postgresql") => problems.push(format!(
            "URL scheme {:?} is not postgres:// or postgresql://",
            u.scheme()
        )),
        Ok(_) => match split(url) {
            Err(e) => problems.push(e),
            Ok(split) => match split.url.parse::<tokio_postgres::Config>() {
                Err(e) => problems.push(format!("not a usable PostgreSQL URL: {}", chain(&e))),
                Ok(c) if c.get_hosts().is_empty() => {
                    problems.push("the URL names no host".to_string());
                }
                Ok(_) => {}
            },
        },
    }
    problems
}

/// An error and its causes on one line.
fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut cause = err.source();
    while let Some(e) = cause {
        out.push_str(": ");
        out.push_str(&e.to_string());
        cause = e.source();
    }
    out
}

/// Where trusted roots come from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Roots {
    #[default]
    System,
    /// A PEM file of CA certificates.
    File(PathBuf),
}

/// The TLS settings of one PostgreSQL URL.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tls {
    pub mode: SslMode,
    pub roots: Roots,
}

/// A URL without its `sslmode` and `sslrootcert` parameters, and their
/// values (raw: a relative `sslrootcert` is resolved by [`Tls::resolve`]).
pub struct Split {
    pub url: String,
    pub mode: SslMode,
    pub rootcert: Option<String>,
}

/// Takes `sslmode` and `sslrootcert` out of a `postgres://` URL.
pub fn split(url: &str) -> Result<Split, String> {
    let (head, query, fragment) = match url.split_once('?') {
        None => (url, "", ""),
        Some((head, rest)) => match rest.split_once('#') {
            Some((query, fragment)) => (head, query, fragment),
            None => (head, rest, ""),
        },
    };
    let mut mode = SslMode::default();
    let mut rootcert = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = || -> String {
            url::form_urlencoded::parse(format!("v={value}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        match key {
            "sslmode" => mode = SslMode::parse(&value())?,
            "sslrootcert" => rootcert = Some(value()),
            _ => kept.push(pair),
        }
    }
    let mut out = head.to_string();
    if !kept.is_empty() {
        out.push('?');
        out.push_str(&kept.join("&"));
    }
    if !fragment.is_empty() {
        out.push('#');
        out.push_str(fragment);
    }
    Ok(Split {
        url: out,
        mode,
        rootcert,
    })
}

impl Tls {
    /// The settings of `split`, with a relative `sslrootcert` taken
    /// relative to `base` (the config's folder).
    pub fn resolve(split: &Split, base: &Path) -> Tls {
        let roots = match split.rootcert.as_deref() {
            None | Some("system") => Roots::System,
            Some(path) => Roots::File(base.join(path)),
        };
        // libpq: "if a root CA file exists, the behavior of sslmode=require
        // will be the same as that of verify-ca".
        let mode = match (split.mode, &roots) {
            (SslMode::Require, Roots::File(_)) => SslMode::VerifyCa,
            (mode, _) => mode,
        };
        Tls { mode, roots }
    }

    /// The roots, as messages name them.
    pub fn roots_name(&self) -> String {
        match &self.roots {
            Roots::System => "the system's root certificates".to_string(),
            Roots::File(path) => path.display().to_string(),
        }
    }

    /// A connector for these settings; reads the roots now, so that a
    /// missing or empty CA file fails at start, not at each connect.
    pub fn connector(&self) -> Result<MakeRustlsConnect, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("setting up TLS: {e}"))?;
        let config = match self.mode {
            SslMode::Disable | SslMode::Prefer | SslMode::Require => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Unverified(
                    provider.signature_verification_algorithms,
                ))),
            SslMode::VerifyCa => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ChainOnly(self.webpki(provider)?))),
            SslMode::VerifyFull => builder.with_webpki_verifier(self.webpki(provider)?),
        };
        Ok(MakeRustlsConnect::new(config.with_no_client_auth()))
    }

    fn webpki(&self, provider: Arc<CryptoProvider>) -> Result<Arc<WebPkiServerVerifier>, String> {
        WebPkiServerVerifier::builder_with_provider(Arc::new(self.root_store()?), provider)
            .build()
            .map_err(|e| format!("setting up certificate verification: {e}"))
    }

    fn root_store(&self) -> Result<RootCertStore, String> {
        let mut store = RootCertStore::empty();
        match &self.roots {
            Roots::File(path) => {
                let certs = read_certificates(path)?;
                let (added, _) = store.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(format!(
                        "sslrootcert {}: no usable CA certificate in it",
                        path.display()
                    ));
                }
            }
            Roots::System => {
                let found = rustls_native_certs::load_native_certs();
                store.add_parsable_certificates(found.certs);
                if store.is_empty() {
                    let why: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
                    return Err(format!(
                        "no system root certificates found{} (install the ca-certificates \
                         package, or name the server's CA with sslrootcert=PATH)",
                        if why.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", why.join("; "))
                        }
                    ));
                }
            }
        }
        Ok(store)
    }
}

/// The certificates of a PEM file; reported when unreadable or without any.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path)
        .map_err(|e| format!("sslrootcert: cannot read {}: {e}", path.display()))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "sslrootcert {}: no PEM certificate (-----BEGIN CERTIFICATE-----) in it",
            path.display()
        ));
    }
    Ok(certs)
}

/// `prefer` and `require`: any certificate, as libpq does. The handshake's
/// signatures are still checked, so the session is bound to the key of the
/// certificate shown (what channel binding then relies on).
#[derive(Debug)]
struct Unverified(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
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
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// `verify-ca`: the full check but for the name. webpki checks the chain
/// before the name, so a name error means the chain was good.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
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

/// The TLS failure behind a connection error, if that is what it was: a
/// certificate that failed the check, a server without TLS when TLS is
/// required. Trying again does not change either.
pub fn refusal(err: &tokio_postgres::Error) -> Option<String> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cause {
        // An io::Error's source() skips the error it wraps: look inside.
        let inner = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|inner| inner as &(dyn std::error::Error + 'static));
        for candidate in [Some(e), inner].into_iter().flatten() {
            if let Some(tls) = candidate.downcast_ref::<rustls::Error>() {
                return Some(tls.to_string());
            }
            if candidate.to_string() == "server does not support TLS" {
                return Some(candidate.to_string());
            }
        }
        cause = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tls_parameters_are_taken_out_of_the_url() {
        let s = split(
            "postgres://u@h:5432/db?application_name=x&sslmode=verify-full&sslrootcert=ca%20dir/ca.pem&connect_timeout=3",
        )
        .unwrap();
        assert_eq!(
            s.url,
            "postgres://u@h:5432/db?application_name=x&connect_timeout=3"
        );
        assert_eq!(s.mode, SslMode::VerifyFull);
        assert_eq!(s.rootcert.as_deref(), Some("ca dir/ca.pem"));

        let s = split("postgres://u@h/db?sslmode=disable").unwrap();
        assert_eq!(s.url, "postgres://u@h/db");
        assert_eq!(s.mode, SslMode::Disable);

        let s = split("postgres://u@h/db").unwrap();
        assert_eq!(
            (s.url.as_str(), s.mode),
            ("postgres://u@h/db", SslMode::Prefer)
        );

        let e = split("postgres://h/db?sslmode=verify_full").err().unwrap();
        assert!(e.contains("verify-ca, verify-full"), "{e}");
    }

    #[test]
    fn require_with_a_root_file_checks_the_chain_as_libpq_does() {
        let tls = |url: &str| Tls::resolve(&split(url).unwrap(), Path::new("/etc/tidings"));
        assert_eq!(
            tls("postgres://h/d?sslmode=require&sslrootcert=ca.pem"),
            Tls {
                mode: SslMode::VerifyCa,
                roots: Roots::File(PathBuf::from("/etc/tidings/ca.pem"))
            }
        );
        assert_eq!(tls("postgres://h/d?sslmode=require").mode, SslMode::Require);
        assert_eq!(
            tls("postgres://h/d?sslmode=verify-full&sslrootcert=system").roots,
            Roots::System
        );
    }

    /// A CA (PEM), a certificate it issued for `name`, and one from another CA.
    fn certificates(name: &str) -> (String, CertificateDer<'static>, CertificateDer<'static>) {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let ca = |cn: &str| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, cn);
            let cert = params.self_signed(&key).unwrap();
            (cert, Issuer::new(params, key))
        };
        let (ca_cert, issuer) = ca("test CA");
        let (_, stranger) = ca("another CA");
        let leaf = |issuer: &Issuer<'_, KeyPair>| {
            CertificateParams::new(vec![name.to_string()])
                .unwrap()
                .signed_by(&KeyPair::generate().unwrap(), issuer)
                .unwrap()
        };
        (
            ca_cert.pem(),
            leaf(&issuer).der().clone(),
            leaf(&stranger).der().clone(),
        )
    }

    #[test]
    fn verify_ca_skips_the_name_and_verify_full_does_not() {
        let (ca, cert, foreign) = certificates("db.example");
        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = |mode| Tls {
            mode,
            roots: Roots::File(ca_file.clone()),
        };
        let full = tls(SslMode::VerifyFull).webpki(provider.clone()).unwrap();
        let chain = ChainOnly(tls(SslMode::VerifyCa).webpki(provider).unwrap());
        let verify = |v: &dyn ServerCertVerifier, cert: &CertificateDer<'_>, name: &str| {
            v.verify_server_cert(
                cert,
                &[],
                &ServerName::try_from(name.to_string()).unwrap(),
                &[],
                UnixTime::now(),
            )
            .map(|_| ())
        };
        assert!(verify(full.as_ref(), &cert, "db.example").is_ok());
        assert!(verify(&chain, &cert, "db.example").is_ok());
        assert!(matches!(
            verify(full.as_ref(), &cert, "other.example"),
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            ))
        ));
        assert!(verify(&chain, &cert, "other.example").is_ok());
        for v in [full.as_ref() as &dyn ServerCertVerifier, &chain] {
            assert!(matches!(
                verify(v, &foreign, "db.example"),
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::UnknownIssuer
                ))
            ));
        }
    }
}
