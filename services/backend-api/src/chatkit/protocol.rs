//! The ChatKit wire protocol, as the official `openai-chatkit` package defines it (`chatkit/types.py`,
//! v1.6.5): the requests a ChatKit web component sends to a custom backend, and the threads, items
//! and stream events it expects back. Only what TaskFlow sends or reads is modelled; field names and
//! literals are the package's own, and `tests/chatkit/check_protocol.py` validates every request and
//! answer against the package's pydantic models in CI.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use utoipa::ToSchema;

/// A ChatKit request: `{"type": "...", "params": {...}, "metadata": {...}}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "type")]
#[schema(as = ChatKitRequest)]
pub enum Request {
    #[serde(rename = "threads.get_by_id")]
    GetThread { params: ThreadRef },
    #[serde(rename = "threads.list")]
    ListThreads { params: ListParams },
    #[serde(rename = "threads.create")]
    CreateThread { params: CreateParams },
    #[serde(rename = "threads.add_user_message")]
    AddUserMessage { params: AddMessageParams },
    #[serde(rename = "threads.retry_after_item")]
    RetryAfterItem { params: ItemRef },
    #[serde(rename = "threads.update")]
    UpdateThread { params: UpdateParams },
    #[serde(rename = "threads.delete")]
    DeleteThread { params: ThreadRef },
    #[serde(rename = "items.list")]
    ListItems { params: ItemsListParams },
    #[serde(rename = "items.feedback")]
    Feedback { params: FeedbackParams },
    /// Requests for what TaskFlow's assistant does not do (files, voice, client tools, widgets'
    /// actions): answered with a clear refusal, streamed or not as the client expects.
    #[serde(rename = "attachments.create")]
    CreateAttachment,
    #[serde(rename = "attachments.delete")]
    DeleteAttachment,
    #[serde(rename = "input.transcribe")]
    Transcribe,
    #[serde(rename = "threads.sync_custom_action")]
    SyncCustomAction,
    #[serde(rename = "threads.add_client_tool_output")]
    AddClientToolOutput,
    #[serde(rename = "threads.add_structured_input")]
    AddStructuredInput,
    /// A widget's button: the confirmation card's "Delete" and "Keep it" (`confirm.rs`).
    #[serde(rename = "threads.custom_action")]
    CustomAction { params: CustomActionParams },
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = ChatKitCustomActionParams)]
pub struct CustomActionParams {
    pub thread_id: String,
    /// The widget whose button was pressed.
    #[serde(default)]
    pub item_id: Option<String>,
    pub action: ActionParams,
}

/// `Action`: what the button sends.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = ChatKitAction)]
pub struct ActionParams {
    /// `task.delete.confirm` or `task.delete.cancel`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `{"confirmation": "…"}`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub payload: Value,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = ChatKitThreadRef)]
pub struct ThreadRef {
    pub thread_id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = ChatKitItemRef)]
pub struct ItemRef {
    pub thread_id: String,
    pub item_id: String,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = ChatKitOrder)]
pub enum Order {
    Asc,
    #[default]
    Desc,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = ChatKitListParams)]
pub struct ListParams {
    /// Default 20 (also for 0); at most 200 are returned.
    #[serde(default)]
    #[schema(minimum = 0)]
    pub limit: Option<i64>,
    #[serde(default)]
    pub order: Order,
    #[serde(default)]
    pub after: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = ChatKitItemsListParams)]
pub struct ItemsListParams {
    pub thread_id: String,
    /// Stored messages, default 20 (also for 0); at most 200 are returned.
    #[serde(default)]
    #[schema(minimum = 0)]
    pub limit: Option<i64>,
    #[serde(default)]
    pub order: Order,
    #[serde(default)]
    pub after: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = ChatKitCreateParams)]
pub struct CreateParams {
    pub input: UserInput,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = ChatKitAddMessageParams)]
pub struct AddMessageParams {
    pub thread_id: String,
    pub input: UserInput,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = ChatKitUpdateParams)]
pub struct UpdateParams {
    pub thread_id: String,
    /// 1–80 characters, one line.
    #[schema(
        min_length = 1,
        max_length = 80,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x1f\x7f-\x9f \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub title: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = ChatKitFeedbackParams)]
pub struct FeedbackParams {
    pub thread_id: String,
    pub item_ids: Vec<String>,
    pub kind: FeedbackKind,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = ChatKitFeedbackKind)]
pub enum FeedbackKind {
    Positive,
    Negative,
}

/// What the user typed: text parts and tags (an `@`-mention's text), plus attachments by id.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = ChatKitUserInput)]
pub struct UserInput {
    #[schema(min_items = 1)]
    pub content: Vec<UserContent>,
    /// Not supported: must be empty.
    #[serde(default)]
    #[schema(max_items = 0)]
    pub attachments: Vec<String>,
    #[serde(default)]
    pub quoted_text: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "type")]
#[schema(as = ChatKitUserContent)]
pub enum UserContent {
    #[serde(rename = "input_text")]
    Text { text: String },
    #[serde(rename = "input_tag")]
    Tag { text: String },
}

