//! The sync rules, free of I/O: settings, links and the decision function.

pub mod decide;
pub mod link;
pub mod settings;

pub use decide::{Decision, Incoming, decide};
pub use link::{Link, LinkStatus, SideRef};
pub use settings::{ConflictRule, Direction, UserSettings};
