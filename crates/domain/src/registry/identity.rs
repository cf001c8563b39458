//! Identity values: ID-card numbers (GB 11643-1999), other documents, phone numbers,
//! personal names and unified social credit codes (GB 32100-2015).

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::RegistryRuleError;
use super::kinds::Gender;

/// A resident identity card number: 6-digit area code, 8-digit birth date, 3-digit
/// sequence (odd for men, even for women) and a check character (ISO 7064 MOD 11-2).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdNumber(String);

const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK: &[u8; 11] = b"10X98765432";

impl IdNumber {
    pub fn parse(raw: &str) -> Result<IdNumber, RegistryRuleError> {
        let id: String = raw.trim().to_ascii_uppercase();
        let bytes = id.as_bytes();
        if bytes.len() != 18
            || !bytes[..17].iter().all(u8::is_ascii_digit)
            || !(bytes[17].is_ascii_digit() || bytes[17] == b'X')
        {
            return Err(RegistryRuleError::IdNumberFormat);
        }
        if Self::check_char(&bytes[..17]) != bytes[17] {
            return Err(RegistryRuleError::IdNumberChecksum);
        }
        let number = IdNumber(id);
        let birth = number.embedded_birth_date()?;
        if birth < NaiveDate::from_ymd_opt(1900, 1, 1).expect("valid date") {
            return Err(RegistryRuleError::IdNumberBirthDate);
        }
        Ok(number)
    }

    /// The check character for the first 17 digits; the demo uses it to make valid numbers.
    pub fn check_char(first17: &[u8]) -> u8 {
        let sum: u32 = first17
            .iter()
            .zip(ID_WEIGHTS)
            .map(|(d, w)| u32::from(d - b'0') * w)
            .sum();
        ID_CHECK[(sum % 11) as usize]
    }

    fn embedded_birth_date(&self) -> Result<NaiveDate, RegistryRuleError> {
        let digits = &self.0[6..14];
        let (y, m, d) = (&digits[..4], &digits[4..6], &digits[6..]);
        let parsed = (y.parse(), m.parse(), d.parse());
        match parsed {
            (Ok(y), Ok(m), Ok(d)) => {
                NaiveDate::from_ymd_opt(y, m, d).ok_or(RegistryRuleError::IdNumberBirthDate)
            }
            _ => Err(RegistryRuleError::IdNumberBirthDate),
        }
    }

    pub fn birth_date(&self) -> NaiveDate {
        self.embedded_birth_date()
            .expect("checked when the number was parsed")
    }

    /// The gender encoded in the sequence number: odd for men, even for women.
    pub fn gender(&self) -> Gender {
        if (self.0.as_bytes()[16] - b'0') % 2 == 1 {
            Gender::Male
        } else {
            Gender::Female
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdNumber({})", super::mask::id_number(&self.0))
    }
}

/// The kinds of identity document a resident may be registered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    /// 居民身份证
    IdCard,
    /// 港澳居民来往内地通行证 / 居住证
    HkMacauPermit,
    /// 台湾居民来往大陆通行证 / 居住证
    TaiwanPermit,
    /// 护照
    Passport,
    /// 外国人永久居留身份证
    ForeignPermanentResident,
    Other,
}

