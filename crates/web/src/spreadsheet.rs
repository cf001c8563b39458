//! Reading and writing spreadsheets: `.xlsx` (calamine / rust_xlsxwriter, pure Rust) and
//! `.csv` in UTF-8 (with or without BOM) or GBK/GB18030 as Excel on Chinese Windows saves
//! it. Rows come out as text with the row number the spreadsheet shows, so every problem
//! can be reported where the operator will look for it.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use encoding_rs::{DecoderResult, Encoding, GB18030};
use rust_xlsxwriter::{Format, Workbook};

/// Upper bound on rows read from one file.
pub const MAX_ROWS: usize = 200_000;
/// Upper bound on columns per row.
pub const MAX_COLUMNS: usize = 64;

/// A sheet as rows of text; `row` is 1-based as shown in Excel.
#[derive(Debug, Default)]
pub struct Table {
    pub rows: Vec<(usize, Vec<String>)>,
    /// Cells that held a number too long for a spreadsheet to keep exactly (an ID number
    /// typed into a column that was not formatted as text): (row, column index).
    pub lossy_numbers: Vec<(usize, usize)>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReadError {
    #[error("the file is not a readable .xlsx workbook: {0}")]
    Xlsx(String),
    #[error("the workbook has no sheet")]
    NoSheet,
    #[error("the file is neither UTF-8 nor GBK text: malformed bytes at offset {offset}")]
    Encoding { offset: usize },
    #[error("the CSV file cannot be read at line {line}: {message}")]
    Csv { line: u64, message: String },
    #[error("the file has more than {MAX_ROWS} rows")]
    TooManyRows,
    #[error("row {row} has more than {MAX_COLUMNS} columns")]
    TooManyColumns { row: usize },
}

impl ReadError {
    pub fn code(&self) -> &'static str {
        match self {
            ReadError::Xlsx(_) | ReadError::NoSheet => "unreadable_workbook",
            ReadError::Encoding { .. } => "unknown_encoding",
            ReadError::Csv { .. } => "unreadable_csv",
            ReadError::TooManyRows => "too_many_rows",
            ReadError::TooManyColumns { .. } => "too_many_columns",
        }
    }
}

/// Reads an upload: an xlsx workbook (recognised by its zip signature) or CSV text.
pub fn read_table(bytes: &[u8]) -> Result<Table, ReadError> {
    if bytes.starts_with(b"PK\x03\x04") {
        read_xlsx(bytes)
    } else {
        read_csv(bytes)
    }
}

/// Integers below 2^53 print exactly and without ".0"; larger ones were already rounded.
const EXACT: f64 = 9_007_199_254_740_992.0;

fn float_text(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < EXACT {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Float(f) => float_text(*f),
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => if *b { "是" } else { "否" }.to_owned(),
        Data::DateTime(dt) => {
            let (y, m, d, ..) = dt.to_ymd_hms_milli();
            format!("{y:04}-{m:02}-{d:02}")
        }
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.chars().take(10).collect(),
        Data::Error(e) => format!("#{e}"),
    }
}

fn read_xlsx(bytes: &[u8]) -> Result<Table, ReadError> {
    let mut workbook: Xlsx<_> =
        Xlsx::new(Cursor::new(bytes)).map_err(|e| ReadError::Xlsx(e.to_string()))?;
    let first = workbook
        .sheet_names()
        .first()
        .cloned()
        .ok_or(ReadError::NoSheet)?;
    let range = workbook
        .worksheet_range(&first)
        .map_err(|e| ReadError::Xlsx(e.to_string()))?;
    // The range starts at the first non-empty cell, not at A1.
    let (row0, col0) = range
        .start()
        .map(|(r, c)| (r as usize, c as usize))
        .unwrap_or((0, 0));
    if range.height() > MAX_ROWS {
        return Err(ReadError::TooManyRows);
    }
    if col0 + range.width() > MAX_COLUMNS {
        return Err(ReadError::TooManyColumns { row: row0 + 1 });
    }
    let mut table = Table::default();
    for (i, cells) in range.rows().enumerate() {
        let row = row0 + i + 1;
        let mut texts = vec![String::new(); col0];
        for (j, cell) in cells.iter().enumerate() {
            if let Data::Float(f) = cell
                && f.fract() == 0.0
                && f.abs() >= 1e15
            {
                table.lossy_numbers.push((row, col0 + j));
            }
            texts.push(cell_text(cell));
        }
        table.rows.push((row, texts));
    }
    Ok(table)
}

/// Decodes text: a BOM decides; otherwise UTF-8 if it is valid, else GB18030 (a superset
/// of GBK). Bytes that are neither are an error with their offset.
pub fn decode_text(bytes: &[u8]) -> Result<String, ReadError> {
    if let Some((encoding, bom)) = Encoding::for_bom(bytes) {
        return encoding
            .decode_without_bom_handling_and_without_replacement(&bytes[bom..])
            .map(|s| s.into_owned())
            .ok_or(ReadError::Encoding { offset: bom });
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok(text.to_owned());
    }
    let mut decoder = GB18030.new_decoder_without_bom_handling();
    let capacity = decoder
        .max_utf8_buffer_length_without_replacement(bytes.len())
        .ok_or(ReadError::Encoding { offset: 0 })?;
    let mut out = String::with_capacity(capacity);
    let (result, read) = decoder.decode_to_string_without_replacement(bytes, &mut out, true);
    match result {
        DecoderResult::InputEmpty => Ok(out),
        DecoderResult::Malformed(bad, after) => Err(ReadError::Encoding {
            offset: read - after as usize - bad as usize,
        }),
        DecoderResult::OutputFull => Err(ReadError::Encoding { offset: read }),
    }
}

