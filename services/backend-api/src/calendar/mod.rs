//! The iCalendar feed (issue 20): a person's due tasks as a calendar that Google Calendar, Apple
//! Calendar or Thunderbird subscribe to by URL. The text is written here (`ics.rs`, `feed.rs`,
//! `vtimezone.rs`); the feed token that stands in for the `Authorization` header calendar apps
//! cannot send is `token.rs`. The routes are `routes/calendar.rs`.

pub mod feed;
pub mod ics;
pub mod token;
pub mod vtimezone;
