//! Suite upload tokens. Only their SHA-256 is stored: a token is 256 random
//! bits, so a fast hash is enough (there is nothing to brute-force).

use sha2::{Digest, Sha256};

const PREFIX: &str = "vdt_";

pub fn generate() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{PREFIX}{}", hex::encode(bytes))
}

/// A webhook signing secret: `whsec_` and 32 random bytes in base64 (the
/// Standard Webhooks form; the spec asks for 24 to 64 bytes).
pub fn webhook_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    verdict_core::webhook::Secret::from_key(&bytes).expect("32 bytes is a valid key").to_string()
}

pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.trim().as_bytes()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_unique_and_hashes_stable() {
        let (a, b) = (super::generate(), super::generate());
        assert_ne!(a, b);
        assert!(a.starts_with("vdt_") && a.len() == 68);
        assert_eq!(super::hash(&a), super::hash(&format!(" {a}\n")));
        assert_ne!(super::hash(&a), super::hash(&b));
        let secret = super::webhook_secret();
        assert!(verdict_core::webhook::Secret::parse(&secret).is_ok() && secret != super::webhook_secret());
    }
}
