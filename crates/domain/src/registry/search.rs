//! How residents are found by name: the terms a name is indexed under and the terms a
//! query asks for. The store hands these to the engine's full-text index (SQLite FTS5,
//! PostgreSQL `tsvector` with the `simple` configuration, DESIGN §3).
//!
//! Chinese names are two to four characters with no spaces, so a word segmenter has
//! nothing to split; a name is instead indexed under every run of up to four of its
//! characters (so `伟` and `张伟` both find 张伟明) and under its pinyin: the initials
//! (`zwm`) and the full spelling (`zhangweiming`), for every reading of a
//! many-reading character such as 单 (shàn/dān), so typing on a Latin keyboard works too.
//! Terms hold letters and digits only, so they need no escaping in either query language.

use pinyin::ToPinyinMulti;

use super::{IdNumber, Phone};

/// Longest run of characters indexed as one term.
const MAX_GRAM: usize = 4;
/// Cap on pinyin spellings per name when several characters have more than one reading.
const MAX_READINGS: usize = 8;

/// The characters of a name that matter for search: letters and digits, lowercased.
fn significant(text: &str) -> Vec<char> {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

fn is_han(c: char) -> bool {
    !c.is_ascii()
}

/// The terms a name is indexed under, without duplicates.
pub fn name_terms(name: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let han: Vec<char> = significant(name)
        .into_iter()
        .filter(|c| is_han(*c))
        .collect();
    for len in 1..=han.len().min(MAX_GRAM) {
        for window in han.windows(len) {
            terms.push(window.iter().collect::<String>());
        }
    }
    if han.len() > MAX_GRAM {
        terms.push(han.iter().collect());
    }
    for word in name.split(|c: char| !c.is_ascii_alphanumeric()) {
        if !word.is_empty() {
            terms.push(word.to_ascii_lowercase());
        }
    }
    for spelling in pinyin_spellings(&han) {
        terms.push(spelling.initials);
        terms.push(spelling.full);
    }
    let mut seen = std::collections::HashSet::new();
    terms.retain(|t| seen.insert(t.clone()));
    terms
}

struct Spelling {
    initials: String,
    full: String,
}

/// Every spelling of the Han characters, taking each reading of a many-reading character,
/// up to [`MAX_READINGS`] spellings.
fn pinyin_spellings(han: &[char]) -> Vec<Spelling> {
    let mut spellings = vec![Spelling {
        initials: String::new(),
        full: String::new(),
    }];
    for c in han {
        let readings: Vec<&str> = match c.to_pinyin_multi() {
            Some(multi) => multi.into_iter().map(|p| p.plain()).collect(),
            None => continue,
        };
        let mut next = Vec::new();
        for s in &spellings {
            for (i, reading) in readings.iter().enumerate() {
                if i > 0 && spellings.len() * (i + 1) > MAX_READINGS {
                    break;
                }
                next.push(Spelling {
                    initials: format!("{}{}", s.initials, &reading[..1]),
                    full: format!("{}{}", s.full, reading),
                });
            }
        }
        next.truncate(MAX_READINGS);
        spellings = next;
    }
    spellings.retain(|s| !s.initials.is_empty());
    spellings
}

/// One term of a query; a prefix term also matches longer terms that start with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub text: String,
    pub prefix: bool,
}

/// What a search box asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResidentQuery {
    /// An ID-card number: looked up exactly through the blind index.
    IdNumber(IdNumber),
    /// A phone number: looked up exactly through the blind index.
    Phone(Phone),
    /// Name terms, all of which must match.
    Name(Vec<Term>),
}

impl ResidentQuery {
    /// Reads a search box. `None` when nothing searchable is left (only punctuation).
    pub fn parse(raw: &str) -> Option<ResidentQuery> {
        let raw = raw.trim();
        if let Ok(id) = IdNumber::parse(raw) {
            return Some(ResidentQuery::IdNumber(id));
        }
        if raw.chars().any(|c| c.is_ascii_digit())
            && let Ok(phone) = Phone::parse(raw)
        {
            return Some(ResidentQuery::Phone(phone));
        }
        let chars = significant(raw);
        if chars.is_empty() {
            return None;
        }
        let han: Vec<char> = chars.iter().copied().filter(|c| is_han(*c)).collect();
        let mut terms = Vec::new();
        if han.len() <= MAX_GRAM {
            if !han.is_empty() {
                terms.push(Term {
                    text: han.iter().collect(),
                    prefix: false,
                });
            }
        } else {
            for window in han.windows(MAX_GRAM) {
                terms.push(Term {
                    text: window.iter().collect(),
                    prefix: false,
                });
            }
        }
        let latin: String = chars.iter().filter(|c| c.is_ascii()).collect();
        if !latin.is_empty() {
            terms.push(Term {
                text: latin,
                prefix: true,
            });
        }
        Some(ResidentQuery::Name(terms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has(terms: &[String], t: &str) -> bool {
        terms.iter().any(|x| x == t)
    }

    #[test]
    fn a_name_is_found_by_any_part_and_by_pinyin() {
        let terms = name_terms("张伟明");
        for t in [
            "张",
            "伟",
            "明",
            "张伟",
            "伟明",
            "张伟明",
            "zwm",
            "zhangweiming",
        ] {
            assert!(has(&terms, t), "{t} missing from {terms:?}");
        }
        // 单 reads shàn as a surname and dān otherwise: both spellings are indexed.
        let terms = name_terms("单丽");
        assert!(has(&terms, "sl") && has(&terms, "dl"), "{terms:?}");
    }

    #[test]
    fn queries_become_id_phone_or_name_terms() {
        assert!(matches!(
            ResidentQuery::parse("11010519491231002X"),
            Some(ResidentQuery::IdNumber(_))
        ));
        assert!(matches!(
            ResidentQuery::parse("138 0013 8000"),
            Some(ResidentQuery::Phone(_))
        ));
        assert_eq!(
            ResidentQuery::parse(" 张伟 "),
            Some(ResidentQuery::Name(vec![Term {
                text: "张伟".into(),
                prefix: false
            }]))
        );
        assert_eq!(
            ResidentQuery::parse("ZW"),
            Some(ResidentQuery::Name(vec![Term {
                text: "zw".into(),
                prefix: true
            }]))
        );
        assert_eq!(ResidentQuery::parse("\"*')"), None);
    }
}
