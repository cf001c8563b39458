//! Times in JSON exactly as chrono's serde writes them (`2026-11-30T07:08:22Z`, with
//! 3, 6 or 9 fraction digits when there is a fraction), but formatted straight into a
//! buffer. chrono goes through `fmt::Display` one character at a time, which made up a
//! tenth of a matter list page's time; list views use these with `serialize_with`.

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::Serializer;

/// For a `DateTime<Utc>` field.
pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; 30];
    match write(t, &mut buf) {
        Some(text) => s.serialize_str(text),
        None => serde::Serialize::serialize(t, s),
    }
}

/// For an `Option<DateTime<Utc>>` field.
pub mod option {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::serialize(t, s),
            None => s.serialize_none(),
        }
    }
}

/// Writes `t` into `buf`; `None` for what chrono writes differently (years outside
/// 0–9999, leap seconds), which then goes to chrono.
fn write<'b>(t: &DateTime<Utc>, buf: &'b mut [u8; 30]) -> Option<&'b str> {
    let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
    let nanos = t.nanosecond();
    if nanos >= 1_000_000_000 {
        return None;
    }
    let digits = |buf: &mut [u8], mut n: u32| {
        for b in buf.iter_mut().rev() {
            *b = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    digits(&mut buf[0..4], year);
    buf[4] = b'-';
    digits(&mut buf[5..7], t.month());
    buf[7] = b'-';
    digits(&mut buf[8..10], t.day());
    buf[10] = b'T';
    digits(&mut buf[11..13], t.hour());
    buf[13] = b':';
    digits(&mut buf[14..16], t.minute());
    buf[16] = b':';
    digits(&mut buf[17..19], t.second());
    let mut end = 19;
    let fraction = match nanos {
        0 => None,
        n if n % 1_000_000 == 0 => Some((n / 1_000_000, 3)),
        n if n % 1_000 == 0 => Some((n / 1_000, 6)),
        n => Some((n, 9)),
    };
    if let Some((value, width)) = fraction {
        buf[19] = b'.';
        digits(&mut buf[20..20 + width], value);
        end = 20 + width;
    }
    buf[end] = b'Z';
    std::str::from_utf8(&buf[..=end]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize)]
    struct Ours {
        #[serde(serialize_with = "serialize")]
        t: DateTime<Utc>,
        #[serde(serialize_with = "option::serialize")]
        o: Option<DateTime<Utc>>,
    }

    #[derive(serde::Serialize)]
    struct Chronos {
        t: DateTime<Utc>,
        o: Option<DateTime<Utc>>,
    }

    #[test]
    fn writes_times_exactly_as_chrono_does() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for i in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            // From before year 0 to after 9999, so the fallback is exercised too.
            let secs = (seed % 400_000_000_000) as i64 - 100_000_000_000;
            let nanos = match i % 5 {
                0 => 0,
                1 => (seed >> 40) as u32 % 1_000 * 1_000_000,
                2 => (seed >> 40) as u32 % 1_000_000 * 1_000,
                3 => (seed >> 34) as u32 % 1_000_000_000,
                // A leap second, as chrono represents one.
                _ => 1_000_000_000 + (seed >> 40) as u32 % 1_000,
            };
            let Some(t) = DateTime::from_timestamp(secs, nanos) else {
                continue;
            };
            let o = (i % 2 == 0).then_some(t);
            assert_eq!(
                serde_json::to_string(&Ours { t, o }).unwrap(),
                serde_json::to_string(&Chronos { t, o }).unwrap(),
                "{secs} {nanos}"
            );
        }
    }
}
