//! A certificate authority made at run time, and a server certificate it signed for
//! `127.0.0.1` and `localhost`, as PEM files in a temporary directory: what the HTTPS tests
//! serve with and trust.

use std::path::PathBuf;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

/// The CA's certificate (`ca.pem`), the server's (`server.pem`) and its key (`server.key`).
pub(crate) struct TestCa {
    dir: tempfile::TempDir,
}

impl TestCa {
    /// A fresh CA and a server certificate for 127.0.0.1 and localhost.
    pub(crate) fn new() -> TestCa {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "stpt test CA");
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key"))
            .expect("CA certificate");
        let key = KeyPair::generate().expect("server key");
        let mut server =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .expect("server parameters");
        server
            .distinguished_name
            .push(DnType::CommonName, "127.0.0.1");
        let cert = server.signed_by(&key, &ca).expect("server certificate");
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).expect("write ca.pem");
        std::fs::write(dir.path().join("server.pem"), cert.pem()).expect("write server.pem");
        std::fs::write(dir.path().join("server.key"), key.serialize_pem())
            .expect("write server.key");
        TestCa { dir }
    }

    /// The CA's certificate, for `STPT_CA_CERT`.
    pub(crate) fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The server's certificate, for `--tls-cert`.
    pub(crate) fn cert(&self) -> PathBuf {
        self.dir.path().join("server.pem")
    }

    /// The server's key, for `--tls-key`.
    pub(crate) fn key(&self) -> PathBuf {
        self.dir.path().join("server.key")
    }
}
