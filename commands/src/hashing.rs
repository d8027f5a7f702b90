//! The one SHA-256 helper: CI tokens are stored as these digests, and idempotency records are
//! named by them, so there must be exactly one way to compute it.

use std::fmt::Write;

use sha2::{Digest, Sha256};

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
