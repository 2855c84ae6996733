//! What a card's issuing bank tells the wallet about a card it issued, and what follows for
//! its cloud cards and the wallet's view of it.

use cloudcard_core::{CardExpiry, Pan, TokenId};
use cloudcard_token::{Actor, TokenEvent, TokenStatus};
use cloudcard_wallet::CardView;

use crate::{CloudCard, Error};

/// An issuer's event on a card it issued, named by its card number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuerEvent {
    /// The card is blocked for now: its cloud cards stop paying.
    Suspend,
    /// The block is lifted: cloud cards the issuer suspended pay again.
    Resume,
    /// The card is closed: its cloud cards are deleted and it leaves every wallet.
    Close,
    /// The card was reissued under a new number or expiry: its cloud cards keep their token
    /// numbers and keys and now stand for the new card, and wallets show the new number.
    Reissue {
        /// The new card number.
        pan: Pan,
        /// The new expiry, if any.
        expiry: Option<CardExpiry>,
    },
}

/// What an issuer's event changed: the cloud cards whose status the phones holding them must
/// learn, and the wallet cards as they now show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerEventOutcome {
    /// Each cloud card that changed, and its status now.
    pub tokens: Vec<(TokenId, TokenStatus)>,
    /// The wallet cards as they show now (a reissued number); empty for other events.
    pub cards: Vec<CardView>,
}

impl CloudCard {
    /// Acts on an issuer's event for the card `pan`, in every wallet that holds it.
    ///
    /// # Errors
    ///
    /// [`Error::Token`], [`Error::Wallet`], [`Error::Store`]; a card the service does not know
    /// changes nothing and is not an error.
    pub fn issuer_event(&self, pan: &Pan, event: IssuerEvent) -> Result<IssuerEventOutcome, Error> {
        // The wallet cards behind the card's live tokens, before anything changes.
        let mut held = Vec::new();
        for token in self.tokens.tokens_of_card(pan)? {
            if let Some(link) = self.state.card_of(&token.id)? {
                let key = (link.user, link.card);
                if !held.contains(&key) {
                    held.push(key);
                }
            }
        }
        let mut cards = Vec::new();
        let changed = match &event {
            IssuerEvent::Suspend => {
                self.tokens.apply_to_card(pan, TokenEvent::Suspend(Actor::Issuer))?.changed
            }
            IssuerEvent::Resume => {
                self.tokens.apply_to_card(pan, TokenEvent::Resume(Actor::Issuer))?.changed
            }
            IssuerEvent::Close => {
                let deleted =
                    self.tokens.apply_to_card(pan, TokenEvent::Delete(Actor::Issuer))?.changed;
                for (user, card) in &held {
                    self.wallet.remove_card(user, card)?;
                    self.state.unlink_card(card)?;
                }
                deleted
            }
            IssuerEvent::Reissue { pan: new, expiry } => {
                let updated = self.tokens.update_card(pan, new, *expiry)?;
                for (user, card) in &held {
                    cards.push(self.wallet.reissue_card(user, card, new)?);
                }
                updated
            }
        };
        let mut tokens = Vec::with_capacity(changed.len());
        for id in changed {
            let status = self.tokens.token(&id)?.status;
            tokens.push((id, status));
        }
        Ok(IssuerEventOutcome { tokens, cards })
    }
}