impl UserInput {
    /// The message as one text: the parts joined, a quote first as a Markdown quote.
    pub fn text(&self) -> String {
        let parts: Vec<&str> = self
            .content
            .iter()
            .map(|c| match c {
                UserContent::Text { text } | UserContent::Tag { text } => text.as_str(),
            })
            .collect();
        let said = parts.join(" ");
        match self
            .quoted_text
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())
        {
            Some(quote) => format!("> {quote}\n\n{said}"),
            None => said,
        }
    }
}

/// Timestamps as ChatKit's pydantic `datetime` reads and writes them.
pub fn timestamp<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Micros, true))
}

/// `Page[T]`.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub has_more: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// `Thread` (a `ThreadMetadata` with a page of items). Threads are always `active`.
#[derive(Debug, Serialize)]
pub struct Thread {
    pub id: String,
    pub title: String,
    #[serde(serialize_with = "timestamp")]
    pub created_at: DateTime<Utc>,
    pub status: Value,
    pub items: Page<Item>,
}

/// `ThreadItem`, the three kinds TaskFlow stores: the user's message, the assistant's answer, and
/// the tools it ran for that answer (a workflow of custom tasks).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type")]
pub enum Item {
    #[serde(rename = "user_message")]
    User {
        id: String,
        thread_id: String,
        #[serde(serialize_with = "timestamp")]
        created_at: DateTime<Utc>,
        content: Vec<Value>,
        attachments: Vec<Value>,
        inference_options: Value,
    },
    #[serde(rename = "assistant_message")]
    Assistant {
        id: String,
        thread_id: String,
        #[serde(serialize_with = "timestamp")]
        created_at: DateTime<Utc>,
        content: Vec<OutputText>,
    },
    #[serde(rename = "widget")]
    Widget {
        id: String,
        thread_id: String,
        #[serde(serialize_with = "timestamp")]
        created_at: DateTime<Utc>,
        widget: Value,
        copy_text: String,
    },
    #[serde(rename = "workflow")]
    Workflow {
        id: String,
        thread_id: String,
        #[serde(serialize_with = "timestamp")]
        created_at: DateTime<Utc>,
        workflow: Workflow,
    },
}

impl Item {
    pub fn id(&self) -> &str {
        match self {
            Self::User { id, .. }
            | Self::Assistant { id, .. }
            | Self::Widget { id, .. }
            | Self::Workflow { id, .. } => id,
        }
    }
}

/// `AssistantMessageContent`.
#[derive(Debug, Clone, Serialize)]
pub struct OutputText {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub text: String,
    pub annotations: Vec<Value>,
}

impl OutputText {
    pub fn new(text: String) -> Self {
        Self {
            kind: "output_text",
            text,
            annotations: Vec::new(),
        }
    }
}

/// `Workflow` of `type: "custom"`.
#[derive(Debug, Clone, Serialize)]
pub struct Workflow {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub tasks: Vec<ToolTask>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<Value>,
    pub expanded: bool,
}

/// A `CustomTask`: one tool the assistant ran.
#[derive(Debug, Clone, Serialize)]
pub struct ToolTask {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    pub icon: &'static str,
    pub status_indicator: &'static str,
}

/// `ThreadStreamEvent`s, each sent as one `data: {json}` Server-Sent Event.
#[derive(Debug, Serialize)]
#[serde(tag = "type")]
pub enum Event {
    #[serde(rename = "thread.created")]
    ThreadCreated { thread: Thread },
    #[serde(rename = "thread.item.added")]
    ItemAdded { item: Item },
    #[serde(rename = "thread.item.updated")]
    ItemUpdated { item_id: String, update: Value },
    #[serde(rename = "thread.item.done")]
    ItemDone { item: Item },
    #[serde(rename = "thread.item.replaced")]
    ItemReplaced { item: Item },
    #[serde(rename = "stream_options")]
    StreamOptions { stream_options: Value },
    #[serde(rename = "error")]
    Error {
        code: &'static str,
        message: String,
        allow_retry: bool,
    },
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_by_their_type() {
        let r: Request = serde_json::from_str(
            r#"{"type":"threads.create","metadata":{},"params":{"input":{"content":[{"type":"input_text","text":"add milk"},{"type":"input_tag","id":"t","text":"@home","data":{}}],"attachments":[],"inference_options":{}}}}"#,
        )
        .unwrap();
        let Request::CreateThread { params } = r else {
            panic!("not a create");
        };
        assert_eq!(params.input.text(), "add milk @home");
        let r: Request =
            serde_json::from_str(r#"{"type":"items.list","params":{"thread_id":"x","order":"asc"}}"#)
                .unwrap();
        assert!(
            matches!(r, Request::ListItems { params } if params.order == Order::Asc && params.limit.is_none())
        );
        assert!(serde_json::from_str::<Request>(r#"{"type":"threads.explode","params":{}}"#).is_err());
    }

    #[test]
    fn a_quote_comes_first() {
        let input: UserInput = serde_json::from_str(
            r#"{"content":[{"type":"input_text","text":"is this done?"}],"attachments":[],"quoted_text":"Buy milk"}"#,
        )
        .unwrap();
        assert_eq!(input.text(), "> Buy milk\n\nis this done?");
    }
}
