//! Zoho CRM records ⇄ the canonical model. The field map is in `docs/field-map.md`.

pub mod contact;
