//! Plausible, synthetic Chinese names, phone numbers and ID-card numbers for the demo.
//! Deterministic: the same seed gives the same community on every machine.

use chrono::NaiveDate;
use linli_domain::registry::IdNumber;

/// SplitMix64: tiny, fast and stable across versions, which a library RNG does not promise.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn range(&mut self, lo: u64, hi_inclusive: u64) -> u64 {
        lo + self.below(hi_inclusive - lo + 1)
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Common surnames, most frequent first; picked with a falling weight.
const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "林", "高", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾",
    "肖", "田", "董", "袁", "潘", "于", "蒋", "蔡", "余", "杜", "叶", "程", "苏", "魏", "吕", "丁",
    "任", "沈", "姚", "卢", "姜", "崔", "钟", "谭", "陆", "汪", "范", "金", "石", "廖", "贾", "夏",
    "韦", "付", "方", "白", "邹", "孟", "熊", "秦", "邱", "江", "尹", "薛", "段", "雷", "侯", "龙",
    "史", "陶", "黎", "贺", "顾", "毛", "郝", "龚", "邵", "万", "钱", "严", "覃", "武", "戴", "莫",
    "孔", "向", "汤", "欧阳", "单", "曾",
];

const MALE_CHARS: &[&str] = &[
    "伟", "强", "磊", "军", "勇", "杰", "涛", "斌", "超", "明", "刚", "平", "辉", "鹏", "华", "飞",
    "鑫", "波", "宇", "浩", "凯", "健", "俊", "帆", "帅", "旭", "宁", "龙", "林", "洋", "建", "国",
    "志", "文", "德", "海", "东", "忠", "荣", "新", "振", "家", "子", "晨", "轩",
];

const FEMALE_CHARS: &[&str] = &[
    "芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "燕", "玲", "桂", "英", "秀", "兰", "萍", "婷",
    "雪", "琳", "洁", "倩", "颖", "慧", "莉", "红", "梅", "琴", "云", "晶", "欣", "怡", "佳", "悦",
    "雨", "嘉", "思", "梓", "涵", "诗", "月", "彤", "瑶", "晓", "凤", "珍", "华",
];

/// A surname with weight 1/(rank + 3): the top three come out near 7 % each, as 王, 李
/// and 张 do in the census, and the tail thins out.
pub fn surname(rng: &mut Rng) -> &'static str {
    const SCALE: f64 = 1_000_000.0;
    let weights: Vec<u64> = (0..SURNAMES.len())
        .map(|rank| (SCALE / (rank as f64 + 3.0)) as u64)
        .collect();
    let mut draw = rng.below(weights.iter().sum());
    for (name, weight) in SURNAMES.iter().zip(&weights) {
        if draw < *weight {
            return name;
        }
        draw -= weight;
    }
    SURNAMES[0]
}

pub fn given_name(rng: &mut Rng, male: bool) -> String {
    let pool = if male { MALE_CHARS } else { FEMALE_CHARS };
    let first = *rng.pick(pool);
    if rng.chance(70) {
        format!("{first}{}", rng.pick(pool))
    } else {
        first.to_owned()
    }
}

/// Phone numbers unique by construction: an index passed through a bijection of
/// `0..10^8` behind a mobile prefix, so neighbours do not get neighbouring numbers.
pub fn phone(index: u64, seed: u64) -> String {
    const SPACE: u64 = 100_000_000;
    // 7_919_031 is coprime with 10^8, so the map is one-to-one on 0..10^8.
    let scrambled = (index.wrapping_mul(7_919_031) + seed) % SPACE;
    let prefixes = [
        "139", "138", "137", "136", "135", "158", "186", "189", "177", "150",
    ];
    format!("{}{:08}", prefixes[(index % 10) as usize], scrambled)
}

/// A checksum-valid ID-card number for Pingshan (440310) with the given birth date; the
/// sequence keeps numbers unique and carries the gender (odd for men, even for women).
pub fn id_number(birth: NaiveDate, sequence: u32, male: bool) -> String {
    let seq = (sequence % 500) * 2 + u32::from(male);
    let first17 = format!("440310{}{:03}", birth.format("%Y%m%d"), seq);
    let check = IdNumber::check_char(first17.as_bytes()) as char;
    format!("{first17}{check}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_numbers_are_valid_and_distinct() {
        let birth = NaiveDate::from_ymd_opt(1960, 5, 4).unwrap();
        let id = id_number(birth, 7, true);
        let parsed = IdNumber::parse(&id).unwrap();
        assert_eq!(parsed.birth_date(), birth);
        assert_eq!(parsed.gender(), linli_domain::registry::Gender::Male);
        let phones: std::collections::HashSet<String> = (0..20_000).map(|i| phone(i, 42)).collect();
        assert_eq!(phones.len(), 20_000);
        assert!(
            phones
                .iter()
                .all(|p| linli_domain::registry::Phone::parse(p).is_ok())
        );
    }
}
