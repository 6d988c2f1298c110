//! Graph resources ⇄ the canonical model. The field map is in `docs/field-map.md`.

pub mod contact;
