//! Field encryption with the data key (DESIGN §4): XChaCha20-Poly1305 with a random
//! nonce per value, bound to the row and purpose by associated data so a sealed value
//! copied to another row does not open.

use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;

const NONCE_LEN: usize = 24;

#[derive(Debug, Error)]
pub enum KeyError {
    #[error("cannot read the data key file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the data key file {path} must hold 64 hexadecimal characters (32 bytes)")]
    Format { path: String },
    #[error("cannot create the data key file {path}: {source}")]
    Create {
        path: String,
        source: std::io::Error,
    },
}

#[derive(Debug, Error)]
#[error("a sealed value could not be opened (wrong data key or tampered data)")]
pub struct OpenError;

#[derive(Clone)]
pub struct DataKey {
    cipher: XChaCha20Poly1305,
    /// Derived from the data key, kept apart from it: a leaked index key lets someone
    /// test guesses against the blind index but opens nothing.
    index_key: [u8; 32],
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(***)")
    }
}

impl DataKey {
    pub fn from_bytes(bytes: [u8; 32]) -> DataKey {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&bytes)
            .expect("HMAC takes keys of any length");
        mac.update(b"linli/blind-index/v1");
        DataKey {
            cipher: XChaCha20Poly1305::new(&Key::from(bytes)),
            index_key: mac.finalize().into_bytes().into(),
        }
    }

    /// Reads a key file (64 hex characters).
    pub fn load(path: &Path) -> Result<DataKey, KeyError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: shown.clone(),
            source,
        })?;
        let bytes = hex::decode(text.trim()).map_err(|_| KeyError::Format {
            path: shown.clone(),
        })?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| KeyError::Format { path: shown })?;
        Ok(DataKey::from_bytes(bytes))
    }

    /// Reads a key file, first creating it (mode 0600) with a fresh random key if it does not exist.
    pub fn load_or_create(path: &Path) -> Result<DataKey, KeyError> {
        if !path.exists() {
            let create = |source| KeyError::Create {
                path: path.display().to_string(),
                source,
            };
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(create)?;
            }
            let key = random_bytes::<32>();
            write_private_file(path, format!("{}\n", hex::encode(key)).as_bytes())
                .map_err(create)?;
        }
        DataKey::load(path)
    }

    pub fn seal(&self, purpose: &str, plaintext: &[u8]) -> Vec<u8> {
        let nonce_bytes = random_bytes::<NONCE_LEN>();
        let nonce = XNonce::from(nonce_bytes);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: purpose.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 encryption does not fail for in-memory buffers");
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&sealed);
        out
    }

    /// The blind index of a personal value: a keyed hash that finds the same value again
    /// (exact lookup, uniqueness) without storing it. `kind` separates value spaces, so a
    /// phone number and a document number with the same digits do not collide.
    pub fn blind_index(&self, kind: &str, value: &str) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.index_key)
            .expect("HMAC takes keys of any length");
        mac.update(kind.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    pub fn open(&self, purpose: &str, sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        if sealed.len() < NONCE_LEN {
            return Err(OpenError);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| OpenError)?;
        self.cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: body,
                    aad: purpose.as_bytes(),
                },
            )
            .map_err(|_| OpenError)
    }
}

/// Bytes from the operating system's generator.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    bytes
}

/// Creates a file readable only by its owner.
pub fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_for_their_purpose_and_key() {
        let key = DataKey::from_bytes([7; 32]);
        let sealed = key.seal("totp:a", b"secret");
        assert_eq!(key.open("totp:a", &sealed).unwrap(), b"secret");
        assert!(key.open("totp:b", &sealed).is_err());
        assert!(
            DataKey::from_bytes([8; 32])
                .open("totp:a", &sealed)
                .is_err()
        );
        assert_ne!(
            key.seal("totp:a", b"secret"),
            sealed,
            "every seal uses a fresh nonce"
        );
    }
}
