//! How matters are found by their words. Titles and descriptions are free Chinese text;
//! instead of a word segmenter (whose dictionary decides what can be found, and which
//! costs memory and start-up time) every character and every pair of adjacent characters
//! is a term, as pg_bigm and CJK n-gram indexes do. A query matches when the text holds
//! every pair of the query's characters, so any substring of two or more characters is
//! found, whatever the segmentation would have been. Latin words and numbers are terms
//! whole. Terms hold letters and digits only, so they need no escaping in either engine's
//! query language.

/// Cap on distinct terms taken from one query (a pasted paragraph is not a search).
const MAX_QUERY_TERMS: usize = 16;

/// Whether `c` is in the CJK Unified Ideographs block: most of any Chinese text, and
/// letters with no case, so the Unicode tables need not be searched for them.
fn is_common_ideograph(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c)
}

/// The text lower-cased and split into runs of CJK letters (`true`) and of Latin letters
/// and digits (`false`); anything else separates runs.
fn runs(text: &str) -> Vec<(bool, String)> {
    let mut out: Vec<(bool, String)> = Vec::new();
    let mut push = |kind: Option<bool>, c: char| match (kind, out.last_mut()) {
        (Some(k), Some((last, run))) if *last == k && !run.is_empty() => run.push(c),
        (Some(k), _) => out.push((k, c.to_string())),
        (None, Some((_, run))) if !run.is_empty() => out.push((false, String::new())),
        (None, _) => {}
    };
    for c in text.chars() {
        if is_common_ideograph(c) {
            push(Some(true), c);
            continue;
        }
        for c in c.to_lowercase() {
            let kind = if c.is_ascii_alphanumeric() {
                Some(false)
            } else if c.is_alphanumeric() {
                Some(true)
            } else {
                None
            };
            push(kind, c);
        }
    }
    out.retain(|(_, r)| !r.is_empty());
    out
}

/// The terms a text is indexed under: each CJK character, each adjacent pair, and each
/// Latin word or number, each once. This runs for every report, so it avoids a hash set.
pub fn text_terms(text: &str) -> Vec<String> {
    let mut terms = Vec::new();
    for (cjk, run) in runs(text) {
        if cjk {
            let chars: Vec<char> = run.chars().collect();
            terms.extend(chars.iter().map(|c| c.to_string()));
            terms.extend(chars.windows(2).map(|w| w.iter().collect::<String>()));
        } else {
            terms.push(run);
        }
    }
    first_occurrences(terms)
}

/// `terms` without repeats, each kept where it first occurs.
fn first_occurrences(terms: Vec<String>) -> Vec<String> {
    let mut order: Vec<usize> = (0..terms.len()).collect();
    order.sort_unstable_by(|&a, &b| terms[a].cmp(&terms[b]).then(a.cmp(&b)));
    let mut keep = vec![false; terms.len()];
    for (i, &at) in order.iter().enumerate() {
        keep[at] = i == 0 || terms[order[i - 1]] != terms[at];
    }
    terms
        .into_iter()
        .zip(keep)
        .filter_map(|(term, kept)| kept.then_some(term))
        .collect()
}

/// The terms a query asks for, all of which must match: the pairs of each CJK run (or the
/// character alone), and Latin words. Empty when the query holds nothing searchable.
pub fn query_terms(query: &str) -> Vec<String> {
    let mut terms = Vec::new();
    for (cjk, run) in runs(query) {
        if cjk {
            let chars: Vec<char> = run.chars().collect();
            if chars.len() == 1 {
                terms.push(run);
            } else {
                terms.extend(chars.windows(2).map(|w| w.iter().collect::<String>()));
            }
        } else {
            terms.push(run);
        }
    }
    let mut terms = first_occurrences(terms);
    terms.truncate(MAX_QUERY_TERMS);
    terms
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str, query: &str) -> bool {
        let indexed = text_terms(text);
        let wanted = query_terms(query);
        !wanted.is_empty() && wanted.iter().all(|t| indexed.contains(t))
    }

    #[test]
    fn any_chinese_substring_is_found() {
        let text = "3栋电梯故障，老人下楼困难。Lift No.3 broken";
        for q in [
            "电梯",
            "电梯故障",
            "老人",
            "梯",
            "下楼困难",
            "lift",
            "LIFT broken",
            "3栋",
        ] {
            assert!(found(text, q), "{q}");
        }
        for q in ["楼梯", "故障电梯", "水管", "elevator"] {
            assert!(!found(text, q), "{q}");
        }
    }

    #[test]
    fn each_term_is_indexed_once_in_order_of_first_occurrence() {
        assert_eq!(
            text_terms("电梯电梯 Lift lift 3"),
            vec!["电", "梯", "电梯", "梯电", "lift", "3"]
        );
    }

    #[test]
    fn punctuation_and_spaces_yield_no_terms() {
        assert!(query_terms("  ，。!?  ").is_empty());
        assert_eq!(query_terms("电 梯"), vec!["电", "梯"]);
    }

    #[test]
    fn long_queries_are_capped() {
        assert_eq!(
            query_terms(&"路灯不亮".repeat(20)).len(),
            4,
            "pairs deduplicate"
        );
        let long: String = ('一'..='龥').step_by(97).take(40).collect();
        assert_eq!(query_terms(&long).len(), MAX_QUERY_TERMS);
    }
}
