//! The Zoho user's time zone. Zoho answers every date-time in it and keeps an all-day event as
//! midnight there, so the dates of all-day events and the first day of a series are the user's.
//! Read with `GET /users?type=CurrentUser` when an event is first read or written for a user,
//! then kept for an hour: one call an hour per user, and a changed zone is noticed within it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono_tz::Tz;
use connector_kit::api::malformed;
use connector_kit::calendar::zone;
use connector_kit::{ApiError, CallContext};
use sync_model::UserId;

use crate::zoho::ZohoClient;

const KEEP_FOR: Duration = Duration::from_secs(3600);

#[derive(Default)]
pub struct UserZones {
    known: Mutex<HashMap<UserId, (Tz, Instant)>>,
}

impl UserZones {
    pub async fn of(&self, client: &ZohoClient, ctx: &CallContext) -> Result<Tz, ApiError> {
        if let Some(tz) = self.cached(ctx.user_id) {
            return Ok(tz);
        }
        let answer = client
            .get(ctx, "GET /users", "/users?type=CurrentUser")
            .await?;
        let name = answer
            .pointer("/users/0/time_zone")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| malformed("the current user without a time_zone"))?;
        let tz = zone(name).unwrap_or_else(|| {
            tracing::warn!(time_zone = name, "unknown Zoho time zone; using UTC");
            Tz::UTC
        });
        if let Ok(mut known) = self.known.lock() {
            known.insert(ctx.user_id, (tz, Instant::now()));
        }
        Ok(tz)
    }

    fn cached(&self, user: UserId) -> Option<Tz> {
        let known = self.known.lock().ok()?;
        known
            .get(&user)
            .filter(|(_, at)| at.elapsed() < KEEP_FOR)
            .map(|(tz, _)| *tz)
    }
}