fn read_csv(bytes: &[u8]) -> Result<Table, ReadError> {
    let text = decode_text(bytes)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut table = Table::default();
    for record in reader.records() {
        let record = record.map_err(|e| ReadError::Csv {
            line: e.position().map(|p| p.line()).unwrap_or(0),
            message: e.to_string().chars().take(120).collect(),
        })?;
        let line = record.position().map(|p| p.line() as usize).unwrap_or(0);
        if table.rows.len() >= MAX_ROWS {
            return Err(ReadError::TooManyRows);
        }
        if record.len() > MAX_COLUMNS {
            return Err(ReadError::TooManyColumns { row: line });
        }
        table
            .rows
            .push((line, record.iter().map(str::to_owned).collect()));
    }
    Ok(table)
}

/// One sheet to write: a header row (bold, frozen) and text cells. Columns listed in
/// `text_columns` are formatted as Text, so digits typed there later stay text.
pub struct Sheet<'a> {
    pub name: &'a str,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub text_columns: Vec<usize>,
    /// A note under each header (the template explains its columns).
    pub notes: Option<Vec<String>>,
}

/// Writes an xlsx workbook. Every cell is written as a string, never as a formula.
pub fn write_xlsx(sheet: &Sheet<'_>) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut workbook = Workbook::new();
    let ws = workbook.add_worksheet();
    ws.set_name(sheet.name)?;
    let bold = Format::new().set_bold();
    let text = Format::new().set_num_format("@");
    for &c in &sheet.text_columns {
        ws.set_column_format(c as u16, &text)?;
    }
    for (c, h) in sheet.headers.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, h, &bold)?;
        ws.set_column_width(c as u16, (h.chars().count() * 2 + 4).max(12) as f64)?;
        if let Some(note) = sheet
            .notes
            .as_ref()
            .and_then(|n| n.get(c))
            .filter(|n| !n.is_empty())
        {
            ws.insert_note(
                0,
                c as u16,
                &rust_xlsxwriter::Note::new(note).set_author("邻里"),
            )?;
        }
    }
    for (r, row) in sheet.rows.iter().enumerate() {
        for (c, value) in row.iter().enumerate() {
            if value.is_empty() {
                continue;
            }
            if sheet.text_columns.contains(&c) {
                ws.write_string_with_format(r as u32 + 1, c as u16, value, &text)?;
            } else {
                ws.write_string(r as u32 + 1, c as u16, value)?;
            }
        }
    }
    ws.set_freeze_panes(1, 0)?;
    workbook.save_to_buffer()
}

/// Writes CSV as UTF-8 with a BOM, which Excel needs to show Chinese correctly.
pub fn write_csv(headers: &[String], rows: &[Vec<String>]) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(b"\xEF\xBB\xBF".to_vec());
    writer.write_record(headers)?;
    for row in rows {
        writer.write_record(row)?;
    }
    writer.into_inner().map_err(|e| e.into_error().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xlsx_round_trips_text_and_keeps_row_numbers() {
        let sheet = Sheet {
            name: "居民",
            headers: vec!["姓名".into(), "证件号码".into()],
            rows: vec![
                vec!["张三".into(), "11010519491231002X".into()],
                vec![],
                vec!["李四".into(), "013912345678".into()],
            ],
            text_columns: vec![1],
            notes: None,
        };
        let bytes = write_xlsx(&sheet).unwrap();
        let table = read_table(&bytes).unwrap();
        assert_eq!(
            table.rows[0],
            (1, vec!["姓名".to_owned(), "证件号码".to_owned()])
        );
        assert_eq!(table.rows[1].1[1], "11010519491231002X");
        assert_eq!(
            table.rows[3],
            (4, vec!["李四".to_owned(), "013912345678".to_owned()])
        );
    }

    #[test]
    fn csv_is_read_as_utf8_or_gbk_and_bad_bytes_are_located() {
        let text = "姓名,手机号\n张三,13800138000\n";
        let (gbk, _, _) = encoding_rs::GBK.encode(text);
        for bytes in [
            text.as_bytes().to_vec(),
            gbk.into_owned(),
            [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat(),
        ] {
            let table = read_table(&bytes).unwrap();
            assert_eq!(
                table.rows[1],
                (2, vec!["张三".to_owned(), "13800138000".to_owned()])
            );
        }
        let bad = [b"ab".as_slice(), &[0xD5, 0xC5, 0x81, 0x20]].concat();
        assert_eq!(
            read_table(&bad).unwrap_err(),
            ReadError::Encoding { offset: 4 }
        );
    }
}
