//! Users: local accounts with an Argon2 hash, and identity-provider accounts provisioned on first sight.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use crate::StoreError;
use crate::entity::users;

/// A user as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    pub timezone: String,
    /// Minutes before the due date for an automatic "due soon" notification; `None` = off.
    pub default_reminder_minutes: Option<u32>,
    pub created_at: DateTime<Utc>,
}

/// A user with the stored password hash, for login only.
#[derive(Debug, Clone)]
pub struct UserWithPassword {
    pub user: User,
    pub password_hash: Option<String>,
}

/// Profile fields to change; `None` leaves a field alone (`Some(None)` turns the default reminder off).
#[derive(Debug, Clone, Default)]
pub struct ProfileChange {
    pub name: Option<String>,
    pub timezone: Option<String>,
    pub default_reminder_minutes: Option<Option<u32>>,
}

/// A validated new user.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    pub password_hash: Option<String>,
    pub timezone: String,
}

impl From<users::Model> for User {
    fn from(m: users::Model) -> Self {
        Self {
            id: m.id,
            name: m.name,
            email: m.email,
            timezone: m.timezone,
            default_reminder_minutes: m.default_reminder_minutes.and_then(|v| u32::try_from(v).ok()),
            created_at: m.created_at,
        }
    }
}

pub struct UserRepo<'a> {
    pub(crate) db: &'a DatabaseConnection,
}

impl<'a> UserRepo<'a> {
    pub(crate) fn new(db: &'a DatabaseConnection) -> Self {
        Self { db }
    }

    fn active(new: NewUser) -> users::ActiveModel {
        let now = taskflow_domain::time::now();
        users::ActiveModel {
            id: Set(new.id),
            name: Set(new.name),
            email: Set(new.email),
            password_hash: Set(new.password_hash),
            timezone: Set(new.timezone),
            default_reminder_minutes: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
    }

    /// Creates a user; an e-mail address already in use is [`StoreError::Duplicate`].
    pub async fn create(&self, new: NewUser) -> Result<User, StoreError> {
        let model = users::Entity::insert(Self::active(new))
            .exec_with_returning(self.db)
            .await
            .map_err(|e| StoreError::unique(e, "email"))?;
        Ok(model.into())
    }

    pub async fn find(&self, id: &str) -> Result<Option<User>, StoreError> {
        Ok(users::Entity::find_by_id(id.to_owned())
            .one(self.db)
            .await?
            .map(User::from))
    }

    /// Changes a user's name, time zone or default reminder; `None` when there is no such user.
    pub async fn update_profile(&self, id: &str, change: ProfileChange) -> Result<Option<User>, StoreError> {
        let ProfileChange {
            name,
            timezone,
            default_reminder_minutes,
        } = change;
        let Some(current) = users::Entity::find_by_id(id.to_owned()).one(self.db).await? else {
            return Ok(None);
        };
        let mut row: users::ActiveModel = current.into();
        if let Some(name) = name {
            row.name = Set(name);
        }
        if let Some(tz) = timezone {
            row.timezone = Set(tz);
        }
        if let Some(minutes) = default_reminder_minutes {
            row.default_reminder_minutes = Set(minutes.and_then(|m| i32::try_from(m).ok()));
        }
        row.updated_at = Set(taskflow_domain::time::now());
        let updated = sea_orm::ActiveModelTrait::update(row, self.db).await?;
        Ok(Some(updated.into()))
    }

    /// Looks a user up by normalised e-mail address.
    pub async fn find_by_email(&self, email: &str) -> Result<Option<UserWithPassword>, StoreError> {
        let model = users::Entity::find()
            .filter(users::Column::Email.eq(email))
            .one(self.db)
            .await?;
        Ok(model.map(|m| UserWithPassword {
            password_hash: m.password_hash.clone(),
            user: m.into(),
        }))
    }

    /// Creates an identity-provider user unless one with this id exists. When the e-mail address already
    /// belongs to another account, the user is provisioned without one rather than refused.
    pub async fn ensure_exists(&self, new: NewUser) -> Result<(), StoreError> {
        let insert = |new: NewUser| {
            users::Entity::insert(Self::active(new))
                .on_conflict_do_nothing_on([users::Column::Id])
                .exec(self.db)
        };
        match insert(new.clone()).await {
            Ok(_) => Ok(()),
            Err(e) => match StoreError::unique(e, "email") {
                StoreError::Duplicate(_) if new.email.is_some() => {
                    tracing::warn!(user_id = %new.id, "e-mail of an identity-provider user is taken; provisioning without it");
                    insert(NewUser { email: None, ..new })
                        .await
                        .map(|_| ())
                        .map_err(StoreError::from)
                }
                other => Err(other),
            },
        }
    }
}
