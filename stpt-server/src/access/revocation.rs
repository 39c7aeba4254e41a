//! Credentials that end while they are in use: a live WebSocket opened with a machine token
//! or a login session is closed within a second of that token being revoked, that session
//! ending (a logout, a new password) or its user being removed — by this server, another one
//! on the same database, or `stpt token revoke` on the command line.
//!
//! Every such change moves one number in the database (the access revision). The
//! [`RevisionWatch`] fairing polls it (one tiny query every [`POLL`]) and publishes it on a
//! `watch` channel; each socket holding a [`Credential`] re-checks it only when the number
//! moved, so the steady cost is one query per server, not one per socket.

use std::time::Duration;

use rocket::fairing::{Fairing, Info, Kind};
use rocket::request::{FromRequest, Outcome};
use rocket::tokio::sync::watch;
use rocket::{Orbit, Request, Rocket};

use super::{Bearer, Security, session};
use crate::config::ReadAccess;
use crate::db::TokenCheck;
use crate::state::AppState;

/// Time between two reads of the access revision.
pub(crate) const POLL: Duration = Duration::from_millis(250);

/// The latest access revision, for whoever holds a credential open.
#[derive(Debug)]
pub(crate) struct Revisions {
    sender: watch::Sender<i64>,
}

impl Default for Revisions {
    fn default() -> Self {
        Revisions {
            sender: watch::channel(0).0,
        }
    }
}

impl Revisions {
    /// A receiver told of every later revision.
    pub(crate) fn subscribe(&self) -> watch::Receiver<i64> {
        self.sender.subscribe()
    }
}

/// What a request was let in with, kept by a socket to re-check it later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Credential {
    /// Reads are public: nothing to end.
    Open,
    /// A login session's token.
    Session(String),
    /// A machine token.
    Token(String),
}

impl Credential {
    /// Whether the credential still lets its holder read.
    pub(crate) async fn still_valid(&self, security: &Security) -> bool {
        let Some(access) = security.access.clone() else {
            return matches!(self, Credential::Open);
        };
        let credential = self.clone();
        let checked = crate::state::blocking(move || match credential {
            Credential::Open => Ok(true),
            Credential::Session(token) => access.session_user(&token).map(|user| user.is_some()),
            Credential::Token(token) => access.check_token(&token).map(|check| {
                matches!(
                    check,
                    TokenCheck::Valid { .. } | TokenCheck::Personal { .. }
                )
            }),
        })
        .await;
        // A failed check is no proof of revocation: keep the socket, check again next time.
        !matches!(checked, Ok(Ok(false)))
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Credential {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let Some(state) = request.rocket().state::<AppState>() else {
            return Outcome::Success(Credential::Open);
        };
        if state.security.read_access == ReadAccess::Public {
            return Outcome::Success(Credential::Open);
        }
        // The read gate let the request in with one of these; a session is checked first.
        if let Some(token) = session::token(request.cookies())
            && session::user_of(request, &state.security).await.is_some()
        {
            return Outcome::Success(Credential::Session(token));
        }
        Outcome::Success(match Bearer::of(request).0 {
            Some(token) => Credential::Token(token),
            None => Credential::Open,
        })
    }
}

/// Polls the access revision while the server runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RevisionWatch;

#[rocket::async_trait]
impl Fairing for RevisionWatch {
    fn info(&self) -> Info {
        Info {
            name: "watch for ended credentials",
            kind: Kind::Liftoff,
        }
    }

    async fn on_liftoff(&self, rocket: &Rocket<Orbit>) {
        let Some(state) = rocket.state::<AppState>().cloned() else {
            return;
        };
        let Some(access) = state.security.access.clone() else {
            return;
        };
        let mut shutdown = rocket.shutdown();
        rocket::tokio::spawn(async move {
            loop {
                rocket::tokio::select! {
                    _ = &mut shutdown => break,
                    () = rocket::tokio::time::sleep(POLL) => {}
                }
                let access = access.clone();
                if let Ok(Ok(revision)) = state.blocking(move |_| access.revision()).await {
                    state.security.revisions.sender.send_if_modified(|current| {
                        let moved = *current != revision;
                        *current = revision;
                        moved
                    });
                }
            }
        });
    }
}