impl DocumentKind {
    pub const ALL: [DocumentKind; 6] = [
        DocumentKind::IdCard,
        DocumentKind::HkMacauPermit,
        DocumentKind::TaiwanPermit,
        DocumentKind::Passport,
        DocumentKind::ForeignPermanentResident,
        DocumentKind::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::IdCard => "id_card",
            DocumentKind::HkMacauPermit => "hk_macau_permit",
            DocumentKind::TaiwanPermit => "taiwan_permit",
            DocumentKind::Passport => "passport",
            DocumentKind::ForeignPermanentResident => "foreign_permanent_resident",
            DocumentKind::Other => "other",
        }
    }

    /// Accepts the code or the Chinese label used in the import template.
    pub fn parse(raw: &str) -> Result<DocumentKind, RegistryRuleError> {
        let raw = raw.trim();
        let by_label = match raw {
            "居民身份证" | "身份证" => Some(DocumentKind::IdCard),
            "港澳居民证件" | "港澳通行证" => Some(DocumentKind::HkMacauPermit),
            "台湾居民证件" | "台胞证" => Some(DocumentKind::TaiwanPermit),
            "护照" => Some(DocumentKind::Passport),
            "外国人永久居留证" => Some(DocumentKind::ForeignPermanentResident),
            "其他" => Some(DocumentKind::Other),
            _ => None,
        };
        by_label
            .or_else(|| DocumentKind::ALL.into_iter().find(|k| k.as_str() == raw))
            .ok_or_else(|| RegistryRuleError::UnknownDocumentKind(raw.chars().take(40).collect()))
    }
}

/// An identity document: an ID card (checksum-validated) or another kind of document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Document {
    IdCard(IdNumber),
    Other { kind: DocumentKind, number: String },
}

impl Document {
    pub fn parse(kind: DocumentKind, raw: &str) -> Result<Document, RegistryRuleError> {
        if kind == DocumentKind::IdCard {
            return IdNumber::parse(raw).map(Document::IdCard);
        }
        let number: String = raw
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-'))
            .collect::<String>()
            .to_ascii_uppercase();
        let len = number.chars().count();
        if (5..=30).contains(&len) && number.chars().all(|c| c.is_ascii_alphanumeric()) {
            Ok(Document::Other { kind, number })
        } else {
            Err(RegistryRuleError::DocumentNumberFormat)
        }
    }

    pub fn kind(&self) -> DocumentKind {
        match self {
            Document::IdCard(_) => DocumentKind::IdCard,
            Document::Other { kind, .. } => *kind,
        }
    }

    pub fn number(&self) -> &str {
        match self {
            Document::IdCard(id) => id.as_str(),
            Document::Other { number, .. } => number,
        }
    }
}

/// A phone number, normalised to digits: a mainland mobile (`1[3-9]` + 9 digits) or a
/// landline with its area code (`0` + 9 to 11 digits). A `+86`/`86` prefix is dropped.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

impl Phone {
    pub fn parse(raw: &str) -> Result<Phone, RegistryRuleError> {
        let compact: String = raw
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
            .collect();
        let digits = compact
            .strip_prefix("+86")
            .or_else(|| compact.strip_prefix("0086"))
            .unwrap_or(&compact);
        let digits = if digits.len() == 13 && digits.starts_with("861") {
            &digits[2..]
        } else {
            digits
        };
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(RegistryRuleError::PhoneFormat);
        }
        let b = digits.as_bytes();
        let mobile = b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]);
        let landline = (10..=12).contains(&b.len()) && b[0] == b'0' && b[1] != b'0';
        if mobile || landline {
            Ok(Phone(digits.to_owned()))
        } else {
            Err(RegistryRuleError::PhoneFormat)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({})", super::mask::phone(&self.0))
    }
}

/// A person's name as written on their document: 1 to 40 characters, inner whitespace
/// collapsed, no control characters. Minority names keep their middle dot (·).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct PersonName(String);

impl PersonName {
    pub const MAX_LEN: usize = 40;

