//! A link: one item known on both sides, and the content they agreed on last (the merge base).

use sync_model::{ExternalId, Item, ItemKind, LinkId, Side, UserId, Version};

#[derive(Debug, Clone, PartialEq)]
pub struct SideRef {
    pub id: ExternalId,
    pub version: Option<Version>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkStatus {
    Active,
    /// Deleted on one side and propagated; kept so a late echo is recognised.
    Deleted,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub id: LinkId,
    pub user_id: UserId,
    pub kind: ItemKind,
    pub outlook: Option<SideRef>,
    pub zoho: Option<SideRef>,
    pub base: Item,
    pub status: LinkStatus,
}

impl Link {
    pub fn side(&self, side: Side) -> Option<&SideRef> {
        match side {
            Side::Outlook => self.outlook.as_ref(),
            Side::Zoho => self.zoho.as_ref(),
        }
    }

    pub fn side_mut(&mut self, side: Side) -> &mut Option<SideRef> {
        match side {
            Side::Outlook => &mut self.outlook,
            Side::Zoho => &mut self.zoho,
        }
    }

    /// A create on `side` has been commanded but its result is not in yet.
    pub fn awaits_create_on(&self, side: Side) -> bool {
        self.status == LinkStatus::Active && self.side(side).is_none()
    }

    /// `item`, read from `side`, is what we last synced there: an echo of our own write.
    pub fn is_echo(&self, side: Side, item: &Item) -> bool {
        item.content_hash() == self.base.project_for(side).content_hash()
    }
}
