//! Masking of personal data for display (DOMAIN §9 masking practice). A masked value keeps
//! just enough for a worker to recognise the person on the phone or at the door.

/// `13800138000` → `138****8000`; a landline keeps its first 3 and last 4 digits too.
pub fn phone(digits: &str) -> String {
    keep_ends(digits, 3, 4)
}

/// `11010519491231002X` → `110105********002X`: area code and last four.
pub fn id_number(id: &str) -> String {
    keep_ends(id, 6, 4)
}

/// Other documents keep their first and last two characters.
pub fn document_number(number: &str) -> String {
    keep_ends(number, 2, 2)
}

/// `张三` → `张*`, `欧阳娜娜` → `欧***`: the surname's first character stays.
pub fn name(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => {
            let rest = chars.filter(|c| !c.is_whitespace()).count().max(1);
            std::iter::once(first)
                .chain(std::iter::repeat_n('*', rest))
                .collect()
        }
        None => String::new(),
    }
}

fn keep_ends(value: &str, head: usize, tail: usize) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() <= head + tail {
        // Too short to keep anything and still hide something.
        return "*".repeat(chars.len().max(4));
    }
    let hidden = chars.len() - head - tail;
    chars[..head]
        .iter()
        .chain(std::iter::repeat_n(&'*', hidden))
        .chain(&chars[chars.len() - tail..])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_follow_common_practice() {
        assert_eq!(phone("13800138000"), "138****8000");
        assert_eq!(id_number("11010519491231002X"), "110105********002X");
        assert_eq!(name("张三"), "张*");
        assert_eq!(name("欧阳娜娜"), "欧***");
        assert_eq!(name("李"), "李*");
        assert_eq!(document_number("E12345678"), "E1*****78");
        assert_eq!(phone("123"), "****");
    }
}
