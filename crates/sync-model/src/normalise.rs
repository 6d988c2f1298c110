//! Normalisation rules shared by all kinds: what counts as "the same value" on both sides.
//!
//! Normalised values are only used for comparison and hashing; the original text is what gets
//! written, so a user's formatting survives the round trip.

/// Trims, collapses runs of whitespace into one space and treats the empty string as absent.
/// Both APIs answer `""` and `null` interchangeably for an unset field.
pub(crate) fn text(value: &Option<String>) -> Option<String> {
    let value = value.as_deref()?;
    let collapsed = value.split_whitespace().collect::<Vec<_>>().join(" ");
    (!collapsed.is_empty()).then_some(collapsed)
}

/// Multi-line text (notes, descriptions): HTML reduced to its text, line endings unified,
/// trailing whitespace dropped. Graph returns bodies as HTML, Zoho as plain text.
pub(crate) fn body(value: &Option<String>) -> Option<String> {
    let value = value.as_deref()?;
    let plain = if looks_like_html(value) {
        html_to_text(value)
    } else {
        value.to_owned()
    };
    let lines: Vec<&str> = plain.lines().map(str::trim_end).collect();
    let joined = lines.join("\n");
    let trimmed = joined.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

/// E-mail addresses compare case-insensitively (the domain always is; no provider we meet treats
/// the local part as case-sensitive).
pub(crate) fn email(value: &str) -> String {
    value.trim().to_lowercase()
}

/// Phone numbers compare by their digits and a leading `+`, so `+81 3-1234-5678` and
/// `+81312345678` are the same number.
pub(crate) fn phone(value: &Option<String>) -> Option<String> {
    let value = value.as_deref()?.trim();
    let mut out = String::new();
    if value.starts_with('+') {
        out.push('+');
    }
    out.extend(value.chars().filter(char::is_ascii_digit));
    (!out.trim_start_matches('+').is_empty()).then_some(out)
}

fn looks_like_html(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    ["<html", "<body", "<p>", "<p ", "<div", "<br", "<span"]
        .iter()
        .any(|tag| lower.contains(tag))
}

fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut chars = html.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '<' {
            let mut tag = String::new();
            for t in chars.by_ref() {
                if t == '>' {
                    break;
                }
                tag.push(t);
            }
            let name = tag
                .trim_start_matches('/')
                .split_whitespace()
                .next()
                .unwrap_or("");
            let name = name.trim_end_matches('/').to_ascii_lowercase();
            if matches!(name.as_str(), "br" | "p" | "div" | "li" | "tr") && !out.ends_with('\n') {
                out.push('\n');
            }
        } else if c == '&' {
            let mut entity = String::new();
            while let Some(&n) = chars.peek() {
                chars.next();
                if n == ';' || entity.len() > 8 {
                    break;
                }
                entity.push(n);
            }
            out.push_str(match entity.as_str() {
                "amp" => "&",
                "lt" => "<",
                "gt" => ">",
                "quot" => "\"",
                "#39" | "apos" => "'",
                "nbsp" => " ",
                _ => "",
            });
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_collapses_whitespace_and_drops_empty() {
        assert_eq!(
            text(&Some("  山田   太郎 ".into())),
            Some("山田 太郎".into())
        );
        assert_eq!(text(&Some("   ".into())), None);
        assert_eq!(text(&None), None);
    }

    #[test]
    fn phones_compare_by_digits() {
        assert_eq!(
            phone(&Some("+81 3-1234-5678".into())),
            phone(&Some("+81312345678".into()))
        );
        assert_ne!(
            phone(&Some("+1 555 0100".into())),
            phone(&Some("1 555 0100".into()))
        );
        assert_eq!(phone(&Some(" - ".into())), None);
    }

    #[test]
    fn html_bodies_equal_their_text() {
        let html = Some(
            "<html><body><p>Call back&nbsp;soon</p><p>Thanks &amp; bye</p></body></html>".into(),
        );
        assert_eq!(body(&html), Some("Call back soon\nThanks & bye".into()));
        assert_eq!(
            body(&Some("Line\r\nNext  \r\n".into())),
            Some("Line\nNext".into())
        );
    }
}
