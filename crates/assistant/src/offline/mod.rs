//! The offline agent: what users without a model API key get.
//!
//! It reads one English request ("add high priority task fix bug due tomorrow #work", "what's due this
//! week?", "move dentist to friday 3pm") into the same tool calls the online agent would make, so the
//! tools behave identically either way. It is deterministic and never guesses: a request it does not
//! fully understand gets a plain answer saying what it could not understand, with examples that work.
//! Dates, repetitions and reminders are recognised with the domain's quick-add parsers (to find where a
//! phrase ends and the title begins) and passed on as text; the tool resolves them in the user's zone.

mod add;
mod list;
mod manage;
mod words;

#[cfg(test)]
mod tests;

use crate::tools::{GetStatsArgs, ToolCall};
use words::Words;

/// What the offline agent makes of a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Run these tools, in order.
    Calls(Vec<ToolCall>),
    /// Nothing to run: answer with this text (help, or what was not understood).
    Reply(String),
}

/// Longer messages are answered, not parsed: requests are a sentence or a few.
pub const MAX_MESSAGE_CHARS: usize = 1_000;

const EXAMPLES: &str = "Things I understand:\n\
- \"add high priority task fix bug due tomorrow #work\"\n\
- \"remind me to pay rent every month on the 1st\"\n\
- \"what's due this week?\", \"show overdue tasks\", \"search for invoice\"\n\
- \"complete fix bug\", \"reopen fix bug\", \"delete the groceries task\"\n\
- \"move dentist to friday 3pm\", \"change the priority of fix bug to low\", \"rename fix bug to fix login bug\"\n\
- \"remind me about dentist 30 minutes before\"\n\
- \"show my stats\"\n\
Join several requests with \"; \" or \" and then \".";

/// `lead` followed by the examples.
pub(crate) fn help_with(lead: &str) -> String {
    format!("{lead}\n\n{EXAMPLES}")
}

fn not_understood(what: &str) -> Plan {
    Plan::Reply(help_with(&format!(
        "Sorry, I couldn't understand {what}. I work without an AI model, so I only follow requests like the ones below."
    )))
}

const GREETINGS: &[&str] = &[
    "hi",
    "hello",
    "hey",
    "yo",
    "help",
    "thanks",
    "thank you",
    "thx",
    "good morning",
    "good afternoon",
    "good evening",
    "what can you do",
    "how does this work",
    "who are you",
    "hi there",
    "hello there",
    "hey there",
    "",
];

const THANKS: &[&str] = &[
    "thanks",
    "thank you",
    "thx",
    "ty",
    "cheers",
    "great thanks",
    "ok thanks",
];

const ADD_VERBS: &[&str] = &[
    "add",
    "create",
    "new",
    "make a task",
    "make a new task",
    "i need to",
    "i have to",
    "i must",
    "don't forget to",
    "dont forget to",
    "remember to",
    "todo",
    "to-do",
    "note to self",
];

const STATS_WORDS: &[&str] = &[
    "stats",
    "statistics",
    "progress",
    "productivity",
    "productive",
    "streak",
];
const STATS_PHRASES: &[&str] = &[
    "how am i doing",
    "how did i do",
    "how many tasks",
    "how have i been doing",
];

const LIST_VERBS: &[&str] = &[
    "show",
    "list",
    "display",
    "view",
    "see",
    "what",
    "what's",
    "whats",
    "which",
    "any",
    "anything",
    "do",
    "get",
    "give",
    "find",
    "search",
    "look",
    "tell",
    "can",
    "whats",
    "pending",
    "completed",
    "overdue",
    "my",
    "all",
];

