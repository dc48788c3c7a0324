//! One assistant turn as a ChatKit event stream.
//!
//! The request's own events go first (`thread.created`, the user's message as `thread.item.done`),
//! then `stream_options` and the turn: each tool the assistant runs is added to a `workflow` item
//! (`thread.item.added`, then `workflow.task.added` per tool, `thread.item.done` when the answer
//! starts), then a confirmation card for each deletion it proposed (`confirm.rs`); the answer is an
//! `assistant_message` item whose text arrives as `text_delta`s. The answer is stored before its
//! `thread.item.done`, so what a client saw finished is what it reads back. A failure after the
//! stream started is an `error` event with the message the JSON chat would give (the cause is
//! logged), and `allow_retry` so ChatKit offers to try again.

use std::convert::Infallible;

use actix_web::HttpResponse;
use actix_web::web::Bytes;
use futures_util::{future, stream};
use serde_json::json;
use taskflow_assistant::tools::ToolOutcome;
use taskflow_assistant::{Agent, HistoryMessage, TurnEvent};
use taskflow_bus::trace::inherit;
use taskflow_domain::time;
use taskflow_runtime::ApiError;
use taskflow_store::{NewMessage, Store};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::confirm;
use super::items::{assistant_item, tool_task, workflow_item};
use super::protocol::{Event, Item, OutputText, ToolTask};
use crate::error::HandlerError;
use crate::routes::chat::{headline, records, tool_context};
use crate::routes::chat_confirm::{ConfirmKey, attach};

/// Everything a turn needs, gathered (and checked) before the stream starts.
pub struct Turn {
    pub store: Store,
    pub agent: Agent,
    pub key: ConfirmKey,
    pub user_id: String,
    pub thread_id: Uuid,
    /// What the model sees before the message, oldest first.
    pub history: Vec<HistoryMessage>,
    pub message: String,
}

/// One `data:` frame.
pub fn frame(event: &Event) -> Bytes {
    let json = serde_json::to_string(event).unwrap_or_else(|_| "{}".to_owned());
    Bytes::from(format!("data: {json}\n\n"))
}

/// The response: `prelude`, then the turn's events, as `text/event-stream`.
pub fn stream(prelude: Vec<Event>, turn: Option<Turn>) -> HttpResponse {
    let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
    for event in &prelude {
        let _ = tx.send(frame(event));
    }
    if let Some(turn) = turn {
        actix_web::rt::spawn(inherit(run(turn, tx)));
    }
    let body = stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body)
}

/// What has been streamed of the answer so far.
struct Answer {
    thread_id: Uuid,
    id: Uuid,
    started_at: chrono::DateTime<chrono::Utc>,
    tools: Vec<ToolTask>,
    /// The workflow item is open (added, not done).
    tools_open: bool,
    /// Deletions proposed, by their tool's place: shown as cards once the workflow is done.
    proposals: Vec<(usize, serde_json::Value)>,
    message_added: bool,
    streamed: String,
}

impl Answer {
    fn workflow(&self) -> Item {
        workflow_item(self.thread_id, self.id, self.started_at, self.tools.clone())
    }

    fn tool(&mut self, outcome: &ToolOutcome, out: &mut Vec<Event>) {
        if !self.tools_open {
            self.tools_open = true;
            out.push(Event::ItemAdded {
                item: workflow_item(self.thread_id, self.id, self.started_at, Vec::new()),
            });
        }
        // The sentence as the record keeps it, so the item reads back the same.
        let task = tool_task(&outcome.name, Some(&headline(&outcome.message)), &outcome.result);
        out.push(Event::ItemUpdated {
            item_id: self.workflow().id().to_owned(),
            update: json!({"type": "workflow.task.added", "task_index": self.tools.len(), "task": task}),
        });
        if let Some(p) = confirm::proposal(&outcome.result) {
            self.proposals.push((self.tools.len(), p.clone()));
        }
        self.tools.push(task);
    }

    fn close_tools(&mut self, out: &mut Vec<Event>) {
        if self.tools_open {
            self.tools_open = false;
            out.push(Event::ItemDone {
                item: self.workflow(),
            });
            for (n, p) in self.proposals.drain(..) {
                out.push(Event::ItemDone {
                    item: confirm::widget_item(self.thread_id, self.id, n, self.started_at, &p),
                });
            }
        }
    }

    fn start_message(&mut self, out: &mut Vec<Event>) {
        self.close_tools(out);
        if !self.message_added {
            self.message_added = true;
            out.push(Event::ItemAdded {
                item: assistant_item(self.thread_id, self.id, self.started_at, ""),
            });
            out.push(Event::ItemUpdated {
                item_id: self.id.to_string(),
                update: json!({"type": "assistant_message.content_part.added", "content_index": 0,
                    "content": OutputText::new(String::new())}),
            });
        }
    }

