use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notifications")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: String,
    pub task_id: Uuid,
    pub reminder_id: Option<Uuid>,
    pub kind: String,
    pub dedupe_key: String,
    pub title: String,
    pub message: String,
    pub due_at: Option<DateTimeUtc>,
    pub remind_at: DateTimeUtc,
    pub late: bool,
    pub created_at: DateTimeUtc,
    pub read_at: Option<DateTimeUtc>,
    pub email_status: String,
    pub email_attempts: i32,
    pub email_next_attempt_at: Option<DateTimeUtc>,
    pub email_error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
