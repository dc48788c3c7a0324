//! Finding the task a user means: by id, or by a title that picks out exactly one.
//!
//! Recurring series leave completed tasks with the same title behind, so among equal matches the
//! one in the state the action applies to wins (a pending task to complete, a completed one to
//! reopen). When a name still fits several tasks, the tool answers with the candidates and the
//! assistant asks — it never guesses which task to change or delete.

use serde_json::json;
use taskflow_domain::Task;
use taskflow_store::{StatusFilter, TaskFilter};
use uuid::Uuid;

use super::ToolError;
use super::context::ToolContext;

/// How many candidates are fetched and shown.
const CANDIDATES: u64 = 50;
const SHOWN: usize = 5;

/// Which tasks an action prefers when a name fits several.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefer {
    Pending,
    Completed,
}

impl Prefer {
    fn accepts(self, t: &Task) -> bool {
        match self {
            Self::Pending => !t.completed,
            Self::Completed => t.completed,
        }
    }
}

pub async fn resolve(ctx: &ToolContext, reference: &str, prefer: Prefer) -> Result<Task, ToolError> {
    let reference = reference.trim().trim_matches(|c| c == '"' || c == '\'').trim();
    if reference.is_empty() {
        return Err(ToolError::invalid("task", "name the task by its id or title"));
    }
    if let Ok(id) = Uuid::parse_str(reference) {
        return ctx
            .store
            .tasks()
            .get(&ctx.user_id, id)
            .await?
            .ok_or_else(|| ToolError::NotFound(format!("no task with id {id}")));
    }
    let filter = TaskFilter {
        status: StatusFilter::All,
        search: Some(reference.to_owned()),
        limit: CANDIDATES,
        ..TaskFilter::default()
    };
    let found = ctx.store.tasks().list(&ctx.user_id, &filter).await?.tasks;
    pick(found, reference, prefer)
}

/// The one task among `found` that `reference` names, preferring exact title matches, then the
/// preferred state.
fn pick(found: Vec<Task>, reference: &str, prefer: Prefer) -> Result<Task, ToolError> {
    let wanted = reference.to_lowercase();
    let (exact, partial): (Vec<Task>, Vec<Task>) =
        found.into_iter().partition(|t| t.title.to_lowercase() == wanted);
    let pool = if exact.is_empty() {
        partial
            .into_iter()
            .filter(|t| t.title.to_lowercase().contains(&wanted))
            .collect()
    } else {
        exact
    };
    let preferred: Vec<&Task> = pool.iter().filter(|t| prefer.accepts(t)).collect();
    let chosen = match (preferred.as_slice(), pool.as_slice()) {
        ([one], _) => Some((*one).clone()),
        (_, [one]) => Some(one.clone()),
        _ => None,
    };
    if let Some(task) = chosen {
        return Ok(task);
    }
    if pool.is_empty() {
        return Err(ToolError::NotFound(format!(
            "no task called \"{reference}\"; list the tasks to see their names"
        )));
    }
    let shown: Vec<&Task> = if preferred.is_empty() {
        pool.iter().collect()
    } else {
        preferred
    };
    let titles: Vec<String> = shown
        .iter()
        .take(SHOWN)
        .map(|t| format!("\"{}\"", t.title))
        .collect();
    Err(ToolError::Ambiguous {
        message: format!(
            "{} tasks match \"{reference}\": {}. Which one do you mean?",
            shown.len(),
            titles.join(", ")
        ),
        candidates: shown
            .iter()
            .take(SHOWN)
            .map(|t| json!({"id": t.id, "title": t.title, "completed": t.completed, "due_at": t.due_at}))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use taskflow_domain::{CreateTask, time};

    fn task(title: &str, completed: bool) -> Task {
        let mut t = CreateTask::titled(title)
            .validate()
            .unwrap()
            .into_task("u", time::now());
        t.completed = completed;
        t
    }

    #[test]
    fn an_exact_title_beats_longer_titles_containing_it() {
        let found = vec![task("fix bug", false), task("fix bug in parser", false)];
        assert_eq!(pick(found, "Fix Bug", Prefer::Pending).unwrap().title, "fix bug");
    }

    #[test]
    fn a_unique_partial_match_is_accepted() {
        let found = vec![task("buy groceries", false)];
        assert_eq!(
            pick(found, "groceries", Prefer::Pending).unwrap().title,
            "buy groceries"
        );
    }

    #[test]
    fn the_pending_occurrence_of_a_series_is_completed_not_the_done_one() {
        let done = task("water plants", true);
        let pending = task("water plants", false);
        let id = pending.id;
        assert_eq!(
            pick(vec![done, pending], "water plants", Prefer::Pending)
                .unwrap()
                .id,
            id
        );
    }

    #[test]
    fn two_pending_matches_are_ambiguous_and_list_the_candidates() {
        let found = vec![task("call mom", false), task("call dentist", false)];
        match pick(found, "call", Prefer::Pending) {
            Err(ToolError::Ambiguous { candidates, message }) => {
                assert_eq!(candidates.len(), 2);
                assert!(message.contains("\"call mom\"") && message.contains("\"call dentist\""));
            }
            other => panic!("expected ambiguity, got {other:?}"),
        }
    }

    #[test]
    fn nothing_matching_is_not_found() {
        assert!(matches!(
            pick(vec![], "nope", Prefer::Pending),
            Err(ToolError::NotFound(_))
        ));
    }
}
