//! The sign-in session of a server with a read token: a link cannot carry a
//! bearer header, so a correct token sets a cookie that pages and the JSON
//! API both accept. The cookie is `{expiry}.{HMAC-SHA256(read token, expiry)}`:
//! any node that has the same read token can check it (nothing is kept in
//! memory), and changing the token ends every session.

use sha2::{Digest, Sha256};

pub const COOKIE: &str = "verdict_session";
/// How long a sign-in lasts.
pub const LIFETIME_SECS: i64 = 7 * 24 * 3600;

fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| k.map(|b| b ^ byte);
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
    Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize().into()
}

fn mac_hex(token: &str, expiry: i64) -> String {
    hmac(token.as_bytes(), format!("verdict-session:{expiry}").as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// A new session value, valid until `now + LIFETIME_SECS`.
pub fn issue(token: &str, now_secs: i64) -> String {
    let expiry = now_secs + LIFETIME_SECS;
    format!("{expiry}.{}", mac_hex(token, expiry))
}

/// Whether a session value is one this token issued and has not expired.
pub fn is_valid(value: &str, token: &str, now_secs: i64) -> bool {
    let Some((expiry, mac)) = value.split_once('.') else { return false };
    let Ok(expiry) = expiry.parse::<i64>() else { return false };
    expiry > now_secs && super::super::auth::constant_time_eq(mac.as_bytes(), mac_hex(token, expiry).as_bytes())
}

/// The session cookie's value in a `Cookie` header, if any.
pub fn from_headers(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// The `Set-Cookie` value for a session (`Secure` when served over https).
pub fn set_cookie(value: &str, secure: bool) -> String {
    format!("{COOKIE}={value}; Path=/; Max-Age={LIFETIME_SECS}; HttpOnly; SameSite=Strict{}", if secure { "; Secure" } else { "" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn sessions_expire_and_belong_to_their_token() {
        let v = issue("reader", 1_000);
        assert!(is_valid(&v, "reader", 1_000));
        assert!(!is_valid(&v, "reader", 1_000 + LIFETIME_SECS), "expired");
        assert!(!is_valid(&v, "other", 1_000), "a rotated token ends the session");
        let (expiry, mac) = v.split_once('.').unwrap();
        let later = format!("{}.{mac}", expiry.parse::<i64>().unwrap() + 1000);
        assert!(!is_valid(&later, "reader", 1_000), "the expiry is signed");
        assert!(!is_valid("garbage", "reader", 1_000));
    }
}
