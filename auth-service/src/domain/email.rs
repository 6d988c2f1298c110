use serde::Serialize;
use unicode_security::MixedScript;
use unicode_security::confusable_detection::skeleton;

/// An e-mail address, trimmed, checked for a plausible shape, its domain normalised with IDNA
/// (UTS #46: case, width and compatibility forms folded). The comparison key is lower-case with
/// the domain in its ASCII (`xn--`) form: mail providers treat addresses case-insensitively in
/// practice, a domain has one identity however it is typed, and two accounts that differ only in
/// case or domain spelling would be a support problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct EmailAddress(String);

/// Why a string is not an acceptable e-mail address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailError {
    Malformed,
    /// A domain label mixes scripts (Latin with Cyrillic, ...) or is written entirely in
    /// characters that look like ASCII ones (`аpple` in Cyrillic): a look-alike of another
    /// domain, refused so that no account can pass for another's.
    LookAlikeDomain,
}

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let s = raw.trim();
        if s.is_empty() || s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(EmailError::Malformed);
        }
        let (local, domain) = s.rsplit_once('@').ok_or(EmailError::Malformed)?;
        if local.is_empty() || local.len() > 64 || local.contains('@') {
            return Err(EmailError::Malformed);
        }
        let ascii = idna::domain_to_ascii(domain).map_err(|_| EmailError::Malformed)?;
        let domain_ok = ascii.contains('.')
            && !ascii.starts_with('.')
            && !ascii.ends_with('.')
            && !ascii.contains("..")
            && ascii
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if !domain_ok {
            return Err(EmailError::Malformed);
        }
        let (unicode, errors) = idna::domain_to_unicode(&ascii);
        if errors.is_err() {
            return Err(EmailError::Malformed);
        }
        if unicode.split('.').any(is_look_alike) {
            return Err(EmailError::LookAlikeDomain);
        }
        Ok(EmailAddress(format!("{local}@{unicode}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The uniqueness key.
    pub fn key(&self) -> String {
        let (local, domain) = self.0.rsplit_once('@').unwrap_or((&self.0, ""));
        // Parsed already: the domain converts.
        let ascii = idna::domain_to_ascii(domain).unwrap_or_else(|_| domain.to_owned());
        format!("{}@{ascii}", local.to_lowercase())
    }
}

/// UTS #39: a label that is not single-script, or whose confusable skeleton is plain ASCII
/// although the label is not (a whole-script confusable of an ASCII label).
fn is_look_alike(label: &str) -> bool {
    if label.is_ascii() {
        return false;
    }
    !label.is_single_script() || skeleton(label).all(|c| c.is_ascii())
}

#[cfg(test)]
mod tests {
    use super::{EmailAddress, EmailError};

    #[test]
    fn accepts_ordinary_addresses() {
        for ok in [
            "a@b.co",
            " Anna.Smith+crm@example.com ",
            "x@sub.example.org",
            "kunde@bücher.de",
            "user@пример.рф",
            "user@例え.jp",
        ] {
            assert!(EmailAddress::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(EmailAddress::parse("A@B.com").unwrap().key(), "a@b.com");
    }

    #[test]
    fn one_domain_one_key_however_it_is_written() {
        let unicode = EmailAddress::parse("Kunde@BÜCHER.de").unwrap();
        assert_eq!(unicode.as_str(), "Kunde@bücher.de");
        assert_eq!(unicode.key(), "kunde@xn--bcher-kva.de");
        let ascii = EmailAddress::parse("kunde@xn--bcher-kva.de").unwrap();
        assert_eq!(ascii.key(), unicode.key());
        // Full-width letters fold to ASCII.
        assert_eq!(
            EmailAddress::parse("a@ｅｘａｍｐｌｅ.com").unwrap().key(),
            "a@example.com"
        );
    }

    #[test]
    fn refuses_look_alike_domains() {
        for bad in [
            // Cyrillic "а" among Latin letters: mixed script.
            "ceo@exаmple.com",
            // All Cyrillic, and every letter looks like a Latin one: "apple".
            "ceo@аррӏе.com",
            // Greek omicron in a Latin label.
            "ceo@gοogle.com",
        ] {
            assert_eq!(
                EmailAddress::parse(bad),
                Err(EmailError::LookAlikeDomain),
                "{bad}"
            );
        }
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "plain",
            "@x.com",
            "a@",
            "a@b",
            "a b@c.com",
            "a@b..com",
            "a@.b.com",
            "a@@b.com",
            "a@b\0.com",
            "a@exa_mple.com",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad}");
        }
    }
}
