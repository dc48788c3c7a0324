use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_logs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub event_id: Uuid,
    pub event_type: String,
    pub entity_type: String,
    pub entity_id: String,
    pub user_id: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub data: Json,
    pub occurred_at: DateTimeUtc,
    pub recorded_at: DateTimeUtc,
    pub trace_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
