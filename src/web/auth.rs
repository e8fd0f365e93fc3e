//! Who may change state through the page: a request with `Authorization:
//! Bearer TOKEN` carrying `[web] token` (or the content of `token_file`).

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// Why a request may not change state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// No token is configured: nothing may change state (403).
    Off,
    /// No `Authorization: Bearer` header (401).
    Missing,
    /// A wrong token (403).
    Wrong,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::Off => (
                StatusCode::FORBIDDEN,
                "changing state is off: no [web] token or token_file is configured\n",
            )
                .into_response(),
            Refused::Missing => (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "needs Authorization: Bearer TOKEN\n",
            )
                .into_response(),
            Refused::Wrong => (StatusCode::FORBIDDEN, "wrong token\n").into_response(),
        }
    }
}

/// `Ok` when the request carries the configured token.
pub fn authorized(token: Option<&str>, headers: &HeaderMap) -> Result<(), Refused> {
    let token = token.ok_or(Refused::Off)?;
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer)
        .ok_or(Refused::Missing)?;
    match same_secret(given, token) {
        true => Ok(()),
        false => Err(Refused::Wrong),
    }
}

/// The token of a `Bearer` credential (the scheme in any case).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Compares two secrets in time that does not depend on where they differ
/// (nor on their lengths: the digests are compared, every byte of them), so
/// the answer's timing does not spell the token out.
fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |diff, (x, y)| diff | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "a-long-enough-token-1";

    fn status(token: Option<&str>, header: Option<&str>) -> Option<StatusCode> {
        let mut headers = HeaderMap::new();
        if let Some(h) = header {
            headers.insert(header::AUTHORIZATION, h.parse().unwrap());
        }
        authorized(token, &headers)
            .err()
            .map(|r| r.into_response().status())
    }

    #[test]
    fn only_the_configured_bearer_token_passes() {
        let right = format!("Bearer {TOKEN}");
        assert_eq!(status(Some(TOKEN), Some(&right)), None);
        assert_eq!(
            status(Some(TOKEN), Some(&format!("bearer  {TOKEN} "))),
            None
        );
        assert_eq!(status(Some(TOKEN), None), Some(StatusCode::UNAUTHORIZED));
        assert_eq!(
            status(Some(TOKEN), Some("Bearer ")),
            Some(StatusCode::UNAUTHORIZED)
        );
        assert_eq!(
            status(Some(TOKEN), Some(&format!("Basic {TOKEN}"))),
            Some(StatusCode::UNAUTHORIZED)
        );
        assert_eq!(
            status(Some(TOKEN), Some("Bearer a-long-enough-token-2")),
            Some(StatusCode::FORBIDDEN)
        );
        assert_eq!(
            status(Some(TOKEN), Some(&format!("Bearer {TOKEN}x"))),
            Some(StatusCode::FORBIDDEN)
        );
    }

    #[test]
    fn without_a_configured_token_nothing_passes() {
        assert_eq!(status(None, None), Some(StatusCode::FORBIDDEN));
        assert_eq!(
            status(None, Some("Bearer anything")),
            Some(StatusCode::FORBIDDEN)
        );
    }
}
