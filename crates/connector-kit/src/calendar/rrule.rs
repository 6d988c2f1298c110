//! The canonical recurrence rule: an RFC 5545 `RRULE` value restricted to what both Graph's
//! `patternedRecurrence` and Zoho's `Recurring_Activity` express, written one way only, so the
//! same series read from either side gives the same string.
//!
//! Canonical form: `FREQ=…;INTERVAL=n[;BYDAY=MO,TU][;BYMONTHDAY=d][;BYMONTH=m][;BYSETPOS=k]`
//! `[;COUNT=n][;UNTIL=YYYYMMDD]`, days in Monday-first order, `UNTIL` a date (the series' last
//! day, in the event's zone), never `DTSTART` (the event's start is the series' start). Parts
//! outside that set are kept verbatim after the known ones, so nothing is silently dropped; a
//! side that cannot write them refuses the item.

use chrono::{NaiveDate, Weekday};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freq {
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

impl Freq {
    fn as_str(self) -> &'static str {
        match self {
            Freq::Daily => "DAILY",
            Freq::Weekly => "WEEKLY",
            Freq::Monthly => "MONTHLY",
            Freq::Yearly => "YEARLY",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub freq: Freq,
    pub interval: u32,
    /// Monday-first, no duplicates.
    pub by_day: Vec<Weekday>,
    pub by_month_day: Option<u32>,
    pub by_month: Option<u32>,
    /// 1..=4 or -1 ("last"), with `by_day`: the n-th such weekday of the month.
    pub by_set_pos: Option<i32>,
    pub count: Option<u32>,
    pub until: Option<NaiveDate>,
    /// Parts we do not model (`BYHOUR`, `WKST`, ...), as `NAME=value`.
    pub other: Vec<String>,
}

impl Rule {
    pub fn new(freq: Freq) -> Rule {
        Rule {
            freq,
            interval: 1,
            by_day: Vec::new(),
            by_month_day: None,
            by_month: None,
            by_set_pos: None,
            count: None,
            until: None,
            other: Vec::new(),
        }
    }

    /// Parses an RFC 5545 or Zoho rule: `RRULE:` prefix optional, any part order and case,
    /// `UNTIL` as `YYYYMMDD`, `YYYY-MM-DD` or a date-time (its date is kept), `DTSTART` ignored,
    /// `BYDAY=2MO` read as `BYDAY=MO;BYSETPOS=2`.
    pub fn parse(value: &str) -> Result<Rule, String> {
        let value = value.trim();
        let value = value
            .strip_prefix("RRULE:")
            .or_else(|| value.strip_prefix("rrule:"))
            .unwrap_or(value);
        let mut freq = None;
        let mut rule = Rule::new(Freq::Daily);
        for part in value.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, raw) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}` is not NAME=value"))?;
            let name = name.trim().to_ascii_uppercase();
            let raw = raw.trim();
            match name.as_str() {
                "FREQ" => {
                    freq = Some(match raw.to_ascii_uppercase().as_str() {
                        "DAILY" => Freq::Daily,
                        "WEEKLY" => Freq::Weekly,
                        "MONTHLY" => Freq::Monthly,
                        "YEARLY" => Freq::Yearly,
                        other => return Err(format!("FREQ={other} is not supported")),
                    })
                }
                "INTERVAL" => rule.interval = number(&name, raw)?.max(1),
                "COUNT" => rule.count = Some(number(&name, raw)?),
                "BYMONTHDAY" => rule.by_month_day = Some(number(&name, raw)?),
                "BYMONTH" => rule.by_month = Some(number(&name, raw)?),
                "BYSETPOS" => {
                    rule.by_set_pos = Some(raw.parse().map_err(|_| format!("BYSETPOS={raw}"))?)
                }
                "UNTIL" => rule.until = Some(until(raw)?),
                "DTSTART" => {}
                "BYDAY" => {
                    for day in raw.split(',').map(str::trim).filter(|d| !d.is_empty()) {
                        let split = day.len().saturating_sub(2);
                        let (ordinal, code) = day.split_at(split);
                        let weekday = weekday(code)?;
                        if !ordinal.is_empty() {
                            let n: i32 = ordinal
                                .trim_start_matches('+')
                                .parse()
                                .map_err(|_| format!("BYDAY={day}"))?;
                            rule.by_set_pos = Some(n);
                        }
                        if !rule.by_day.contains(&weekday) {
                            rule.by_day.push(weekday);
                        }
                    }
                    rule.by_day.sort_by_key(Weekday::num_days_from_monday);
                }
                _ => rule.other.push(format!("{name}={raw}")),
            }
        }
        rule.freq = freq.ok_or("a rule without FREQ")?;
        rule.other.sort();
        Ok(rule)
    }

    /// The canonical string (see the module docs).
    pub fn to_canonical(&self) -> String {
        let mut parts = vec![
            format!("FREQ={}", self.freq.as_str()),
            format!("INTERVAL={}", self.interval.max(1)),
        ];
        if !self.by_day.is_empty() {
            parts.push(format!("BYDAY={}", self.days()));
        }
        if let Some(d) = self.by_month_day {
            parts.push(format!("BYMONTHDAY={d}"));
        }
        if let Some(m) = self.by_month {
            parts.push(format!("BYMONTH={m}"));
        }
        if let Some(p) = self.by_set_pos {
            parts.push(format!("BYSETPOS={p}"));
        }
        if let Some(c) = self.count {
            parts.push(format!("COUNT={c}"));
        }
        if let Some(u) = self.until {
            parts.push(format!("UNTIL={}", u.format("%Y%m%d")));
        }
        parts.extend(self.other.iter().cloned());
        parts.join(";")
    }

    /// Makes implicit parts explicit from the series' first day (in the event's zone): a weekly
    /// rule without days recurs on the start's weekday, a monthly one on its day of the month, a
    /// yearly one on its month and day. Graph always states them, Zoho and RFC 5545 may not.
    pub fn complete_with_start(mut self, start: NaiveDate) -> Rule {
        use chrono::Datelike;
        match self.freq {
            Freq::Daily => {}
            Freq::Weekly if self.by_day.is_empty() => self.by_day = vec![start.weekday()],
            Freq::Weekly => {}
            Freq::Monthly | Freq::Yearly => {
                if self.by_day.is_empty() && self.by_month_day.is_none() {
                    self.by_month_day = Some(start.day());
                }
                if self.freq == Freq::Yearly && self.by_month.is_none() {
                    self.by_month = Some(start.month());
                }
            }
        }
        self
    }

    /// The dates of the series starting on `start` (its first day, in the event's zone), up to
    /// and including `limit`: the rule's `COUNT` and `UNTIL` apply, and so does Outlook's habit of
    /// moving a day of the month past the month's end to its last day. Weeks start on Sunday, as
    /// Graph's default `firstDayOfWeek`. Parts outside the model (`other`) are ignored.
    pub fn occurrences(&self, start: NaiveDate, limit: NaiveDate) -> Vec<NaiveDate> {
        use chrono::{Datelike, Duration, Months};
        let rule = self.clone().complete_with_start(start);
        let interval = rule.interval.max(1);
        let end = rule.until.map_or(limit, |u| u.min(limit));
        let mut out: Vec<NaiveDate> = Vec::new();
        let mut emitted = 0u32;
        // Candidates of one period, in order; `None` when the periods ran past the end.
        let period = |k: u32| -> Option<Vec<NaiveDate>> {
            match rule.freq {
                Freq::Daily => {
                    let d = start.checked_add_signed(Duration::days(i64::from(k * interval)))?;
                    Some(vec![d])
                }
                Freq::Weekly => {
                    let week_start =
                        start - Duration::days(i64::from(start.weekday().num_days_from_sunday()));
                    let week =
                        week_start.checked_add_signed(Duration::weeks(i64::from(k * interval)))?;
                    let mut days: Vec<NaiveDate> = rule
                        .by_day
                        .iter()
                        .map(|d| week + Duration::days(i64::from(d.num_days_from_sunday())))
                        .collect();
                    days.sort();
                    Some(days)
                }
                Freq::Monthly | Freq::Yearly => {
                    let months = if rule.freq == Freq::Monthly {
                        k * interval
                    } else {
                        k * interval * 12
                    };
                    let first_of_start = start.with_day(1)?;
                    let mut month = first_of_start.checked_add_months(Months::new(months))?;
                    if rule.freq == Freq::Yearly {
                        month = month.with_month(rule.by_month.unwrap_or(start.month()))?;
                    }
                    let next = month.checked_add_months(Months::new(1))?;
                    let last_day = (next - Duration::days(1)).day();
                    if let Some(day) = rule.by_month_day {
                        return Some(vec![month.with_day(day.min(last_day))?]);
                    }
                    let matching: Vec<NaiveDate> = (1..=last_day)
                        .filter_map(|d| month.with_day(d))
                        .filter(|d| rule.by_day.contains(&d.weekday()))
                        .collect();
                    Some(match rule.by_set_pos {
                        Some(-1) => matching.last().copied().into_iter().collect(),
                        Some(n) if n > 0 => {
                            matching.get(n as usize - 1).copied().into_iter().collect()
                        }
                        _ => matching,
                    })
                }
            }
        };
        for k in 0..100_000u32 {
            let Some(candidates) = period(k) else { break };
            let mut past_end = false;
            for date in candidates {
                if date < start {
                    continue;
                }
                if date > end || rule.count.is_some_and(|c| emitted >= c) {
                    past_end = true;
                    break;
                }
                out.push(date);
                emitted += 1;
            }
            if past_end || rule.count.is_some_and(|c| emitted >= c) {
                break;
            }
        }
        out
    }

    /// `MO,WE,FR`.
    pub fn days(&self) -> String {
        self.by_day
            .iter()
            .map(|d| weekday_code(*d))
            .collect::<Vec<_>>()
            .join(",")
    }
}

fn number(name: &str, raw: &str) -> Result<u32, String> {
    raw.parse()
        .map_err(|_| format!("{name}={raw} is not a number"))
}

fn until(raw: &str) -> Result<NaiveDate, String> {
    let date = raw.get(..10).unwrap_or(raw);
    NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(raw.get(..8).unwrap_or(raw), "%Y%m%d"))
        .map_err(|_| format!("UNTIL={raw} is not a date"))
}

pub fn weekday(code: &str) -> Result<Weekday, String> {
    Ok(match code.to_ascii_uppercase().as_str() {
        "MO" => Weekday::Mon,
        "TU" => Weekday::Tue,
        "WE" => Weekday::Wed,
        "TH" => Weekday::Thu,
        "FR" => Weekday::Fri,
        "SA" => Weekday::Sat,
        "SU" => Weekday::Sun,
        other => return Err(format!("`{other}` is not a weekday")),
    })
}

pub fn weekday_code(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "MO",
        Weekday::Tue => "TU",
        Weekday::Wed => "WE",
        Weekday::Thu => "TH",
        Weekday::Fri => "FR",
        Weekday::Sat => "SA",
        Weekday::Sun => "SU",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zoho_and_rfc_spellings_give_one_canonical_string() {
        let zoho =
            Rule::parse("FREQ=WEEKLY;INTERVAL=1;UNTIL=2020-05-16;BYDAY=SA;DTSTART=2020-05-02")
                .unwrap();
        let rfc = Rule::parse("RRULE:freq=weekly;byday=SA;until=20200516T235959Z").unwrap();
        assert_eq!(
            zoho.to_canonical(),
            "FREQ=WEEKLY;INTERVAL=1;BYDAY=SA;UNTIL=20200516"
        );
        assert_eq!(zoho, rfc);
    }

    #[test]
    fn ordinal_weekdays_become_bysetpos_and_days_are_ordered() {
        let rule = Rule::parse("FREQ=MONTHLY;BYDAY=-1FR").unwrap();
        assert_eq!(
            rule.to_canonical(),
            "FREQ=MONTHLY;INTERVAL=1;BYDAY=FR;BYSETPOS=-1"
        );
        let rule = Rule::parse("FREQ=WEEKLY;INTERVAL=2;BYDAY=FR,MO,WE;COUNT=10").unwrap();
        assert_eq!(
            rule.to_canonical(),
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE,FR;COUNT=10"
        );
    }

    #[test]
    fn implicit_parts_come_from_the_start() {
        let monday = NaiveDate::from_ymd_opt(2026, 3, 23).unwrap();
        let weekly = Rule::parse("FREQ=WEEKLY")
            .unwrap()
            .complete_with_start(monday);
        assert_eq!(weekly.to_canonical(), "FREQ=WEEKLY;INTERVAL=1;BYDAY=MO");
        let yearly = Rule::parse("FREQ=YEARLY")
            .unwrap()
            .complete_with_start(monday);
        assert_eq!(
            yearly.to_canonical(),
            "FREQ=YEARLY;INTERVAL=1;BYMONTHDAY=23;BYMONTH=3"
        );
    }

    #[test]
    fn occurrences_follow_the_rule() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let limit = d("2030-01-01");
        let weekly = Rule::parse("FREQ=WEEKLY;BYDAY=MO,WE;COUNT=5").unwrap();
        assert_eq!(
            weekly.occurrences(d("2027-03-22"), limit),
            [
                "2027-03-22",
                "2027-03-24",
                "2027-03-29",
                "2027-03-31",
                "2027-04-05"
            ]
            .map(d)
        );
        let biweekly = Rule::parse("FREQ=WEEKLY;INTERVAL=2;BYDAY=FR;UNTIL=20270430").unwrap();
        assert_eq!(
            biweekly.occurrences(d("2027-04-02"), limit),
            ["2027-04-02", "2027-04-16", "2027-04-30"].map(d)
        );
        let last_friday = Rule::parse("FREQ=MONTHLY;BYDAY=FR;BYSETPOS=-1;COUNT=3").unwrap();
        assert_eq!(
            last_friday.occurrences(d("2027-01-29"), limit),
            ["2027-01-29", "2027-02-26", "2027-03-26"].map(d)
        );
        let day_31 = Rule::parse("FREQ=MONTHLY;BYMONTHDAY=31;COUNT=3").unwrap();
        assert_eq!(
            day_31.occurrences(d("2027-01-31"), limit),
            ["2027-01-31", "2027-02-28", "2027-03-31"].map(d)
        );
        let yearly = Rule::parse("FREQ=YEARLY;COUNT=2").unwrap();
        assert_eq!(
            yearly.occurrences(d("2027-03-22"), limit),
            ["2027-03-22", "2028-03-22"].map(d)
        );
        let daily = Rule::parse("FREQ=DAILY;INTERVAL=3").unwrap();
        assert_eq!(daily.occurrences(d("2027-01-01"), d("2027-01-10")).len(), 4);
    }

    #[test]
    fn unknown_parts_are_kept_and_bad_rules_refused() {
        let rule = Rule::parse("FREQ=DAILY;WKST=SU;BYHOUR=9").unwrap();
        assert_eq!(
            rule.to_canonical(),
            "FREQ=DAILY;INTERVAL=1;BYHOUR=9;WKST=SU"
        );
        assert!(Rule::parse("INTERVAL=2").is_err());
        assert!(Rule::parse("FREQ=HOURLY").is_err());
        assert!(Rule::parse("FREQ=DAILY;UNTIL=soon").is_err());
    }
}
