//! The press policy, the same on every platform: a button's command runs as whoever pressed it;
//! a refusal goes to the presser alone and leaves the message as it was; a success replaces the
//! pressed message with the new state, except that a state change pressed on a private prompt
//! (a message only the presser sees) is posted for the channel instead, and the prompt removed
//! where the platform can remove it.

use baton_commands::reply::{Button, Visibility};
use baton_commands::{Outcome, Reply};

/// The message a button was pressed on, as far as the policy needs it.
#[derive(Debug, Clone, Default)]
pub struct Pressed {
    /// Only the presser sees it (an ephemeral prompt).
    pub private: bool,
    /// Its Baton buttons, kept when the answer leaves the hold in place.
    pub buttons: Vec<Button>,
}

/// Where the answer to a press goes.
#[derive(Debug, Clone)]
pub enum PressAnswer {
    /// A refusal: a new message for the presser alone; the pressed message stays.
    Refusal(Reply),
    /// A success: the pressed message is replaced (it keeps its visibility).
    Replace(Reply),
    /// A state change pressed on a private prompt: posted for the channel, the prompt removed.
    Repost(Reply),
}

/// The answer to a press whose command came to `outcome`, on the message `pressed`.
pub fn answer(outcome: Outcome, pressed: &Pressed) -> PressAnswer {
    let extended = outcome.is("extend");
    let in_channel = outcome.visibility == Visibility::InChannel;
    if outcome.result.is_err() {
        return PressAnswer::Refusal(outcome.reply);
    }
    let mut reply = outcome.reply;
    // An extension leaves the hold in place, so the hold's buttons still apply.
    if reply.buttons.is_empty() && extended {
        reply.buttons = pressed.buttons.clone();
    }
    if pressed.private && in_channel {
        PressAnswer::Repost(reply)
    } else {
        PressAnswer::Replace(reply)
    }
}