/// Plans one request (no "; " or "and then" inside).
fn plan_one(w: &Words) -> Plan {
    let all = w.low_text(0, w.len());
    if THANKS.contains(&all.as_str()) {
        return Plan::Reply(help_with("You're welcome!"));
    }
    if GREETINGS.contains(&all.as_str()) {
        return Plan::Reply(help_with("Hi! I can manage your tasks."));
    }
    let call = |r: Result<ToolCall, String>| match r {
        Ok(call) => Plan::Calls(vec![call]),
        Err(what) => not_understood(&what),
    };
    if let Some(n) = w.any(
        0,
        &[
            "remind me to",
            "remind me that i need to",
            "remind me that i have to",
        ],
    ) {
        return add::plan(w, n, true);
    }
    // "remind me in 2 hours to check the oven": the same as "remind me to check the oven in 2 hours".
    if let Some(n) = w.is(0, "remind me")
        && let Some(k) = (n + 1..w.len())
            .find(|k| w.low(*k) == "to" && taskflow_domain::quick_add::is_when(&w.low_text(n, *k)))
    {
        let reordered = Words::new(&format!("{} {}", w.text(k + 1, w.len()), w.text(n, k)));
        return add::plan(&reordered, 0, true);
    }
    if let Some(r) = manage::reminder(w) {
        return call(r);
    }
    if let Some(n) = w.any(0, ADD_VERBS) {
        return add::plan(w, n, false);
    }
    if let Some(r) = manage::completion(w) {
        return call(r);
    }
    let stats = (0..w.len()).any(|i| STATS_WORDS.contains(&w.low(i)) || w.any(i, STATS_PHRASES).is_some());
    let searching = w.any(0, &["search", "find", "look"]).is_some();
    if stats && !searching {
        return Plan::Calls(vec![ToolCall::new("get_stats", GetStatsArgs {})]);
    }
    if let Some(r) = manage::update(w) {
        return call(r);
    }
    if let Some(r) = manage::deletion(w) {
        return call(r);
    }
    let listy = LIST_VERBS.contains(&w.low(0)) || (0..w.len()).any(|i| list::SIGNALS.contains(&w.low(i)));
    if listy {
        return call(list::plan(w).map_err(|unknown| format!("{unknown} in your question")));
    }
    let said = w.text(0, w.len());
    Plan::Reply(help_with(&format!(
        "Sorry, I couldn't understand \"{said}\". To add it as a task, say \"add {said}\"."
    )))
}

/// The requests in a message: split at ";" and at "and then" / ", then".
fn requests(message: &str) -> Vec<Words> {
    let all = Words::new(message);
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < all.len() {
        let (cut, skip) = if all.raw(i).ends_with(';') {
            (i + 1, 0)
        } else if all.is(i, "and then").is_some() && i > start {
            (i, 2)
        } else if all.low(i) == "then" && i > start && all.raw(i - 1).ends_with(',') {
            (i, 1)
        } else {
            i += 1;
            continue;
        };
        out.push(all.slice(start, cut));
        start = cut + skip;
        i = start;
    }
    out.push(all.slice(start, all.len()));
    out.retain(|w| w.len() > 0);
    out
}

/// Reads one quick-add line — a title followed by attributes, as a task app's "New task" box takes it
/// ("Call the plumber tomorrow at 9am #home !high") — into `add_task` arguments, with the phrases as
/// written (resolve them with [`crate::tools::exec::create_request`]). Unlike a chat request there is
/// no verb or preamble to skip ("New York trip" keeps its "New"). `None` when no title remains.
pub fn quick_add(text: &str) -> Option<crate::tools::AddTaskArgs> {
    if text.chars().count() > MAX_MESSAGE_CHARS {
        return None;
    }
    add::split(&Words::new(text), 0, false, crate::tools::AddTaskArgs::default())
}

/// Reads a message into tool calls, or a reply when there is nothing to run.
pub fn plan(message: &str) -> Plan {
    if message.chars().count() > MAX_MESSAGE_CHARS {
        return Plan::Reply(help_with(&format!(
            "That message is too long for me: I read requests of up to {MAX_MESSAGE_CHARS} characters, one or a few at a time."
        )));
    }
    let requests = requests(message);
    if requests.is_empty() {
        return plan_one(&Words::new(""));
    }
    let mut calls = Vec::new();
    for request in &requests {
        match plan_one(request) {
            Plan::Calls(c) => calls.extend(c),
            Plan::Reply(text) if requests.len() == 1 => return Plan::Reply(text),
            Plan::Reply(text) => {
                let part = request.text(0, request.len());
                return Plan::Reply(format!("In \"{part}\": {text}"));
            }
        }
    }
    Plan::Calls(calls)
}
