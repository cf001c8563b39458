//! The residents spreadsheet: its columns (Chinese headers, as the template ships them)
//! and how one row becomes a checked registration. The file format (xlsx or csv, UTF-8
//! or GBK) is read elsewhere; this module sees rows of text and reports every problem as
//! row, column and reason, so an operator can fix a whole file in one pass.

use chrono::NaiveDate;

use super::{
    BirthDate, Document, DocumentKind, Gender, PartyStatus, PersonName, Phone, RegistryRuleError,
    Relation,
};

/// One column of the template: its header, its key in reports, whether it is required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub key: &'static str,
    pub header: &'static str,
    pub header_en: &'static str,
    pub required: bool,
    pub note: &'static str,
}

macro_rules! columns {
    ($($key:ident: $zh:literal / $en:literal, $req:literal, $note:literal;)+) => {
        /// The template's columns, in order.
        pub const COLUMNS: &[Column] = &[$(Column {
            key: stringify!($key), header: $zh, header_en: $en, required: $req, note: $note,
        },)+];
    };
}

columns! {
    building_code: "楼栋编号" / "Building code", true, "本社区内唯一，如 B01";
    building_name: "楼栋名称" / "Building name", false, "新楼栋必填";
    building_address: "楼栋地址" / "Building address", false, "新楼栋必填";
    grid_code: "网格编号" / "Grid code", false, "新楼栋必填，须为本社区网格，如 XH-01";
    room: "房号" / "Room", true, "如 1203";
    household: "户编号" / "Household key", false, "同一户的成员填相同编号；不填则同一房号为一户";
    name: "姓名" / "Name", true, "";
    gender: "性别" / "Gender", false, "男/女；填身份证号时可不填";
    birth_date: "出生日期" / "Birth date", false, "YYYY-MM-DD；填身份证号时可不填";
    document_kind: "证件类型" / "Document kind", false, "默认居民身份证；护照、港澳居民证件、台湾居民证件、外国人永久居留证、其他";
    document_number: "证件号码" / "Document number", false, "请将本列设为文本格式";
    phone: "手机号" / "Mobile", false, "请将本列设为文本格式";
    relation: "与户关系" / "Relation", true, "户主/家庭成员/租户；每户须有且仅有一名户主";
    moved_in: "入住日期" / "Moved in", false, "YYYY-MM-DD，默认导入当天";
    party_status: "政治面貌" / "Party status", false, "在职党员/退休党员/其他党员，非党员留空";
    party_organisation: "所在党组织" / "Party organisation", false, "";
    skills: "特长" / "Skills", false, "多个用、分隔";
    tags: "标签" / "Tags", false, "多个用、分隔";
    guardian_consent: "监护人同意" / "Guardian consent", false, "14 岁以下儿童须填“是”，并以户主为监护人";
}

/// Where each template column sits in a file, found from its header row.
#[derive(Debug, Clone)]
pub struct HeaderMap {
    positions: Vec<Option<usize>>,
}

/// A problem with the file or a row: 1-based row as the spreadsheet shows it, the column
/// header (empty for the whole row), a stable code and a message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub row: usize,
    pub column: String,
    pub code: String,
    pub message: String,
}

impl Problem {
    pub fn new(row: usize, column: &str, code: &str, message: impl Into<String>) -> Problem {
        Problem {
            row,
            column: column.to_owned(),
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

impl HeaderMap {
    /// Matches the header row (Chinese or English headers, any order). Unknown headers and
    /// missing required ones are problems of row `header_row`.
    pub fn parse(headers: &[String], header_row: usize) -> Result<HeaderMap, Vec<Problem>> {
        let clean: Vec<String> = headers
            .iter()
            .map(|h| {
                h.trim()
                    .trim_start_matches('\u{feff}')
                    .trim_end_matches('*')
                    .trim()
                    .to_owned()
            })
            .collect();
        let mut problems = Vec::new();
        let positions: Vec<Option<usize>> = COLUMNS
            .iter()
            .map(|c| {
                clean.iter().position(|h| {
                    h == c.header || h.eq_ignore_ascii_case(c.header_en) || h == c.key
                })
            })
            .collect();
        for (c, pos) in COLUMNS.iter().zip(&positions) {
            if c.required && pos.is_none() {
                problems.push(Problem::new(
                    header_row,
                    c.header,
                    "missing_column",
                    format!("the column {} ({}) is missing", c.header, c.header_en),
                ));
            }
        }
        for (i, h) in clean.iter().enumerate() {
            if !h.is_empty() && !positions.contains(&Some(i)) {
                problems.push(Problem::new(
                    header_row,
                    h,
                    "unknown_column",
                    format!("{h:?} is not a column of the template"),
                ));
            }
        }
        if problems.is_empty() {
            Ok(HeaderMap { positions })
        } else {
            Err(problems)
        }
    }

    fn get<'a>(&self, row: &'a [String], key: &str) -> &'a str {
        let index = COLUMNS
            .iter()
            .position(|c| c.key == key)
            .expect("known column");
        self.positions[index]
            .and_then(|p| row.get(p))
            .map(|s| s.trim())
            .unwrap_or("")
    }
}

fn header(key: &str) -> &'static str {
    COLUMNS
        .iter()
        .find(|c| c.key == key)
        .map(|c| c.header)
        .expect("known column")
}

