//! Graph `patternedRecurrence` ⇄ the canonical RRULE (see `connector_kit::calendar::Rule`).

use chrono::{Datelike, NaiveDate, Weekday};
use connector_kit::calendar::{Freq, Rule};
use serde_json::{Map, Value, json};

const DAYS: [(&str, Weekday); 7] = [
    ("monday", Weekday::Mon),
    ("tuesday", Weekday::Tue),
    ("wednesday", Weekday::Wed),
    ("thursday", Weekday::Thu),
    ("friday", Weekday::Fri),
    ("saturday", Weekday::Sat),
    ("sunday", Weekday::Sun),
];

const INDEXES: [(&str, i32); 5] = [
    ("first", 1),
    ("second", 2),
    ("third", 3),
    ("fourth", 4),
    ("last", -1),
];

fn int(obj: &Map<String, Value>, key: &str) -> Option<i64> {
    obj.get(key).and_then(Value::as_i64)
}

fn text<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    obj.get(key).and_then(Value::as_str)
}

/// Reads a Graph recurrence into a rule. `None` for `null`.
pub fn from_graph(value: &Value) -> Result<Option<Rule>, String> {
    let recurrence = match value {
        Value::Null => return Ok(None),
        Value::Object(o) => o,
        _ => return Err("recurrence must be an object".into()),
    };
    let pattern = recurrence
        .get("pattern")
        .and_then(Value::as_object)
        .ok_or("recurrence without a pattern")?;
    let range = recurrence
        .get("range")
        .and_then(Value::as_object)
        .ok_or("recurrence without a range")?;
    let kind = text(pattern, "type").ok_or("pattern without a type")?;
    let freq = match kind {
        "daily" => Freq::Daily,
        "weekly" => Freq::Weekly,
        "absoluteMonthly" | "relativeMonthly" => Freq::Monthly,
        "absoluteYearly" | "relativeYearly" => Freq::Yearly,
        other => return Err(format!("recurrence pattern `{other}` is not supported")),
    };
    let mut rule = Rule::new(freq);
    rule.interval = int(pattern, "interval").unwrap_or(1).max(1) as u32;
    let days: Vec<Weekday> = match pattern.get("daysOfWeek") {
        Some(Value::Array(days)) => days
            .iter()
            .filter_map(Value::as_str)
            .map(|d| {
                DAYS.iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case(d))
                    .map(|(_, w)| *w)
                    .ok_or_else(|| format!("`{d}` is not a day of the week"))
            })
            .collect::<Result<_, _>>()?,
        _ => Vec::new(),
    };
    let relative = kind.starts_with("relative");
    if kind == "weekly" || relative {
        rule.by_day = days;
        rule.by_day.sort_by_key(Weekday::num_days_from_monday);
        rule.by_day.dedup();
    }
    if relative {
        let index = text(pattern, "index").unwrap_or("first");
        rule.by_set_pos = Some(
            INDEXES
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(index))
                .map(|(_, n)| *n)
                .ok_or_else(|| format!("`{index}` is not a week index"))?,
        );
    }
    if kind.starts_with("absolute") {
        rule.by_month_day = int(pattern, "dayOfMonth")
            .filter(|d| *d > 0)
            .map(|d| d as u32);
    }
    if kind.ends_with("Yearly") {
        rule.by_month = int(pattern, "month").filter(|m| *m > 0).map(|m| m as u32);
    }
    match text(range, "type").unwrap_or("noEnd") {
        "endDate" => {
            let end = text(range, "endDate").ok_or("an endDate range without endDate")?;
            rule.until = Some(date(end)?);
        }
        "numbered" => {
            rule.count = int(range, "numberOfOccurrences")
                .filter(|n| *n > 0)
                .map(|n| n as u32)
        }
        _ => {}
    }
    let start = text(range, "startDate").map(date).transpose()?;
    Ok(Some(match start {
        Some(start) => rule.complete_with_start(start),
        None => rule,
    }))
}

fn date(value: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| format!("`{value}` is not a date"))
}

