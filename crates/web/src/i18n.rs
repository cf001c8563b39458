//! Interface text in Chinese (first) and English. Each language is one `key = value` file
//! in `locales/`, embedded in the binary; a unit test keeps the two key sets identical.

use std::collections::HashMap;
use std::sync::LazyLock;

use linli_domain::locale::Locale;

fn parse(source: &'static str) -> HashMap<&'static str, &'static str> {
    source
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect()
}

static ZH_CN: LazyLock<HashMap<&'static str, &'static str>> =
    LazyLock::new(|| parse(include_str!("../locales/zh-CN.txt")));
static EN: LazyLock<HashMap<&'static str, &'static str>> =
    LazyLock::new(|| parse(include_str!("../locales/en.txt")));

/// The translator handed to every template as `t`.
#[derive(Debug, Clone, Copy)]
pub struct Tr {
    pub locale: Locale,
}

impl Tr {
    pub fn new(locale: Locale) -> Tr {
        Tr { locale }
    }

    /// The text for `key`; a missing key shows "?" and logs a warning (the unit tests keep
    /// both files complete).
    pub fn t(&self, key: &str) -> &'static str {
        let table = match self.locale {
            Locale::ZhCn => &*ZH_CN,
            Locale::En => &*EN,
        };
        table.get(key).copied().unwrap_or_else(|| {
            tracing::warn!(key, "missing translation");
            "?"
        })
    }

    /// The text for `key` if there is one (for open-ended keys such as audit actions).
    pub fn try_t(&self, key: &str) -> Option<&'static str> {
        let table = match self.locale {
            Locale::ZhCn => &*ZH_CN,
            Locale::En => &*EN,
        };
        table.get(key).copied()
    }

    /// The value of the page's `lang` attribute.
    pub fn lang(&self) -> &'static str {
        self.locale.as_str()
    }

    pub fn role(&self, role: &linli_domain::auth::Role) -> &'static str {
        self.t(&format!("role.{}", role.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_have_the_same_keys() {
        let mut zh: Vec<_> = ZH_CN.keys().collect();
        let mut en: Vec<_> = EN.keys().collect();
        zh.sort();
        en.sort();
        assert_eq!(zh, en);
    }

    #[test]
    fn every_role_has_a_name_in_both_languages() {
        for locale in Locale::ALL {
            let tr = Tr::new(locale);
            for role in linli_domain::auth::Role::ALL {
                assert_ne!(tr.role(&role), "?", "{role} in {locale:?}");
            }
        }
    }
}
