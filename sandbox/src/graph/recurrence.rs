//! `patternedRecurrence` (api-reference 1.3): checking and normalising what clients send, and
//! expanding a pattern into occurrence dates.
//!
//! Patterns: `daily`, `weekly` (with `daysOfWeek` and `firstDayOfWeek`), `absoluteMonthly`,
//! `relativeMonthly` (the `index`-th of the month's days that are in `daysOfWeek`, as Outlook's
//! "first weekday" works), `absoluteYearly`, `relativeYearly`. Ranges: `endDate` (inclusive),
//! `noEnd`, `numbered`. A `dayOfMonth` past the month's end falls on its last day, as Outlook
//! schedules "day 31". Expansion only produces the dates asked for (a window), skipping ahead
//! arithmetically when the range does not count occurrences.

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use serde_json::{Map, Value, json};

use super::error::GraphError;

const PATTERNS: &[&str] = &[
    "daily",
    "weekly",
    "absoluteMonthly",
    "relativeMonthly",
    "absoluteYearly",
    "relativeYearly",
];
const RANGES: &[&str] = &["endDate", "noEnd", "numbered"];
const DAYS: &[&str] = &[
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];
const INDEXES: &[&str] = &["first", "second", "third", "fourth", "last"];
/// Outlook's ceiling for numbered ranges.
const MAX_OCCURRENCES: u64 = 999;
/// A guard against pathological expansions.
const MAX_PERIODS: u64 = 200_000;

fn invalid(message: impl Into<String>) -> GraphError {
    GraphError::new(
        axum::http::StatusCode::BAD_REQUEST,
        "ErrorInvalidRequest",
        message,
    )
}

fn read_error(message: impl Into<String>) -> GraphError {
    GraphError::body_read(message)
}

fn one_of(name: &str, value: &Value, allowed: &[&str]) -> Result<String, GraphError> {
    let raw = value.as_str().ok_or_else(|| {
        read_error(format!(
            "Cannot convert the literal '{value}' to the expected type of property '{name}'."
        ))
    })?;
    allowed
        .iter()
        .find(|a| a.eq_ignore_ascii_case(raw))
        .map(|a| (*a).to_owned())
        .ok_or_else(|| read_error(format!("Requested value '{raw}' was not found.")))
}

fn number(name: &str, value: &Value) -> Result<u64, GraphError> {
    value.as_u64().ok_or_else(|| {
        read_error(format!(
            "Cannot convert the literal '{value}' to the expected type 'Edm.Int32' of property \
             '{name}'."
        ))
    })
}

fn date(name: &str, value: &Value) -> Result<NaiveDate, GraphError> {
    value
        .as_str()
        .and_then(|s| NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok())
        .ok_or_else(|| {
            read_error(format!(
                "Cannot convert the literal '{value}' to the expected type 'Edm.Date' of \
                 property '{name}'."
            ))
        })
}