/// One row, checked: where the person lives and who they are.
#[derive(Debug, Clone)]
pub struct RowRecord {
    pub row: usize,
    pub building_code: String,
    pub building_name: Option<String>,
    pub building_address: Option<String>,
    pub grid_code: Option<String>,
    pub room: String,
    pub household_key: String,
    pub name: PersonName,
    pub gender: Option<Gender>,
    pub birth_date: Option<BirthDate>,
    pub document: Option<Document>,
    pub phone: Option<Phone>,
    pub relation: Relation,
    pub moved_in: NaiveDate,
    pub party_status: Option<PartyStatus>,
    pub party_organisation: Option<String>,
    pub skills: Vec<String>,
    pub tags: Vec<String>,
    pub guardian_consent: bool,
}

/// Whether a row holds nothing at all (skipped, not an error).
pub fn is_empty_row(row: &[String]) -> bool {
    row.iter().all(|c| c.trim().is_empty())
}

fn list(value: &str) -> Vec<String> {
    value
        .split(['、', ',', '，', ';', '；'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn text(
    value: &str,
    max: usize,
    row: usize,
    key: &str,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    if value.is_empty() {
        return None;
    }
    if value.chars().count() > max || value.chars().any(char::is_control) {
        problems.push(Problem::new(
            row,
            header(key),
            "too_long",
            format!("at most {max} characters"),
        ));
        return None;
    }
    Some(value.to_owned())
}

/// Checks one row. Every problem of the row is reported, not only the first.
pub fn check_row(
    map: &HeaderMap,
    cells: &[String],
    row: usize,
    today: NaiveDate,
) -> Result<RowRecord, Vec<Problem>> {
    let mut problems = Vec::new();
    let get = |key: &str| -> &str { map.get(cells, key) };
    let rule = |problems: &mut Vec<Problem>, key: &str, e: RegistryRuleError| {
        problems.push(Problem::new(row, header(key), e.code(), e.to_string()));
    };
    let required = |problems: &mut Vec<Problem>, key: &str| {
        if get(key).is_empty() {
            problems.push(Problem::new(
                row,
                header(key),
                "required",
                "this column is required",
            ));
        }
    };
    for key in ["building_code", "room", "name", "relation"] {
        required(&mut problems, key);
    }
    let building_code = text(
        get("building_code"),
        20,
        row,
        "building_code",
        &mut problems,
    )
    .unwrap_or_default();
    let room = text(get("room"), 20, row, "room", &mut problems).unwrap_or_default();
    let name = match PersonName::parse(get("name")) {
        Ok(n) => Some(n),
        Err(e) => {
            if !get("name").is_empty() {
                rule(&mut problems, "name", e);
            }
            None
        }
    };
    let document = match get("document_number") {
        "" => None,
        number => {
            let kind = match get("document_kind") {
                "" => Ok(DocumentKind::IdCard),
                k => DocumentKind::parse(k),
            };
            match kind.and_then(|k| Document::parse(k, number)) {
                Ok(d) => Some(d),
                Err(e) => {
                    let key = if matches!(e, RegistryRuleError::UnknownDocumentKind(_)) {
                        "document_kind"
                    } else {
                        "document_number"
                    };
                    rule(&mut problems, key, e);
                    None
                }
            }
        }
    };
    let mut gender = match get("gender") {
        "" => None,
        g => Gender::parse(g)
            .map_err(|e| rule(&mut problems, "gender", e))
            .ok(),
    };
    let mut birth_date = match get("birth_date") {
        "" => None,
        d => BirthDate::parse(d, today)
            .map_err(|e| rule(&mut problems, "birth_date", e))
            .ok(),
    };
    if let Some(Document::IdCard(id)) = &document {
        match BirthDate::new(id.birth_date(), today) {
            Ok(embedded) => {
                if birth_date.is_some_and(|b| b != embedded) {
                    rule(
                        &mut problems,
                        "birth_date",
                        RegistryRuleError::BirthDateMismatch,
                    );
                }
                birth_date = Some(embedded);
            }
            Err(e) => rule(&mut problems, "document_number", e),
        }
        if gender.is_some_and(|g| g != id.gender()) {
            rule(&mut problems, "gender", RegistryRuleError::GenderMismatch);
        }
        gender = Some(id.gender());
    }
    let phone = match get("phone") {
        "" => None,
        p => Phone::parse(p)
            .map_err(|e| rule(&mut problems, "phone", e))
            .ok(),
    };
    let relation = match get("relation") {
        "" => None,
        r => Relation::parse(r)
            .map_err(|e| rule(&mut problems, "relation", e))
            .ok(),
    };
    let moved_in = match get("moved_in") {
        "" => Some(today),
        d => match BirthDate::parse(d, today) {
            Ok(date) => Some(date.date()),
            Err(_) => {
                problems.push(Problem::new(
                    row,
                    header("moved_in"),
                    "date_format",
                    "a date YYYY-MM-DD, not in the future",
                ));
                None
            }
        },
    };
    let party_status = match get("party_status") {
        "" => None,
        p => PartyStatus::parse(p)
            .map_err(|e| rule(&mut problems, "party_status", e))
            .ok(),
    };
    let guardian_consent = match get("guardian_consent") {
        "" | "否" | "no" | "NO" | "No" => false,
        "是" | "yes" | "YES" | "Yes" => true,
        _ => {
            problems.push(Problem::new(
                row,
                header("guardian_consent"),
                "unknown_value",
                "是 or 否",
            ));
            false
        }
    };
    let skills = list(get("skills"));
    let tags = list(get("tags"));
    if tags.iter().any(|t| super::SensitiveTag::parse(t).is_ok()) {
        problems.push(Problem::new(
            row,
            header("tags"),
            "sensitive_tag_in_tags",
            "a special-group tag is sensitive data: record it with consent, not in the tags column",
        ));
    }
    for (key, items) in [("skills", &skills), ("tags", &tags)] {
        if items.len() > 20 || items.iter().any(|s| s.chars().count() > 30) {
            problems.push(Problem::new(
                row,
                header(key),
                "too_long",
                "up to 20 entries of at most 30 characters",
            ));
        }
    }
    let household_key = match get("household") {
        "" => format!("{building_code}\u{1}{room}"),
        key => key.to_owned(),
    };
    let record = RowRecord {
        row,
        building_name: text(
            get("building_name"),
            60,
            row,
            "building_name",
            &mut problems,
        ),
        building_address: text(
            get("building_address"),
            200,
            row,
            "building_address",
            &mut problems,
        ),
        grid_code: text(get("grid_code"), 20, row, "grid_code", &mut problems),
        party_organisation: text(
            get("party_organisation"),
            100,
            row,
            "party_organisation",
            &mut problems,
        ),
        building_code,
        room,
        household_key,
        name: match name {
            Some(n) => n,
            None => return Err(problems),
        },
        gender,
        birth_date,
        document,
        phone,
        relation: match relation {
            Some(r) => r,
            None => return Err(problems),
        },
        moved_in: match moved_in {
            Some(m) => m,
            None => return Err(problems),
        },
        party_status,
        skills,
        tags,
        guardian_consent,
    };
    if problems.is_empty() {
        Ok(record)
    } else {
        Err(problems)
    }
}

/// Characters that make a spreadsheet treat a cell as a formula (OWASP CSV injection).
const FORMULA_TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Makes a value safe to put in a spreadsheet cell: a value that could start a formula
/// gets a leading apostrophe, so Excel and LibreOffice show it as text.
pub fn neutralise_formula(value: &str) -> String {
    if value.starts_with(FORMULA_TRIGGERS) {
        format!("'{value}")
    } else {
        value.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers() -> Vec<String> {
        COLUMNS.iter().map(|c| c.header.to_owned()).collect()
    }

    fn row(values: &[(&str, &str)]) -> Vec<String> {
        COLUMNS
            .iter()
            .map(|c| {
                values
                    .iter()
                    .find(|(k, _)| *k == c.key)
                    .map(|(_, v)| (*v).to_owned())
                    .unwrap_or_default()
            })
            .collect()
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()
    }

    #[test]
    fn headers_are_matched_in_any_order_and_checked() {
        let mut h = headers();
        h.reverse();
        assert!(HeaderMap::parse(&h, 1).is_ok());
        let problems = HeaderMap::parse(&["姓名".into(), "年龄".into()], 1).unwrap_err();
        let codes: Vec<_> = problems
            .iter()
            .map(|p| (p.column.as_str(), p.code.as_str()))
            .collect();
        assert!(codes.contains(&("楼栋编号", "missing_column")));
        assert!(codes.contains(&("年龄", "unknown_column")));
    }

    #[test]
    fn a_row_reports_all_its_problems_with_their_columns() {
        let map = HeaderMap::parse(&headers(), 1).unwrap();
        let cells = row(&[
            ("building_code", "B01"),
            ("room", "101"),
            ("name", "张三"),
            ("relation", "邻居"),
            ("document_number", "110105194912310021"),
            ("phone", "123"),
        ]);
        let problems = check_row(&map, &cells, 7, today()).unwrap_err();
        let found: Vec<_> = problems
            .iter()
            .map(|p| (p.row, p.column.as_str(), p.code.as_str()))
            .collect();
        assert!(
            found.contains(&(7, "证件号码", "id_number_checksum")),
            "{found:?}"
        );
        assert!(found.contains(&(7, "手机号", "phone_format")));
        assert!(found.contains(&(7, "与户关系", "unknown_value")));
    }

    #[test]
    fn formulas_are_neutralised() {
        assert_eq!(
            neutralise_formula("=HYPERLINK(\"x\")"),
            "'=HYPERLINK(\"x\")"
        );
        assert_eq!(neutralise_formula("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralise_formula("张三"), "张三");
    }
}