/// Writes a rule as a Graph recurrence starting on `start` (the first day, in the event's zone)
/// in `zone` (the name written to `recurrenceTimeZone`). A rule Graph cannot express is refused.
pub fn to_graph(rule: &Rule, start: NaiveDate, zone: &str) -> Result<Value, String> {
    if !rule.other.is_empty() {
        return Err(format!(
            "Outlook cannot hold the recurrence parts {}",
            rule.other.join(";")
        ));
    }
    let rule = rule.clone().complete_with_start(start);
    let days: Vec<&str> = rule
        .by_day
        .iter()
        .map(|d| {
            DAYS.iter()
                .find(|(_, w)| w == d)
                .map(|(n, _)| *n)
                .unwrap_or("monday")
        })
        .collect();
    let index = rule.by_set_pos.map(|p| {
        INDEXES
            .iter()
            .find(|(_, n)| *n == p)
            .map(|(name, _)| *name)
            .ok_or_else(|| format!("Outlook cannot hold BYSETPOS={p}"))
    });
    let mut pattern = Map::new();
    pattern.insert("interval".into(), json!(rule.interval.max(1)));
    let kind = match (
        rule.freq,
        rule.by_set_pos.is_some() || !rule.by_day.is_empty(),
    ) {
        (Freq::Daily, _) => "daily",
        (Freq::Weekly, _) => "weekly",
        (Freq::Monthly, false) => "absoluteMonthly",
        (Freq::Monthly, true) => "relativeMonthly",
        (Freq::Yearly, false) => "absoluteYearly",
        (Freq::Yearly, true) => "relativeYearly",
    };
    pattern.insert("type".into(), json!(kind));
    if matches!(kind, "weekly" | "relativeMonthly" | "relativeYearly") {
        pattern.insert("daysOfWeek".into(), json!(days));
    }
    if kind == "weekly" {
        pattern.insert("firstDayOfWeek".into(), json!("sunday"));
    }
    if kind.starts_with("relative") {
        pattern.insert("index".into(), json!(index.transpose()?.unwrap_or("first")));
    }
    if kind.starts_with("absolute") {
        pattern.insert(
            "dayOfMonth".into(),
            json!(rule.by_month_day.unwrap_or(start.day())),
        );
    }
    if kind.ends_with("Yearly") {
        pattern.insert(
            "month".into(),
            json!(rule.by_month.unwrap_or(start.month())),
        );
    }
    let mut range = Map::new();
    range.insert(
        "startDate".into(),
        json!(start.format("%Y-%m-%d").to_string()),
    );
    range.insert("recurrenceTimeZone".into(), json!(zone));
    match (rule.until, rule.count) {
        (Some(until), _) => {
            range.insert("type".into(), json!("endDate"));
            range.insert(
                "endDate".into(),
                json!(until.format("%Y-%m-%d").to_string()),
            );
        }
        (None, Some(count)) => {
            range.insert("type".into(), json!("numbered"));
            range.insert("numberOfOccurrences".into(), json!(count));
        }
        (None, None) => {
            range.insert("type".into(), json!("noEnd"));
        }
    }
    Ok(json!({"pattern": pattern, "range": range}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        date(s).unwrap()
    }

    #[test]
    fn every_pattern_round_trips() {
        let start = day("2026-03-23"); // a Monday
        for rrule in [
            "FREQ=DAILY;INTERVAL=2;COUNT=10",
            "FREQ=WEEKLY;INTERVAL=1;BYDAY=MO,WE,FR;UNTIL=20261231",
            "FREQ=MONTHLY;INTERVAL=1;BYMONTHDAY=23",
            "FREQ=MONTHLY;INTERVAL=3;BYDAY=FR;BYSETPOS=-1",
            "FREQ=YEARLY;INTERVAL=1;BYMONTHDAY=23;BYMONTH=3",
            "FREQ=YEARLY;INTERVAL=1;BYDAY=MO;BYMONTH=3;BYSETPOS=4;COUNT=5",
        ] {
            let rule = Rule::parse(rrule).unwrap();
            let graph = to_graph(&rule, start, "W. Europe Standard Time").unwrap();
            let back = from_graph(&graph).unwrap().unwrap();
            assert_eq!(back.to_canonical(), rrule, "{graph}");
        }
    }

    #[test]
    fn implicit_days_come_from_the_start_and_unknown_parts_are_refused() {
        let rule = Rule::parse("FREQ=WEEKLY").unwrap();
        let graph = to_graph(&rule, day("2026-03-24"), "UTC").unwrap();
        assert_eq!(graph["pattern"]["daysOfWeek"], json!(["tuesday"]));
        let rule = Rule::parse("FREQ=DAILY;BYHOUR=9").unwrap();
        assert!(to_graph(&rule, day("2026-03-24"), "UTC").is_err());
    }
}
