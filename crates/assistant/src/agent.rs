//! One chat turn, whichever agent answers it: the online model when a key is configured, otherwise
//! the offline parser. Both act only through the tool catalogue.

use serde::Serialize;

use crate::offline::{self, Plan};
use crate::online::{ModelError, OnlineAgent};
use crate::tools::{self, ToolContext, ToolOutcome};

/// What a turn reports while it runs, for the streaming chat.
#[derive(Debug, Clone)]
pub enum TurnEvent {
    /// A tool finished.
    Tool(ToolOutcome),
    /// A piece of the reply's text, as the model produces it.
    Delta(String),
}

/// Where a turn reports its progress; `None` when nobody listens (the plain JSON chat).
pub type Progress = Option<tokio::sync::mpsc::UnboundedSender<TurnEvent>>;

/// Sends `event` to `progress`; a listener that went away is not an error.
pub(crate) fn report(progress: &Progress, event: TurnEvent) {
    if let Some(tx) = progress {
        let _ = tx.send(event);
    }
}

/// A message of the conversation so far, as the model sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryMessage {
    /// `user` or `assistant`.
    pub role: String,
    pub content: String,
}

/// What one turn produced.
#[derive(Debug, Clone)]
pub struct Turn {
    pub response: String,
    pub tool_calls: Vec<ToolOutcome>,
}

#[derive(Clone)]
pub enum Agent {
    /// The deterministic English parser: no key, no network.
    Offline,
    Online(OnlineAgent),
}

impl Agent {
    pub fn name(&self) -> &str {
        match self {
            Self::Offline => "offline",
            Self::Online(a) => a.model(),
        }
    }

    pub async fn turn(
        &self,
        ctx: &ToolContext,
        history: &[HistoryMessage],
        message: &str,
        progress: &Progress,
    ) -> Result<Turn, ModelError> {
        match self {
            Self::Online(agent) => agent.turn(ctx, history, message, progress).await,
            Self::Offline => Ok(offline_turn(ctx, message, progress).await),
        }
    }
}

async fn offline_turn(ctx: &ToolContext, message: &str, progress: &Progress) -> Turn {
    let turn = offline_plan(ctx, message, progress).await;
    report(progress, TurnEvent::Delta(turn.response.clone()));
    turn
}

async fn offline_plan(ctx: &ToolContext, message: &str, progress: &Progress) -> Turn {
    match offline::plan(message) {
        Plan::Reply(response) => Turn {
            response,
            tool_calls: Vec::new(),
        },
        Plan::Calls(calls) => {
            let mut outcomes = Vec::with_capacity(calls.len());
            let mut proposals = 0;
            for call in &calls {
                let outcome = tools::confirm::run_for_chat(ctx, call, &mut proposals).await;
                report(progress, TurnEvent::Tool(outcome.clone()));
                outcomes.push(outcome);
            }
            let response = outcomes
                .iter()
                .map(|o| o.message.as_str())
                .collect::<Vec<_>>()
                .join("\n");
            Turn {
                response,
                tool_calls: outcomes,
            }
        }
    }
}
