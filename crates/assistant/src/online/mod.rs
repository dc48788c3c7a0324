//! The online agent: an OpenAI-compatible model that decides which tools to call.
//!
//! Each turn sends the system prompt, the recent history and the user's message; while the model
//! answers with tool calls, they run (scoped to the caller) and their results go back, up to a step
//! limit. Arguments that are not valid JSON go back as a tool error so the model can correct itself.

mod client;
mod config;
mod prompt;
mod stream;
mod wire;

use serde_json::{Value, json};

pub use client::{ModelClient, ModelError};
pub use config::{ConfigError, DEFAULT_BASE_URL, DEFAULT_MODEL, ModelConfig};
pub use wire::ChatMessage;

use crate::agent::{HistoryMessage, Progress, Turn, TurnEvent, report};
use crate::tools::{self, ToolCall, ToolContext, ToolOutcome};

#[derive(Clone)]
pub struct OnlineAgent {
    client: ModelClient,
    tools: Value,
}

impl OnlineAgent {
    pub fn new(config: ModelConfig) -> Result<Self, ModelError> {
        Ok(Self {
            client: ModelClient::new(config)?,
            tools: tools::openai_tools(),
        })
    }

    pub fn model(&self) -> &str {
        &self.client.config().model
    }

    pub async fn turn(
        &self,
        ctx: &ToolContext,
        history: &[HistoryMessage],
        message: &str,
        progress: &Progress,
    ) -> Result<Turn, ModelError> {
        let mut messages = vec![ChatMessage::text(
            "system",
            prompt::system_prompt(ctx.now, ctx.tz),
        )];
        messages.extend(
            history
                .iter()
                .map(|m| ChatMessage::text(&m.role, m.content.clone())),
        );
        messages.push(ChatMessage::text("user", message));
        let mut outcomes: Vec<ToolOutcome> = Vec::new();
        let mut proposals = 0;
        for _ in 0..self.client.config().max_steps {
            let reply = match progress {
                // Stream the model's text to the listener as it is produced.
                Some(tx) => {
                    let mut forward = |piece: &str| {
                        let _ = tx.send(TurnEvent::Delta(piece.to_owned()));
                    };
                    self.client
                        .complete_streaming(&messages, &self.tools, &mut forward)
                        .await?
                }
                None => self.client.complete(&messages, &self.tools).await?,
            };
            if reply.tool_calls.is_empty() {
                let text = reply.content.unwrap_or_default().trim().to_owned();
                let response = if text.is_empty() {
                    let summary = summary(&outcomes);
                    report(progress, TurnEvent::Delta(summary.clone()));
                    summary
                } else {
                    text
                };
                return Ok(Turn {
                    response,
                    tool_calls: outcomes,
                });
            }
            let calls = reply.tool_calls.clone();
            messages.push(reply);
            for call in calls {
                let outcome = match serde_json::from_str::<Value>(non_empty(&call.function.arguments)) {
                    Ok(arguments) => {
                        let call = ToolCall {
                            name: call.function.name.clone(),
                            arguments,
                        };
                        tools::confirm::run_for_chat(ctx, &call, &mut proposals).await
                    }
                    Err(e) => malformed(&call.function.name, &call.function.arguments, &e),
                };
                let content = prompt::fence(&json!({"result": outcome.result, "message": outcome.message}));
                messages.push(ChatMessage::tool_result(&call.id, content));
                report(progress, TurnEvent::Tool(outcome.clone()));
                outcomes.push(outcome);
            }
        }
        tracing::warn!(
            steps = self.client.config().max_steps,
            "assistant turn hit the step limit"
        );
        let mut response = summary(&outcomes);
        response.push_str("\n⚠️ I stopped before finishing; please rephrase or split the request.");
        report(progress, TurnEvent::Delta(response.clone()));
        Ok(Turn {
            response,
            tool_calls: outcomes,
        })
    }
}

fn non_empty(args: &str) -> &str {
    if args.trim().is_empty() { "{}" } else { args }
}

fn malformed(name: &str, raw: &str, err: &serde_json::Error) -> ToolOutcome {
    metrics::counter!("assistant_tool_calls_total", "tool" => "unknown", "outcome" => "error").increment(1);
    let message = format!("⚠️ the arguments are not valid JSON ({err}); send a JSON object");
    ToolOutcome {
        name: name.to_owned(),
        arguments: Value::String(raw.chars().take(2_000).collect()),
        result: json!({"error": {"code": "invalid_arguments", "message": message}}),
        message,
        ok: false,
    }
}

/// What the tools did, when the model says nothing itself.
fn summary(outcomes: &[ToolOutcome]) -> String {
    if outcomes.is_empty() {
        return "🤔 I have no answer to that.".to_owned();
    }
    outcomes
        .iter()
        .map(|o| o.message.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}