    pub fn parse(raw: &str) -> Result<PersonName, RegistryRuleError> {
        let name = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        let len = name.chars().count();
        if (1..=Self::MAX_LEN).contains(&len) && !name.chars().any(char::is_control) {
            Ok(PersonName(name))
        } else {
            Err(RegistryRuleError::NameFormat)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A unified social credit code (统一社会信用代码): registration authority, kind,
/// 6-digit area code, 9-character organisation code and a check character (mod 31).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Uscc(String);

const USCC_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

impl Uscc {
    pub fn parse(raw: &str) -> Result<Uscc, RegistryRuleError> {
        let code = raw.trim().to_ascii_uppercase();
        let values: Option<Vec<u32>> = code
            .bytes()
            .map(|b| USCC_ALPHABET.iter().position(|a| *a == b).map(|p| p as u32))
            .collect();
        let Some(values) = values.filter(|v| v.len() == 18) else {
            return Err(RegistryRuleError::UsccFormat);
        };
        if Self::check_value(&values[..17]) != values[17] {
            return Err(RegistryRuleError::UsccChecksum);
        }
        Ok(Uscc(code))
    }

    fn check_value(first17: &[u32]) -> u32 {
        let sum: u32 = first17.iter().zip(USCC_WEIGHTS).map(|(v, w)| v * w).sum();
        (31 - sum % 31) % 31
    }

    /// Completes 17 characters with their check character; the demo uses it.
    pub fn complete(first17: &str) -> Option<Uscc> {
        let values: Option<Vec<u32>> = first17
            .bytes()
            .map(|b| USCC_ALPHABET.iter().position(|a| *a == b).map(|p| p as u32))
            .collect();
        let values = values.filter(|v| v.len() == 17)?;
        let check = USCC_ALPHABET[Self::check_value(&values) as usize] as char;
        Some(Uscc(format!("{first17}{check}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_numbers_are_checked_by_checksum_and_birth_date() {
        // The worked example of GB 11643-1999.
        let id = IdNumber::parse("11010519491231002x").unwrap();
        assert_eq!(id.as_str(), "11010519491231002X");
        assert_eq!(
            id.birth_date(),
            NaiveDate::from_ymd_opt(1949, 12, 31).unwrap()
        );
        assert_eq!(id.gender(), Gender::Female);
        assert_eq!(
            IdNumber::parse("110105194912310021"),
            Err(RegistryRuleError::IdNumberChecksum)
        );
        assert_eq!(
            IdNumber::parse("1101051949123100"),
            Err(RegistryRuleError::IdNumberFormat)
        );
        // 1949-02-30 does not exist: build a number whose checksum is right anyway.
        let mut bad = b"11010519490230002".to_vec();
        bad.push(IdNumber::check_char(&bad));
        assert_eq!(
            IdNumber::parse(std::str::from_utf8(&bad).unwrap()),
            Err(RegistryRuleError::IdNumberBirthDate)
        );
    }

    #[test]
    fn phones_are_normalised_to_digits() {
        assert_eq!(
            Phone::parse("+86 138-0013-8000").unwrap().as_str(),
            "13800138000"
        );
        assert_eq!(
            Phone::parse("0755-2833 1234").unwrap().as_str(),
            "075528331234"
        );
        for bad in ["12800138000", "1380013800", "phone", "00755123456", ""] {
            assert_eq!(
                Phone::parse(bad),
                Err(RegistryRuleError::PhoneFormat),
                "{bad}"
            );
        }
    }

    #[test]
    fn uscc_check_character_is_verified() {
        let code = Uscc::complete("91440300MA5DC6QX1").unwrap();
        assert_eq!(Uscc::parse(code.as_str()).unwrap(), code);
        let mut wrong = code.as_str().to_owned();
        let last = wrong.pop().unwrap();
        wrong.push(if last == '0' { '1' } else { '0' });
        assert_eq!(Uscc::parse(&wrong), Err(RegistryRuleError::UsccChecksum));
        assert_eq!(
            Uscc::parse("91440300MA5DC6QXI"),
            Err(RegistryRuleError::UsccFormat)
        );
    }

    #[test]
    fn names_and_other_documents() {
        assert_eq!(
            PersonName::parse("  买买提·  艾力 ").unwrap().as_str(),
            "买买提· 艾力"
        );
        assert!(PersonName::parse("").is_err());
        assert!(PersonName::parse("a\u{7}b").is_err());
        let passport = Document::parse(DocumentKind::Passport, "e 1234 5678").unwrap();
        assert_eq!(passport.number(), "E12345678");
        assert_eq!(DocumentKind::parse("身份证").unwrap(), DocumentKind::IdCard);
        assert!(DocumentKind::parse("驾照").is_err());
    }
}
