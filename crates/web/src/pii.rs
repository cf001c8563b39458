//! Personal data at the edge of storage (DESIGN §4, PIPL): values are sealed with the data
//! key bound to their row, indexed with a blind index for exact lookup, and opened only to
//! mask them for display or to reveal them to a role that needs them.

use linli_domain::ResidentId;
use linli_domain::registry::{Document, DocumentKind, Phone, SensitiveTag, mask};
use linli_store::registry::Sealed;
use linli_store::registry::residents::ResidentRow;

use crate::crypto::DataKey;

fn phone_purpose(resident: ResidentId) -> String {
    format!("resident.phone/{resident}")
}

fn document_purpose(resident: ResidentId) -> String {
    format!("resident.document/{resident}")
}

fn tag_purpose(resident: ResidentId) -> String {
    format!("resident.sensitive_tag/{resident}")
}

/// The blind index of a phone number, for lookup and for storage.
pub fn phone_index(key: &DataKey, phone: &Phone) -> Vec<u8> {
    key.blind_index("phone", phone.as_str())
}

/// The blind index of a document: kind and number, so a passport and an ID card with the
/// same characters stay distinct.
pub fn document_index(key: &DataKey, kind: DocumentKind, number: &str) -> Vec<u8> {
    key.blind_index("document", &format!("{}:{number}", kind.as_str()))
}

/// Bound to the resident: an index shared by everyone with the same tag would let anyone
/// holding a copy of the database group residents by tag without the key.
pub fn tag_index(key: &DataKey, resident: ResidentId, tag: SensitiveTag) -> Vec<u8> {
    key.blind_index("sensitive_tag", &format!("{resident}:{}", tag.as_str()))
}

pub fn seal_phone(key: &DataKey, resident: ResidentId, phone: &Phone) -> Sealed {
    Sealed {
        enc: key.seal(&phone_purpose(resident), phone.as_str().as_bytes()),
        idx: phone_index(key, phone),
    }
}

pub fn seal_document(key: &DataKey, resident: ResidentId, document: &Document) -> Sealed {
    Sealed {
        enc: key.seal(&document_purpose(resident), document.number().as_bytes()),
        idx: document_index(key, document.kind(), document.number()),
    }
}

pub fn seal_tag(key: &DataKey, resident: ResidentId, tag: SensitiveTag) -> Sealed {
    Sealed {
        enc: key.seal(&tag_purpose(resident), tag.as_str().as_bytes()),
        idx: tag_index(key, resident, tag),
    }
}

/// A sealed value that does not open means a wrong data key or tampering: never show it
/// as if it were data.
#[derive(Debug, thiserror::Error)]
#[error("a stored personal value of resident {resident} could not be opened")]
pub struct Unreadable {
    pub resident: ResidentId,
}

fn open_text(
    key: &DataKey,
    purpose: &str,
    sealed: &[u8],
    resident: ResidentId,
) -> Result<String, Unreadable> {
    let bytes = key
        .open(purpose, sealed)
        .map_err(|_| Unreadable { resident })?;
    String::from_utf8(bytes).map_err(|_| Unreadable { resident })
}

/// The full personal values of a resident, opened.
#[derive(Debug, Clone, Default)]
pub struct Opened {
    pub phone: Option<String>,
    pub document_number: Option<String>,
}

impl Opened {
    pub fn of(key: &DataKey, row: &ResidentRow) -> Result<Opened, Unreadable> {
        let resident = row.resident_id();
        let phone = row
            .phone_enc
            .as_deref()
            .map(|s| open_text(key, &phone_purpose(resident), s, resident))
            .transpose()?;
        let document_number = row
            .document_enc
            .as_deref()
            .map(|s| open_text(key, &document_purpose(resident), s, resident))
            .transpose()?;
        Ok(Opened {
            phone,
            document_number,
        })
    }

    /// The same values, masked for display.
    pub fn masked(&self, row: &ResidentRow) -> Opened {
        let is_id_card = row.document_kind.as_deref() == Some(DocumentKind::IdCard.as_str());
        Opened {
            phone: self.phone.as_deref().map(mask::phone),
            document_number: self.document_number.as_deref().map(|n| {
                if is_id_card {
                    mask::id_number(n)
                } else {
                    mask::document_number(n)
                }
            }),
        }
    }
}

pub fn open_tag(
    key: &DataKey,
    resident: ResidentId,
    sealed: &[u8],
) -> Result<Option<SensitiveTag>, Unreadable> {
    let text = open_text(key, &tag_purpose(resident), sealed, resident)?;
    Ok(SensitiveTag::parse(&text).ok())
}