    fn delta(&mut self, text: &str, out: &mut Vec<Event>) {
        self.start_message(out);
        self.streamed.push_str(text);
        out.push(Event::ItemUpdated {
            item_id: self.id.to_string(),
            update: json!({"type": "assistant_message.content_part.text_delta", "content_index": 0, "delta": text}),
        });
    }

    /// The closing events, once `response` is stored: whatever of it was not streamed as a delta
    /// (the offline agent answers in one piece), then the part and the item done.
    fn finish(&mut self, response: &str, out: &mut Vec<Event>) {
        self.start_message(out);
        if let Some(rest) = response
            .strip_prefix(self.streamed.as_str())
            .filter(|r| !r.is_empty())
        {
            let rest = rest.to_owned();
            self.delta(&rest, out);
        }
        out.push(Event::ItemUpdated {
            item_id: self.id.to_string(),
            update: json!({"type": "assistant_message.content_part.done", "content_index": 0,
                "content": OutputText::new(response.to_owned())}),
        });
        out.push(Event::ItemDone {
            item: assistant_item(self.thread_id, self.id, self.started_at, response),
        });
    }
}

fn send(tx: &mpsc::UnboundedSender<Bytes>, events: &mut Vec<Event>) {
    for e in events.drain(..) {
        let _ = tx.send(frame(&e));
    }
}

/// The error event for a failure after the stream started; the cause goes to the log only.
fn error_event(e: &HandlerError) -> Event {
    let api: ApiError = e.to_api();
    if api.code.status().is_server_error() {
        tracing::error!(error = %e, "chatkit turn failed");
    }
    Event::Error {
        code: "custom",
        message: api.message,
        allow_retry: api.code.status().is_server_error(),
    }
}

async fn run(turn: Turn, tx: mpsc::UnboundedSender<Bytes>) {
    let mut out = vec![Event::StreamOptions {
        stream_options: json!({"allow_cancel": false}),
    }];
    send(&tx, &mut out);
    let asked_at = time::now();
    let mut answer = Answer {
        thread_id: turn.thread_id,
        id: NewMessage::id(),
        started_at: asked_at,
        tools: Vec::new(),
        tools_open: false,
        proposals: Vec::new(),
        message_added: false,
        streamed: String::new(),
    };
    let ctx = match tool_context(&turn.store, &turn.user_id, asked_at).await {
        Ok(ctx) => ctx,
        Err(e) => {
            out.push(error_event(&e.into()));
            return send(&tx, &mut out);
        }
    };
    let (progress_tx, mut progress_rx) = mpsc::unbounded_channel::<TurnEvent>();
    let agent = turn.agent.clone();
    let (history, message) = (turn.history, turn.message);
    // The sender lives in the turn's future, so the channel closes when the turn ends.
    let answering = async move {
        let progress = Some(progress_tx);
        agent.turn(&ctx, &history, &message, &progress).await
    };
    let forwarding = async {
        while let Some(event) = progress_rx.recv().await {
            match event {
                TurnEvent::Tool(mut outcome) => {
                    attach(&turn.key, &turn.user_id, std::slice::from_mut(&mut outcome));
                    answer.tool(&outcome, &mut out);
                }
                TurnEvent::Delta(text) => answer.delta(&text, &mut out),
            }
            send(&tx, &mut out);
        }
    };
    let (result, ()) = future::join(answering, forwarding).await;
    let mut done = match result {
        Ok(done) => done,
        Err(e) => {
            answer.close_tools(&mut out);
            out.push(error_event(&crate::routes::chat::model_error(&e).into()));
            return send(&tx, &mut out);
        }
    };
    attach(&turn.key, &turn.user_id, &mut done.tool_calls);
    let tool_calls = (!done.tool_calls.is_empty())
        .then(|| serde_json::to_value(records(&done.tool_calls)).ok())
        .flatten();
    let stored = turn
        .store
        .conversations()
        .append(
            &turn.user_id,
            turn.thread_id,
            &[NewMessage {
                id: answer.id,
                role: "assistant",
                content: done.response.clone(),
                tool_calls,
                created_at: asked_at,
            }],
        )
        .await;
    match stored {
        Ok(Some(_)) => answer.finish(&done.response, &mut out),
        Ok(None) => {
            answer.close_tools(&mut out);
            out.push(error_event(&ApiError::not_found("thread not found").into()));
        }
        Err(e) => {
            answer.close_tools(&mut out);
            out.push(error_event(&e.into()));
        }
    }
    send(&tx, &mut out);
}
