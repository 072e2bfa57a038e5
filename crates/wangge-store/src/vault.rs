//! Personal data at rest (issue 6): identity numbers and phone numbers are stored sealed, and
//! found again by a blind index, with a key that lives in the configuration or the environment,
//! never in the database.
//!
//! One master key (32 bytes, written as 64 hexadecimal characters) gives two subkeys by HMAC:
//! one seals fields with ChaCha20-Poly1305 (a random nonce per value; the field's name and the
//! record's key are bound in as associated data, so a sealed value moved to another field or
//! record no longer opens), the other makes blind indexes (HMAC-SHA256 of the field's name and
//! the normalised value, 16 bytes): equal values give equal indexes, so an exact lookup works,
//! and the index alone tells nothing without the key.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum VaultError {
    #[error("the data key must be 64 hexadecimal characters (32 bytes); {0}")]
    BadKey(String),
    #[error("a sealed value does not open with this key, field and record: damaged or moved")]
    Damaged,
}

/// Sealed values start with this, so a later scheme can be told apart.
const SCHEME: u8 = 1;
const NONCE: usize = 12;

pub struct Vault {
    cipher: ChaCha20Poly1305,
    index_key: [u8; 32],
}

/// Never print a key, not even in debug output.
impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(…)")
    }
}

fn subkey(master: &[u8; 32], purpose: &str) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(master).unwrap_or_else(|_| {
        // HMAC takes keys of any length; 32 bytes cannot fail.
        unreachable!("HMAC accepts any key length")
    });
    mac.update(purpose.as_bytes());
    mac.finalize().into_bytes().into()
}

impl Vault {
    /// A vault from the key as written in the configuration (64 hex characters, spaces around
    /// it ignored).
    pub fn from_key_text(text: &str) -> Result<Vault, VaultError> {
        let text = text.trim();
        if text.len() != 64 {
            return Err(VaultError::BadKey(format!("got {} characters", text.len())));
        }
        let mut master = [0u8; 32];
        for (i, pair) in text.as_bytes().chunks(2).enumerate() {
            let hex = std::str::from_utf8(pair)
                .ok()
                .and_then(|p| u8::from_str_radix(p, 16).ok())
                .ok_or_else(|| {
                    VaultError::BadKey(format!("character {} is not hexadecimal", i * 2 + 1))
                })?;
            master[i] = hex;
        }
        Ok(Vault {
            cipher: ChaCha20Poly1305::new(&Key::from(subkey(&master, "wangge field seal v1"))),
            index_key: subkey(&master, "wangge blind index v1"),
        })
    }

    /// A new random key, written as the configuration takes it.
    pub fn new_key_text() -> String {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        key.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn aad(field: &str, record: &str) -> Vec<u8> {
        let mut aad = Vec::with_capacity(field.len() + record.len() + 1);
        aad.extend_from_slice(field.as_bytes());
        aad.push(0);
        aad.extend_from_slice(record.as_bytes());
        aad
    }

    /// Seals `plain` as the value of `field` in the record keyed `record`.
    pub fn seal(&self, field: &str, record: &str, plain: &str) -> Vec<u8> {
        let mut nonce = [0u8; NONCE];
        rand::rng().fill_bytes(&mut nonce);
        let aad = Self::aad(field, record);
        let sealed = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad: &aad,
                },
            )
            // Encryption fails only for messages beyond 256 GiB.
            .unwrap_or_default();
        let mut out = Vec::with_capacity(1 + NONCE + sealed.len());
        out.push(SCHEME);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens a value sealed for `field` of `record`.
    pub fn open(&self, field: &str, record: &str, sealed: &[u8]) -> Result<String, VaultError> {
        let (&scheme, rest) = sealed.split_first().ok_or(VaultError::Damaged)?;
        if scheme != SCHEME || rest.len() < NONCE {
            return Err(VaultError::Damaged);
        }
        let (nonce, body) = rest.split_at(NONCE);
        let nonce: [u8; NONCE] = nonce.try_into().map_err(|_| VaultError::Damaged)?;
        let aad = Self::aad(field, record);
        let plain = self
            .cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: body,
                    aad: &aad,
                },
            )
            .map_err(|_| VaultError::Damaged)?;
        String::from_utf8(plain).map_err(|_| VaultError::Damaged)
    }

    /// The blind index of a normalised value of `field` (identity numbers upper-case, phones as
    /// bare digits: normalise before, as the parsers of `wangge_domain::identity` do).
    pub fn blind_index(&self, field: &str, normalised: &str) -> [u8; 16] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.index_key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(field.as_bytes());
        mac.update(&[0]);
        mac.update(normalised.as_bytes());
        let full: [u8; 32] = mac.finalize().into_bytes().into();
        let mut out = [0u8; 16];
        out.copy_from_slice(&full[..16]);
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn a_sealed_value_opens_only_as_what_it_was_sealed_as() {
        let v = Vault::from_key_text(KEY).unwrap();
        let id = "11010519491231002X";
        let sealed = v.seal("identity_number", "person-1", id);
        assert!(
            !sealed.windows(id.len()).any(|w| w == id.as_bytes()),
            "the plain text is not in the sealed bytes"
        );
        assert_eq!(v.open("identity_number", "person-1", &sealed).unwrap(), id);
        // Moved to another record or field, damaged, or another key: it does not open.
        assert_eq!(
            v.open("identity_number", "person-2", &sealed),
            Err(VaultError::Damaged)
        );
        assert_eq!(
            v.open("phone", "person-1", &sealed),
            Err(VaultError::Damaged)
        );
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(
            v.open("identity_number", "person-1", &flipped),
            Err(VaultError::Damaged)
        );
        assert_eq!(
            v.open("identity_number", "person-1", &[]),
            Err(VaultError::Damaged)
        );
        let other = Vault::from_key_text(&Vault::new_key_text()).unwrap();
        assert_eq!(
            other.open("identity_number", "person-1", &sealed),
            Err(VaultError::Damaged)
        );
        // The same value sealed twice looks different (a fresh nonce).
        assert_ne!(sealed, v.seal("identity_number", "person-1", id));
    }

    #[test]
    fn blind_indexes_match_equal_values_of_one_field_under_one_key() {
        let v = Vault::from_key_text(KEY).unwrap();
        let a = v.blind_index("identity_number", "11010519491231002X");
        assert_eq!(a, v.blind_index("identity_number", "11010519491231002X"));
        assert_ne!(a, v.blind_index("identity_number", "110105194912310011"));
        assert_ne!(a, v.blind_index("phone", "11010519491231002X"));
        let other = Vault::from_key_text(&Vault::new_key_text()).unwrap();
        assert_ne!(
            a,
            other.blind_index("identity_number", "11010519491231002X")
        );
    }

    #[test]
    fn a_bad_key_is_refused_with_the_reason() {
        assert_eq!(
            Vault::from_key_text("abc").unwrap_err().to_string(),
            "the data key must be 64 hexadecimal characters (32 bytes); got 3 characters"
        );
        let bad = format!("{}zz", &KEY[..62]);
        assert!(
            Vault::from_key_text(&bad)
                .unwrap_err()
                .to_string()
                .contains("character 63")
        );
        assert_eq!(Vault::new_key_text().len(), 64);
        assert_eq!(
            format!("{:?}", Vault::from_key_text(KEY).unwrap()),
            "Vault(…)"
        );
    }
}
