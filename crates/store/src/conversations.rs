//! Chat history: a user's conversations with the assistant and their messages.
//!
//! Every read and write is scoped by the owner's id (messages carry it too), so one user can never
//! load, extend or delete another's conversation, even with a guessed id. A turn — the user's message
//! and the assistant's reply — is appended in one transaction, so history never holds half a turn.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    TransactionTrait,
};
use serde::Serialize;
use uuid::Uuid;

use taskflow_domain::json_size::json_len;

use crate::entity::{conversations, messages};
use crate::{Quotas, StoreError, paging, quotas};

/// Longest title kept, in characters (taken from the first message).
const TITLE_CHARS: usize = 80;
/// Most bytes of JSON a page of messages holds (besides its row limit); a page that would be larger
/// ends early with a cursor, and always holds at least one message.
pub const MAX_PAGE_BYTES: usize = 1024 * 1024;

/// How many of `page` (in the order it is read) fit in `budget` bytes of JSON, when not all of
/// them do (at least one).
fn within_bytes(page: &[Message], budget: usize) -> Option<usize> {
    let mut used = 0usize;
    for (n, m) in page.iter().enumerate() {
        used = used.saturating_add(json_len(m).saturating_add(1));
        if used > budget {
            let kept = n.max(1);
            return (kept < page.len()).then_some(kept);
        }
    }
    None
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Conversation {
    pub id: Uuid,
    /// The start of its first message.
    pub title: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Message {
    pub id: Uuid,
    pub conversation_id: Uuid,
    /// `user` or `assistant`.
    pub role: String,
    pub content: String,
    /// The tools the assistant ran for this reply: `[{name, arguments, result}]`.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<Object>>))]
    pub tool_calls: Option<serde_json::Value>,
    /// The user's rating of an assistant message: `positive`, `negative` or `null`.
    pub feedback: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A message about to be stored.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// Chosen by the caller (a UUIDv7, [`NewMessage::id`]), so a streamed reply can name the item
    /// before it is stored.
    pub id: Uuid,
    pub role: &'static str,
    pub content: String,
    pub tool_calls: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConversationPage {
    pub conversations: Vec<Conversation>,
    /// Pass as `cursor` for older conversations; `null` when there are none.
    pub next_cursor: Option<String>,
}

/// Which end a page of conversations or messages starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageOrder {
    OldestFirst,
    NewestFirst,
}

impl PageOrder {
    fn direction(self) -> paging::Direction {
        match self {
            Self::OldestFirst => paging::Direction::OldestFirst,
            Self::NewestFirst => paging::Direction::NewestFirst,
        }
    }
}

/// A user's rating of an assistant message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feedback {
    Positive,
    Negative,
}

impl NewMessage {
    /// A fresh message id: time-ordered, so ids of one turn sort like its messages.
    pub fn id() -> Uuid {
        Uuid::now_v7()
    }
}

impl Feedback {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Positive => "positive",
            Self::Negative => "negative",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessagePage {
    /// Oldest first.
    pub messages: Vec<Message>,
    /// Pass as `cursor` for the messages before these; `null` at the start of the conversation.
    pub next_cursor: Option<String>,
}

fn conversation(m: conversations::Model) -> Conversation {
    Conversation {
        id: m.id,
        title: m.title,
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

fn message(m: messages::Model) -> Message {
    Message {
        id: m.id,
        conversation_id: m.conversation_id,
        role: m.role,
        content: m.content,
        tool_calls: m.tool_calls,
        feedback: m.feedback,
        created_at: m.created_at,
    }
}

/// The first line of `text`, shortened to a title.
fn title_from(text: &str) -> String {
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    let mut title: String = line.chars().take(TITLE_CHARS).collect();
    if line.chars().count() > TITLE_CHARS {
        title.push('…');
    }
    if title.is_empty() {
        "New conversation".to_owned()
    } else {
        title
    }
}

pub struct ConversationRepo<'a> {
    db: &'a DatabaseConnection,
    quotas: Quotas,
}

impl<'a> ConversationRepo<'a> {
    pub(crate) fn new(db: &'a DatabaseConnection, quotas: Quotas) -> Self {
        Self { db, quotas }
    }

    /// Refuses with [`StoreError::QuotaExceeded`] when the user has as many conversations as the
    /// quota allows (`new_conversation`) or has filled the chat-history quota: a turn checks this
    /// before it runs, so a user over quota does not make the model work for nothing.
    pub async fn check_quota(&self, user_id: &str, new_conversation: bool) -> Result<(), StoreError> {
        if new_conversation && self.quotas.conversations > 0 {
            let count = quotas::conversation_count(self.db, user_id).await?;
            quotas::within(quotas::CONVERSATIONS, count + 1, self.quotas.conversations)?;
        }
        self.check_chat_bytes(self.db, user_id).await
    }

    /// Refuses once the user's stored history has reached the chat-bytes quota.
    async fn check_chat_bytes(&self, db: &impl ConnectionTrait, user_id: &str) -> Result<(), StoreError> {
        let limit = self.quotas.chat_bytes;
        if limit == 0 {
            return Ok(());
        }
        let used = quotas::chat_bytes(db, user_id).await?;
        // Reaching the limit is what is refused here: the turn about to be stored is bigger than 0.
        quotas::within(quotas::CHAT_BYTES, used.saturating_add(1), limit)
    }

    /// Starts a conversation titled after its first message — unless the user's conversation quota
    /// is reached ([`StoreError::QuotaExceeded`]; see `quotas.rs`).
    pub async fn create(
        &self,
        user_id: &str,
        first_message: &str,
        now: DateTime<Utc>,
    ) -> Result<Conversation, StoreError> {
        let row = conversations::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(user_id.to_owned()),
            title: Set(title_from(first_message)),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let limit = self.quotas.conversations;
        let txn = self.db.begin().await?;
        if limit > 0 {
            quotas::lock_user(&txn, user_id).await?;
        }
        let model = conversations::Entity::insert(row)
            .exec_with_returning(&txn)
            .await?;
        if limit > 0 {
            let count = quotas::conversation_count(&txn, user_id).await?;
            if let Err(e) = quotas::within(quotas::CONVERSATIONS, count, limit) {
                txn.rollback().await?;
                return Err(e);
            }
        }
        txn.commit().await?;
        Ok(conversation(model))
    }

    /// One of the user's conversations.
    pub async fn get(&self, user_id: &str, id: Uuid) -> Result<Option<Conversation>, StoreError> {
        Ok(conversations::Entity::find_by_id(id)
            .filter(conversations::Column::UserId.eq(user_id))
            .one(self.db)
            .await?
            .map(conversation))
    }

    /// The user's conversations, most recently active first.
    pub async fn list(
        &self,
        user_id: &str,
        limit: u64,
        cursor: Option<&str>,
    ) -> Result<ConversationPage, StoreError> {
        self.list_in_order(user_id, PageOrder::NewestFirst, limit, cursor)
            .await
    }

    /// The user's conversations by last activity, in `order`.
    pub async fn list_in_order(
        &self,
        user_id: &str,
        order: PageOrder,
        limit: u64,
        cursor: Option<&str>,
    ) -> Result<ConversationPage, StoreError> {
        let (rows, next_cursor) = paging::keyset(
            self.db,
            conversations::Entity::find().filter(conversations::Column::UserId.eq(user_id)),
            (conversations::Column::UpdatedAt, conversations::Column::Id),
            cursor,
            limit,
            |r| (r.updated_at, r.id),
            order.direction(),
        )
        .await?;
        Ok(ConversationPage {
            conversations: rows.into_iter().map(conversation).collect(),
            next_cursor,
        })
    }

    /// Appends messages to one of the user's conversations and returns them as stored; `None` when
    /// the conversation is not theirs (or gone). Refused with [`StoreError::QuotaExceeded`] once the
    /// user's history has reached the chat-bytes quota (the messages are stored whole, so one turn may
    /// cross it).
    pub async fn append(
        &self,
        user_id: &str,
        conversation_id: Uuid,
        new: &[NewMessage],
    ) -> Result<Option<Vec<Message>>, StoreError> {
        let Some(last) = new.iter().map(|m| m.created_at).max() else {
            return Ok(Some(Vec::new()));
        };
        let txn = self.db.begin().await?;
        if self.quotas.chat_bytes > 0 {
            quotas::lock_user(&txn, user_id).await?;
        }
        let touched = conversations::Entity::update_many()
            .col_expr(
                conversations::Column::UpdatedAt,
                sea_orm::sea_query::Expr::value(last),
            )
            .filter(conversations::Column::Id.eq(conversation_id))
            .filter(conversations::Column::UserId.eq(user_id))
            .exec(&txn)
            .await?;
        if touched.rows_affected == 0 {
            txn.rollback().await?;
            return Ok(None);
        }
        if let Err(e) = self.check_chat_bytes(&txn, user_id).await {
            txn.rollback().await?;
            return Err(e);
        }
        let stored: Vec<Message> = new
            .iter()
            .map(|m| Message {
                id: m.id,
                conversation_id,
                role: m.role.to_owned(),
                content: m.content.clone(),
                tool_calls: m.tool_calls.clone(),
                feedback: None,
                created_at: m.created_at,
            })
            .collect();
        let rows = stored.iter().map(|m| messages::ActiveModel {
            id: Set(m.id),
            conversation_id: Set(conversation_id),
            user_id: Set(user_id.to_owned()),
            role: Set(m.role.clone()),
            content: Set(m.content.clone()),
            tool_calls: Set(m.tool_calls.clone()),
            feedback: Set(None),
            created_at: Set(m.created_at),
        });
        messages::Entity::insert_many(rows)
            .exec_without_returning(&txn)
            .await?;
        txn.commit().await?;
        Ok(Some(stored))
    }

    /// A page of a conversation's messages, oldest first, ending at the newest (or before `cursor`):
    /// at most `limit` messages and [`MAX_PAGE_BYTES`] of JSON.
    pub async fn messages(
        &self,
        user_id: &str,
        conversation_id: Uuid,
        limit: u64,
        cursor: Option<&str>,
    ) -> Result<MessagePage, StoreError> {
        let mut page = self
            .messages_in_order(user_id, conversation_id, PageOrder::NewestFirst, limit, cursor)
            .await?;
        page.messages.reverse();
        Ok(page)
    }

    /// A page of a conversation's messages in `order`: at most `limit` and [`MAX_PAGE_BYTES`] of
    /// JSON, the next page starting strictly after `cursor` in that order.
    pub async fn messages_in_order(
        &self,
        user_id: &str,
        conversation_id: Uuid,
        order: PageOrder,
        limit: u64,
        cursor: Option<&str>,
    ) -> Result<MessagePage, StoreError> {
        let cond = Condition::all()
            .add(messages::Column::ConversationId.eq(conversation_id))
            .add(messages::Column::UserId.eq(user_id));
        let (rows, mut next_cursor) = paging::keyset(
            self.db,
            messages::Entity::find().filter(cond),
            (messages::Column::CreatedAt, messages::Column::Id),
            cursor,
            limit,
            |r| (r.created_at, r.id),
            order.direction(),
        )
        .await?;
        let mut messages: Vec<Message> = rows.into_iter().map(message).collect();
        if let Some(kept) = within_bytes(&messages, MAX_PAGE_BYTES) {
            messages.truncate(kept);
            next_cursor = messages.last().map(|m| paging::cursor_after(m.created_at, m.id));
        }
        Ok(MessagePage {
            messages,
            next_cursor,
        })
    }

    /// One message of one of the user's conversations.
    pub async fn message(
        &self,
        user_id: &str,
        conversation_id: Uuid,
        id: Uuid,
    ) -> Result<Option<Message>, StoreError> {
        Ok(messages::Entity::find_by_id(id)
            .filter(messages::Column::ConversationId.eq(conversation_id))
            .filter(messages::Column::UserId.eq(user_id))
            .one(self.db)
            .await?
            .map(message))
    }

    /// Renames one of the user's conversations; `None` when it is not theirs.
    pub async fn rename(
        &self,
        user_id: &str,
        id: Uuid,
        title: &str,
    ) -> Result<Option<Conversation>, StoreError> {
        let touched = conversations::Entity::update_many()
            .col_expr(
                conversations::Column::Title,
                sea_orm::sea_query::Expr::value(title.to_owned()),
            )
            .filter(conversations::Column::Id.eq(id))
            .filter(conversations::Column::UserId.eq(user_id))
            .exec(self.db)
            .await?;
        if touched.rows_affected == 0 {
            return Ok(None);
        }
        self.get(user_id, id).await
    }

    /// Deletes every message after `message` (in time) in its conversation, so a turn can be answered
    /// again from there; returns how many went.
    pub async fn truncate_after(&self, user_id: &str, message: &Message) -> Result<u64, StoreError> {
        let later = Condition::any()
            .add(messages::Column::CreatedAt.gt(message.created_at))
            .add(
                Condition::all()
                    .add(messages::Column::CreatedAt.eq(message.created_at))
                    .add(messages::Column::Id.gt(message.id)),
            );
        let res = messages::Entity::delete_many()
            .filter(messages::Column::ConversationId.eq(message.conversation_id))
            .filter(messages::Column::UserId.eq(user_id))
            .filter(later)
            .exec(self.db)
            .await?;
        Ok(res.rows_affected)
    }

    /// Replaces the tool calls recorded on one of the user's messages (a proposal's decision);
    /// `false` when the message is not theirs.
    pub async fn set_tool_calls(
        &self,
        user_id: &str,
        conversation_id: Uuid,
        id: Uuid,
        tool_calls: serde_json::Value,
    ) -> Result<bool, StoreError> {
        let res = messages::Entity::update_many()
            .col_expr(
                messages::Column::ToolCalls,
                sea_orm::sea_query::Expr::value(tool_calls),
            )
            .filter(messages::Column::Id.eq(id))
            .filter(messages::Column::ConversationId.eq(conversation_id))
            .filter(messages::Column::UserId.eq(user_id))
            .exec(self.db)
            .await?;
        Ok(res.rows_affected > 0)
    }

    /// Records the user's rating on their assistant messages among `ids` (user messages are left
    /// alone); returns how many were rated.
    pub async fn rate(
        &self,
        user_id: &str,
        conversation_id: Uuid,
        ids: &[Uuid],
        feedback: Feedback,
    ) -> Result<u64, StoreError> {
        let res = messages::Entity::update_many()
            .col_expr(
                messages::Column::Feedback,
                sea_orm::sea_query::Expr::value(feedback.as_str()),
            )
            .filter(messages::Column::ConversationId.eq(conversation_id))
            .filter(messages::Column::UserId.eq(user_id))
            .filter(messages::Column::Role.eq("assistant"))
            .filter(messages::Column::Id.is_in(ids.iter().copied()))
            .exec(self.db)
            .await?;
        Ok(res.rows_affected)
    }

    /// Deletes one of the user's conversations and its messages; `false` when it is not theirs.
    pub async fn delete(&self, user_id: &str, id: Uuid) -> Result<bool, StoreError> {
        let res = conversations::Entity::delete_many()
            .filter(conversations::Column::Id.eq(id))
            .filter(conversations::Column::UserId.eq(user_id))
            .exec(self.db)
            .await?;
        Ok(res.rows_affected > 0)
    }

    /// Deletes all of the user's conversations; returns how many.
    pub async fn clear(&self, user_id: &str) -> Result<u64, StoreError> {
        let txn = self.db.begin().await?;
        // Explicit, rather than relying on SQLite's per-connection foreign-key pragma for the cascade.
        messages::Entity::delete_many()
            .filter(messages::Column::UserId.eq(user_id))
            .exec(&txn)
            .await?;
        let res = conversations::Entity::delete_many()
            .filter(conversations::Column::UserId.eq(user_id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(res.rows_affected)
    }
}

#[cfg(test)]
mod tests {
    use super::{Message, json_len, title_from, within_bytes};

    fn message(chars: usize) -> Message {
        Message {
            id: uuid::Uuid::now_v7(),
            conversation_id: uuid::Uuid::nil(),
            role: "user".into(),
            content: "x".repeat(chars),
            tool_calls: None,
            feedback: None,
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn a_page_ends_at_its_byte_budget_but_keeps_one_message() {
        let page: Vec<Message> = (0..10).map(|_| message(1_000)).collect();
        let one = json_len(&page[0]) + 1;
        assert_eq!(within_bytes(&page, one * 10), None);
        assert_eq!(within_bytes(&page, one * 3), Some(3));
        assert_eq!(within_bytes(&page, one * 3 + one / 2), Some(3));
        assert_eq!(within_bytes(&page, 10), Some(1));
        assert_eq!(within_bytes(&page[..1], 10), None);
    }

    #[test]
    fn titles_come_from_the_first_non_empty_line_and_are_bounded() {
        assert_eq!(title_from("\n  add milk \nsecond"), "add milk");
        assert_eq!(title_from("   "), "New conversation");
        let long = "x".repeat(200);
        assert_eq!(title_from(&long).chars().count(), TITLE_CHARS_PLUS_ELLIPSIS);
    }

    const TITLE_CHARS_PLUS_ELLIPSIS: usize = super::TITLE_CHARS + 1;
}
