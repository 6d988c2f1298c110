//! What each side can hold where the two differ, and the two operations the engine builds on:
//! projecting an item to what a side holds, and refilling a read of that side from the merge base
//! with what only the other side holds.
//!
//! Sources: Graph refuses a contact with more than 3 `emailAddresses` or 2 `businessPhones`
//! ("The multi value property EmailAddresses has 4 entries, that exceeds the max allowed value of
//! 3", microsoftgraph/microsoft-graph-docs issue 15276); `homePhones` is Outlook's "Home phone"
//! and "Home phone 2", so 2 as well. Zoho's lengths are those of its standard fields (a longer
//! value is refused with `INVALID_DATA` and `details.maximum_length`, api-reference 2.4): single
//! line texts by field, text areas (`Description`) 32,000 characters, phones 30, e-mail
//! addresses 100; Events hold at most 50 `Participants` (api-reference 2.3).

use crate::normalise;

/// E-mail addresses of a contact: Graph's `emailAddresses` holds three.
pub const OUTLOOK_EMAILS: usize = 3;
/// E-mail addresses of a contact: Zoho's `Email` and `Secondary_Email`.
pub const ZOHO_EMAILS: usize = 2;
/// Business phones (`businessPhones`) and home phones (`homePhones`) of an Outlook contact.
pub const OUTLOOK_PHONES_PER_KIND: usize = 2;
/// Participants of a Zoho event.
pub const ZOHO_PARTICIPANTS: usize = 50;

/// Zoho's maximum lengths, in characters, of the fields we write.
pub mod zoho_length {
    pub const FIRST_NAME: usize = 40;
    pub const LAST_NAME: usize = 80;
    pub const PHONE: usize = 30;
    pub const TITLE: usize = 100;
    pub const DEPARTMENT: usize = 100;
    pub const STREET: usize = 250;
    pub const CITY: usize = 100;
    pub const STATE: usize = 100;
    pub const ZIP: usize = 30;
    pub const COUNTRY: usize = 100;
    /// Text areas: contacts', tasks' and events' `Description`.
    pub const DESCRIPTION: usize = 32_000;
    /// Tasks' `Subject`, events' `Event_Title`.
    pub const SUBJECT: usize = 255;
    pub const VENUE: usize = 255;
}

/// `value` cut to `max` characters, as a side that holds no more keeps it. An HTML body over the
/// limit is reduced to its text first, so the cut never falls inside a tag.
pub(crate) fn fit(value: &Option<String>, max: usize) -> Option<String> {
    let text = value.as_deref()?;
    if text.chars().count() <= max {
        return value.clone();
    }
    let plain = normalise::body(value).unwrap_or_default();
    Some(plain.chars().take(max).collect())
}

/// Fits a field in place.
pub(crate) fn fit_in(value: &mut Option<String>, max: usize) {
    *value = fit(value, max);
}

/// `read` came from the side that holds `max` characters: when it is what that side made of
/// `base` (its cut), `base`'s full text is kept. An edit there (anything else) is taken as it is.
pub(crate) fn keep_long(read: &mut Option<String>, base: &Option<String>, max: usize) {
    let over = base.as_deref().is_some_and(|b| b.chars().count() > max);
    if over && normalise::body(read) == normalise::body(&fit(base, max)) {
        read.clone_from(base);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_cuts_by_characters_and_leaves_short_values_alone() {
        assert_eq!(fit(&Some("山田太郎".into()), 2), Some("山田".into()));
        assert_eq!(fit(&Some("abc".into()), 3), Some("abc".into()));
        assert_eq!(fit(&None, 3), None);
        let html = Some(format!("<p>{}</p>", "x".repeat(10)));
        assert_eq!(
            fit(&html, 5),
            Some("xxxxx".into()),
            "never cut inside a tag"
        );
        assert_eq!(
            fit(&html, 100),
            html,
            "HTML within the limit is kept as written"
        );
    }

    #[test]
    fn the_cut_of_the_base_reads_as_the_base_and_an_edit_as_itself() {
        let base = Some("a".repeat(12));
        let mut read = fit(&base, 10);
        keep_long(&mut read, &base, 10);
        assert_eq!(read, base);
        let mut edited = Some("b".repeat(10));
        keep_long(&mut edited, &base, 10);
        assert_eq!(edited, Some("b".repeat(10)));
        let mut cleared = None;
        keep_long(&mut cleared, &base, 10);
        assert_eq!(cleared, None, "clearing it on the smaller side is an edit");
    }
}
