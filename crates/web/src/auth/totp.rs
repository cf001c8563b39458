//! TOTP second factor (RFC 6238: SHA-1, 6 digits, 30-second steps, ±1 step of skew).

use totp_rs::{Builder, Secret, Totp};

use crate::crypto::{DataKey, random_bytes};

pub const ISSUER: &str = "Linli";

/// Associated data binding a sealed secret to its account.
pub fn sealing_purpose(account_id: uuid::Uuid) -> String {
    format!("totp-secret:{account_id}")
}

pub fn new_secret() -> [u8; 20] {
    random_bytes::<20>()
}

fn totp(secret: &[u8], account_name: &str) -> Option<Totp> {
    let secret: [u8; 20] = secret.try_into().ok()?;
    Builder::new()
        .with_secret(Secret::new_stack(secret))
        .with_account_name(account_name.replace(':', "_"))
        .with_issuer(Some(ISSUER))
        .build()
        .ok()
}

/// The `otpauth://` URL an authenticator app imports.
pub fn provisioning_url(secret: &[u8], account_name: &str) -> Option<String> {
    totp(secret, account_name)?.to_url().ok()
}

/// The secret in base32 for typing into an app by hand, in groups of four.
pub fn secret_for_display(secret: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let mut buffer = 0u32;
    let mut bits = 0;
    for byte in secret {
        buffer = (buffer << 8) | u32::from(*byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out.as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The time step a code matches now, if any. The caller must refuse a step already used.
pub fn matching_step(secret: &[u8], code: &str) -> Option<u64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    totp(secret, "x")?.check_current(&code)
}

/// The code for a given Unix time (tests and the enrolment page's self-check use it).
pub fn code_at(secret: &[u8], unix_seconds: u64) -> Option<String> {
    Some(totp(secret, "x")?.generate(unix_seconds).to_string())
}

/// Opens an account's sealed secret.
pub fn open_secret(key: &DataKey, account_id: uuid::Uuid, sealed: &[u8]) -> Option<Vec<u8>> {
    key.open(&sealing_purpose(account_id), sealed).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc4648() {
        assert_eq!(secret_for_display(b"foobar"), "MZXW 6YTB OI");
    }

    #[test]
    fn current_code_matches_and_garbage_does_not() {
        let secret = new_secret();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let code = code_at(&secret, now).unwrap();
        assert!(matching_step(&secret, &code).is_some());
        assert!(matching_step(&secret, "12345").is_none());
        assert!(matching_step(&secret, "abcdef").is_none());
    }
}

/// The provisioning URL as an inline SVG QR code, drawn on the server (no script, no
/// outside request): what a phone's authenticator app scans.
pub fn qr_svg(url: &str) -> Option<String> {
    use qrcodegen::{QrCode, QrCodeEcc};
    const BORDER: i32 = 4;
    let qr = QrCode::encode_text(url, QrCodeEcc::Medium).ok()?;
    let size = qr.size();
    let mut path = String::new();
    for y in 0..size {
        for x in 0..size {
            if qr.get_module(x, y) {
                path.push_str(&format!("M{},{}h1v1h-1z", x + BORDER, y + BORDER));
            }
        }
    }
    let full = size + 2 * BORDER;
    Some(format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {full} {full}" shape-rendering="crispEdges" role="img" aria-label="QR"><rect width="100%" height="100%" fill="#fff"/><path d="{path}" fill="#000"/></svg>"##
    ))
}

#[cfg(test)]
mod qr_tests {
    #[test]
    fn qr_code_is_an_svg_of_the_url() {
        let svg =
            super::qr_svg("otpauth://totp/Linli:demo-admin?secret=ABCDEFGH&issuer=Linli").unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("<path d=\"M"));
        assert!(!svg.contains("script"));
    }
}