/// Checks a `recurrence` body and returns it in the full shape Graph answers with (unused
/// numbers 0, `firstDayOfWeek` and `index` filled, `endDate` `0001-01-01` when unused).
/// `recurrenceTimeZone` is kept as given (possibly empty: the event fills in its zone).
pub fn parse(value: &Value) -> Result<Value, GraphError> {
    let Value::Object(fields) = value else {
        return Err(read_error(
            "Cannot convert the literal to the expected type 'microsoft.graph.patternedRecurrence'.",
        ));
    };
    let mut pattern_in = &Map::new();
    let mut range_in = &Map::new();
    for (name, part) in fields {
        match (name.as_str(), part) {
            ("pattern", Value::Object(p)) => pattern_in = p,
            ("range", Value::Object(r)) => range_in = r,
            (n, _) if n.starts_with('@') => {}
            ("pattern" | "range", _) => {
                return Err(read_error(format!(
                    "The property '{name}' must be an object."
                )));
            }
            (other, _) => {
                return Err(read_error(format!(
                    "The property '{other}' does not exist on type \
                     'microsoft.graph.patternedRecurrence'."
                )));
            }
        }
    }
    let mut kind = None;
    let mut interval = 1;
    let mut month = 0;
    let mut day_of_month = 0;
    let mut days: Vec<String> = Vec::new();
    let mut first_day = "sunday".to_owned();
    let mut index = "first".to_owned();
    for (name, part) in pattern_in {
        match name.as_str() {
            "type" => kind = Some(one_of(name, part, PATTERNS)?),
            "interval" => interval = number(name, part)?,
            "month" => month = number(name, part)?,
            "dayOfMonth" => day_of_month = number(name, part)?,
            "daysOfWeek" => {
                let Value::Array(items) = part else {
                    return Err(read_error("daysOfWeek must be a collection."));
                };
                days = items
                    .iter()
                    .map(|d| one_of(name, d, DAYS))
                    .collect::<Result<_, _>>()?;
            }
            "firstDayOfWeek" => first_day = one_of(name, part, DAYS)?,
            "index" => index = one_of(name, part, INDEXES)?,
            n if n.starts_with('@') => {}
            other => {
                return Err(read_error(format!(
                    "The property '{other}' does not exist on type \
                     'microsoft.graph.recurrencePattern'."
                )));
            }
        }
    }
    let kind = kind.ok_or_else(|| invalid("The recurrence pattern type is required."))?;
    if interval < 1 {
        return Err(invalid("The recurrence interval must be at least 1."));
    }
    match kind.as_str() {
        "weekly" | "relativeMonthly" | "relativeYearly" if days.is_empty() => {
            return Err(invalid(format!("A {kind} pattern requires daysOfWeek.")));
        }
        "absoluteMonthly" | "absoluteYearly" if !(1..=31).contains(&day_of_month) => {
            return Err(invalid(format!(
                "A {kind} pattern requires dayOfMonth 1..31."
            )));
        }
        _ => {}
    }
    if kind.ends_with("Yearly") && !(1..=12).contains(&month) {
        return Err(invalid(format!("A {kind} pattern requires month 1..12.")));
    }
    let mut range_kind = None;
    let mut start = None;
    let mut end = None;
    let mut count = 0;
    let mut zone = String::new();
    for (name, part) in range_in {
        match name.as_str() {
            "type" => range_kind = Some(one_of(name, part, RANGES)?),
            "startDate" => start = Some(date(name, part)?),
            "endDate" if part.as_str() == Some("0001-01-01") => {}
            "endDate" => end = Some(date(name, part)?),
            "numberOfOccurrences" => count = number(name, part)?,
            "recurrenceTimeZone" => {
                zone = part.as_str().unwrap_or_default().to_owned();
            }
            n if n.starts_with('@') => {}
            other => {
                return Err(read_error(format!(
                    "The property '{other}' does not exist on type \
                     'microsoft.graph.recurrenceRange'."
                )));
            }
        }
    }
    let range_kind = range_kind.ok_or_else(|| invalid("The recurrence range type is required."))?;
    let start = start.ok_or_else(|| invalid("The recurrence range startDate is required."))?;
    match range_kind.as_str() {
        "endDate" => match end {
            None => return Err(invalid("An endDate range requires endDate.")),
            Some(end) if end < start => {
                return Err(invalid("The recurrence endDate is before its startDate."));
            }
            _ => {}
        },
        "numbered" if !(1..=MAX_OCCURRENCES).contains(&count) => {
            return Err(invalid(
                "A numbered range requires numberOfOccurrences 1..999.",
            ));
        }
        _ => {}
    }
    if range_kind != "endDate" {
        end = None;
    }
    if range_kind != "numbered" {
        count = 0;
    }
    Ok(json!({
        "pattern": {
            "type": kind,
            "interval": interval,
            "month": month,
            "dayOfMonth": day_of_month,
            "daysOfWeek": days,
            "firstDayOfWeek": first_day,
            "index": index,
        },
        "range": {
            "type": range_kind,
            "startDate": start.to_string(),
            "endDate": end.map_or_else(|| "0001-01-01".to_owned(), |d| d.to_string()),
            "recurrenceTimeZone": zone,
            "numberOfOccurrences": count,
        }
    }))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pattern {
    Daily,
    Weekly,
    AbsoluteMonthly,
    RelativeMonthly,
    AbsoluteYearly,
    RelativeYearly,
}

/// A normalised recurrence, ready to expand.
#[derive(Debug, Clone)]
pub struct Rule {
    pattern: Pattern,
    interval: u64,
    month: u32,
    day_of_month: u32,
    days: Vec<Weekday>,
    first_day: Weekday,
    /// 1..=4, or 5 for `last`.
    index: u32,
    pub start: NaiveDate,
    end: Option<NaiveDate>,
    count: Option<u64>,
}

fn weekday(name: &str) -> Option<Weekday> {
    Some(match name {
        "sunday" => Weekday::Sun,
        "monday" => Weekday::Mon,
        "tuesday" => Weekday::Tue,
        "wednesday" => Weekday::Wed,
        "thursday" => Weekday::Thu,
        "friday" => Weekday::Fri,
        "saturday" => Weekday::Sat,
        _ => return None,
    })
}

impl Rule {
    /// A rule from a value [`parse`] produced.
    pub fn from_value(value: &Value) -> Option<Rule> {
        let pattern = &value["pattern"];
        let range = &value["range"];
        let kind = match pattern["type"].as_str()? {
            "daily" => Pattern::Daily,
            "weekly" => Pattern::Weekly,
            "absoluteMonthly" => Pattern::AbsoluteMonthly,
            "relativeMonthly" => Pattern::RelativeMonthly,
            "absoluteYearly" => Pattern::AbsoluteYearly,
            "relativeYearly" => Pattern::RelativeYearly,
            _ => return None,
        };
        let start = NaiveDate::parse_from_str(range["startDate"].as_str()?, "%Y-%m-%d").ok()?;
        let (end, count) = match range["type"].as_str()? {
            "endDate" => (
                NaiveDate::parse_from_str(range["endDate"].as_str()?, "%Y-%m-%d").ok(),
                None,
            ),
            "numbered" => (None, range["numberOfOccurrences"].as_u64()),
            _ => (None, None),
        };
        let index = match pattern["index"].as_str().unwrap_or("first") {
            "second" => 2,
            "third" => 3,
            "fourth" => 4,
            "last" => 5,
            _ => 1,
        };
        Some(Rule {
            pattern: kind,
            interval: pattern["interval"].as_u64().unwrap_or(1).max(1),
            month: pattern["month"].as_u64().unwrap_or(0) as u32,
            day_of_month: pattern["dayOfMonth"].as_u64().unwrap_or(0) as u32,
            days: pattern["daysOfWeek"]
                .as_array()
                .map(|d| d.iter().filter_map(|x| weekday(x.as_str()?)).collect())
                .unwrap_or_default(),
            first_day: pattern["firstDayOfWeek"]
                .as_str()
                .and_then(weekday)
                .unwrap_or(Weekday::Sun),
            index,
            start,
            end,
            count,
        })
    }

    fn period_start(&self, p: u64) -> Option<NaiveDate> {
        let step = i64::try_from(p.checked_mul(self.interval)?).ok()?;
        match self.pattern {
            Pattern::Daily => self.start.checked_add_signed(Duration::days(step)),
            Pattern::Weekly => {
                week_start(self.start, self.first_day).checked_add_signed(Duration::weeks(step))
            }
            Pattern::AbsoluteMonthly | Pattern::RelativeMonthly => {
                let months =
                    i64::from(self.start.year()) * 12 + i64::from(self.start.month0()) + step;
                NaiveDate::from_ymd_opt(
                    i32::try_from(months.div_euclid(12)).ok()?,
                    u32::try_from(months.rem_euclid(12)).ok()? + 1,
                    1,
                )
            }
            Pattern::AbsoluteYearly | Pattern::RelativeYearly => NaiveDate::from_ymd_opt(
                self.start.year().checked_add(i32::try_from(step).ok()?)?,
                self.month.clamp(1, 12),
                1,
            ),
        }
    }

    /// The dates the pattern produces in period `p`, in order.
    fn period_dates(&self, p: u64) -> Vec<NaiveDate> {
        let Some(first) = self.period_start(p) else {
            return Vec::new();
        };
        match self.pattern {
            Pattern::Daily => vec![first],
            Pattern::Weekly => (0..7)
                .filter_map(|d| first.checked_add_signed(Duration::days(d)))
                .filter(|d| self.days.contains(&d.weekday()))
                .collect(),
            Pattern::AbsoluteMonthly | Pattern::AbsoluteYearly => {
                let last = last_day(first);
                first
                    .with_day(self.day_of_month.min(last))
                    .into_iter()
                    .collect()
            }
            Pattern::RelativeMonthly | Pattern::RelativeYearly => {
                let matching: Vec<NaiveDate> = (0..last_day(first))
                    .filter_map(|d| first.checked_add_signed(Duration::days(i64::from(d))))
                    .filter(|d| self.days.contains(&d.weekday()))
                    .collect();
                let chosen = if self.index == 5 {
                    matching.last()
                } else {
                    matching.get(self.index as usize - 1)
                };
                chosen.copied().into_iter().collect()
            }
        }
    }

    /// The first period that can hold a date on or after `from` (0 when occurrences are
    /// counted: they must be counted from the start).
    fn first_period(&self, from: NaiveDate) -> u64 {
        if self.count.is_some() || from <= self.start {
            return 0;
        }
        let periods = match self.pattern {
            Pattern::Daily => (from - self.start).num_days(),
            Pattern::Weekly => (week_start(from, self.first_day)
                - week_start(self.start, self.first_day))
            .num_weeks(),
            Pattern::AbsoluteMonthly | Pattern::RelativeMonthly => {
                i64::from(from.year() - self.start.year()) * 12 + i64::from(from.month0())
                    - i64::from(self.start.month0())
            }
            Pattern::AbsoluteYearly | Pattern::RelativeYearly => {
                i64::from(from.year() - self.start.year())
            }
        };
        (u64::try_from(periods).unwrap_or(0) / self.interval).saturating_sub(1)
    }

    /// The occurrence dates within `from..=until`, in order.
    pub fn dates(&self, from: NaiveDate, until: NaiveDate) -> Vec<NaiveDate> {
        let last = match self.end {
            Some(end) => end.min(until),
            None => until,
        };
        let mut found = Vec::new();
        let mut counted = 0;
        let mut period = self.first_period(from);
        for _ in 0..MAX_PERIODS {
            let Some(period_start) = self.period_start(period) else {
                break;
            };
            if period_start > last {
                break;
            }
            for date in self.period_dates(period) {
                if date < self.start {
                    continue;
                }
                if date > last || self.count.is_some_and(|c| counted >= c) {
                    return found;
                }
                counted += 1;
                if date >= from {
                    found.push(date);
                }
            }
            if self.count.is_some_and(|c| counted >= c) {
                break;
            }
            period += 1;
        }
        found
    }

    /// Whether `date` is an occurrence of the series.
    pub fn occurs_on(&self, date: NaiveDate) -> bool {
        self.dates(date, date).contains(&date)
    }
}

fn week_start(date: NaiveDate, first_day: Weekday) -> NaiveDate {
    let back = (7 + date.weekday().num_days_from_sunday() - first_day.num_days_from_sunday()) % 7;
    date - Duration::days(i64::from(back))
}

fn last_day(first_of_month: NaiveDate) -> u32 {
    let next = if first_of_month.month() == 12 {
        NaiveDate::from_ymd_opt(first_of_month.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(first_of_month.year(), first_of_month.month() + 1, 1)
    };
    next.map_or(28, |n| (n - first_of_month).num_days() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    fn rule(pattern: Value, range: Value) -> Rule {
        let value = parse(&json!({"pattern": pattern, "range": range})).expect("valid");
        Rule::from_value(&value).expect("rule")
    }

    #[test]
    fn parse_fills_the_published_shape() {
        let value = parse(&json!({
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["Monday"]},
            "range": {"type": "endDate", "startDate": "2017-09-04", "endDate": "2017-12-31"},
        }))
        .expect("valid");
        assert_eq!(
            value,
            json!({
                "pattern": {"type": "weekly", "interval": 1, "month": 0, "dayOfMonth": 0,
                            "daysOfWeek": ["monday"], "firstDayOfWeek": "sunday", "index": "first"},
                "range": {"type": "endDate", "startDate": "2017-09-04", "endDate": "2017-12-31",
                          "recurrenceTimeZone": "", "numberOfOccurrences": 0},
            })
        );
        for bad in [
            json!({"pattern": {"type": "weekly"}, "range": {"type": "noEnd", "startDate": "2020-01-01"}}),
            json!({"pattern": {"type": "daily"}, "range": {"type": "numbered", "startDate": "2020-01-01"}}),
            json!({"pattern": {"type": "hourly"}, "range": {"type": "noEnd", "startDate": "2020-01-01"}}),
            json!({"pattern": {"type": "daily"}, "range": {"type": "endDate", "startDate": "2020-01-02", "endDate": "2020-01-01"}}),
            json!({"pattern": {"type": "absoluteYearly", "dayOfMonth": 3}, "range": {"type": "noEnd", "startDate": "2020-01-01"}}),
        ] {
            assert!(parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn weekly_with_interval_and_end_date() {
        let r = rule(
            json!({"type": "weekly", "interval": 2, "daysOfWeek": ["monday", "thursday"]}),
            json!({"type": "endDate", "startDate": "2024-01-03", "endDate": "2024-02-01"}),
        );
        // 2024-01-03 is a Wednesday: the first week gives Thursday only.
        assert_eq!(
            r.dates(day(2024, 1, 1), day(2024, 12, 31)),
            [
                day(2024, 1, 4),
                day(2024, 1, 15),
                day(2024, 1, 18),
                day(2024, 1, 29),
                day(2024, 2, 1)
            ]
        );
        // A window in the middle gives the same dates as a full expansion.
        assert_eq!(
            r.dates(day(2024, 1, 16), day(2024, 1, 30)),
            [day(2024, 1, 18), day(2024, 1, 29)]
        );
    }

    #[test]
    fn monthly_yearly_and_numbered() {
        let r = rule(
            json!({"type": "absoluteMonthly", "dayOfMonth": 31}),
            json!({"type": "numbered", "startDate": "2024-01-01", "numberOfOccurrences": 3}),
        );
        assert_eq!(
            r.dates(day(2024, 1, 1), day(2025, 1, 1)),
            [day(2024, 1, 31), day(2024, 2, 29), day(2024, 3, 31)]
        );
        let r = rule(
            json!({"type": "relativeMonthly", "daysOfWeek": ["friday"], "index": "last"}),
            json!({"type": "noEnd", "startDate": "2024-01-01"}),
        );
        assert_eq!(
            r.dates(day(2030, 5, 1), day(2030, 6, 30)),
            [day(2030, 5, 31), day(2030, 6, 28)]
        );
        let r = rule(
            json!({"type": "relativeMonthly", "daysOfWeek": ["saturday", "sunday"], "index": "second"}),
            json!({"type": "noEnd", "startDate": "2024-06-01"}),
        );
        assert_eq!(
            r.dates(day(2024, 6, 1), day(2024, 6, 30)),
            [day(2024, 6, 2)]
        );
        let r = rule(
            json!({"type": "absoluteYearly", "dayOfMonth": 29, "month": 2}),
            json!({"type": "noEnd", "startDate": "2024-01-01"}),
        );
        assert_eq!(
            r.dates(day(2024, 1, 1), day(2026, 12, 31)),
            [day(2024, 2, 29), day(2025, 2, 28), day(2026, 2, 28)]
        );
        let r = rule(
            json!({"type": "relativeYearly", "daysOfWeek": ["thursday"], "index": "fourth", "month": 11}),
            json!({"type": "noEnd", "startDate": "2020-01-01"}),
        );
        assert_eq!(
            r.dates(day(2024, 1, 1), day(2024, 12, 31)),
            [day(2024, 11, 28)]
        );
        let r = rule(
            json!({"type": "daily", "interval": 3}),
            json!({"type": "noEnd", "startDate": "2000-01-01"}),
        );
        let dates = r.dates(day(2024, 1, 1), day(2024, 1, 10));
        assert_eq!(dates.len(), 4);
        assert!(
            dates
                .iter()
                .all(|d| (*d - day(2000, 1, 1)).num_days() % 3 == 0)
        );
        assert!(r.occurs_on(dates[0]) && !r.occurs_on(dates[0].succ_opt().expect("day")));
    }
}
