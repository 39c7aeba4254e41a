//! Password-reset mail over SMTP.
//!
//! STARTTLS is required unless the relay is configured as insecure (a relay on localhost); the
//! relay's certificate is verified against the system's roots plus the configured CA bundle.
//! Sending happens on the blocking pool; a failure is logged and the page answers as if the
//! mail went out, so the form never tells whether an account exists.

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};

use crate::config::SmtpConfig;

/// Why a mail was not sent.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MailError {
    /// An address does not parse.
    #[error("invalid mail address")]
    Address(#[from] lettre::address::AddressError),
    /// The message cannot be built.
    #[error("cannot build the message")]
    Build(#[from] lettre::error::Error),
    /// The relay refused or could not be reached.
    #[error("SMTP failed")]
    Smtp(#[from] lettre::transport::smtp::Error),
    /// The CA bundle cannot be read.
    #[error(transparent)]
    Tls(#[from] stpt_runner::tls::TlsError),
}

/// Sends the reset link `url` to `to`.
pub(crate) fn send_reset_link(
    smtp: &SmtpConfig,
    ca_cert: Option<&std::path::Path>,
    to: &str,
    user: &str,
    url: &str,
) -> Result<(), MailError> {
    let message = Message::builder()
        .from(smtp.from.parse()?)
        .to(to.parse()?)
        .subject("stpt password reset")
        .header(ContentType::TEXT_PLAIN)
        .body(format!(
            "Someone asked to reset the stpt password of {user}.\n\n\
             To choose a new password, open this link within the hour (it works once):\n\n\
             {url}\n\n\
             If it was not you, ignore this mail; the password stays as it is.\n"
        ))?;
    let builder = if smtp.insecure {
        SmtpTransport::builder_dangerous(smtp.host.as_str())
    } else {
        let mut tls = TlsParameters::builder(smtp.host.clone());
        if let Some(bundle) = ca_cert {
            for cert in stpt_runner::tls::read_ca_bundle(bundle)? {
                tls = tls.add_root_certificate(Certificate::from_der(cert.to_vec())?);
            }
        }
        SmtpTransport::starttls_relay(&smtp.host)?.tls(Tls::Required(tls.build_rustls()?))
    };
    let mut builder = builder
        .port(smtp.port)
        .timeout(Some(std::time::Duration::from_secs(20)));
    if let (Some(name), Some(password)) = (&smtp.username, &smtp.password) {
        builder = builder.credentials(Credentials::new(name.clone(), password.clone()));
    }
    builder.build().send(&message)?;
    Ok(())
}
