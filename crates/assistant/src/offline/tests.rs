//! The offline agent's contract: utterances and the exact tool calls they must produce.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use proptest::prelude::*;
use taskflow_domain::quick_add::{parse_recurrence, parse_reminder, parse_when};
use taskflow_domain::{Category, Priority, ReminderSpec};

use super::{Plan, plan};
use crate::tools::{
    AddTaskArgs, CompleteTaskArgs, DeleteTaskArgs, DueWindow, GetStatsArgs, ListStatus, ListTasksArgs,
    SetReminderArgs, ToolCall, UpdateTaskArgs,
};

/// A tool call with its arguments decoded into the tool's argument type.
#[derive(Debug, Clone, PartialEq)]
enum Call {
    Add(AddTaskArgs),
    List(ListTasksArgs),
    Complete(CompleteTaskArgs),
    Delete(DeleteTaskArgs),
    Update(UpdateTaskArgs),
    Stats(GetStatsArgs),
    Remind(SetReminderArgs),
}

fn decode(call: &ToolCall) -> Result<Call, String> {
    let v = call.arguments.clone();
    let e = |e: serde_json::Error| format!("{}: {e}", call.name);
    Ok(match call.name.as_str() {
        "add_task" => Call::Add(serde_json::from_value(v).map_err(e)?),
        "list_tasks" => Call::List(serde_json::from_value(v).map_err(e)?),
        "complete_task" => Call::Complete(serde_json::from_value(v).map_err(e)?),
        "delete_task" => Call::Delete(serde_json::from_value(v).map_err(e)?),
        "update_task" => Call::Update(serde_json::from_value(v).map_err(e)?),
        "get_stats" => Call::Stats(serde_json::from_value(v).map_err(e)?),
        "set_reminder" => Call::Remind(serde_json::from_value(v).map_err(e)?),
        other => return Err(format!("unknown tool {other}")),
    })
}

fn calls(message: &str) -> Result<Vec<Call>, String> {
    match plan(message) {
        Plan::Calls(calls) => calls.iter().map(decode).collect(),
        Plan::Reply(text) => Err(format!("replied: {text}")),
    }
}

fn add(title: &str) -> AddTaskArgs {
    AddTaskArgs {
        title: title.to_owned(),
        ..AddTaskArgs::default()
    }
}

fn s(text: &str) -> Option<String> {
    Some(text.to_owned())
}

fn update(task: &str) -> UpdateTaskArgs {
    UpdateTaskArgs {
        task: task.to_owned(),
        ..UpdateTaskArgs::default()
    }
}

fn list() -> ListTasksArgs {
    ListTasksArgs::default()
}

fn complete(task: &str, completed: Option<bool>) -> Call {
    Call::Complete(CompleteTaskArgs {
        task: task.to_owned(),
        completed,
    })
}

fn cases() -> Vec<(&'static str, Vec<Call>)> {
    vec![
        (
            "add high priority task fix bug due tomorrow #work",
            vec![Call::Add(AddTaskArgs {
                priority: Some(Priority::High),
                due: s("tomorrow"),
                tags: vec!["work".into()],
                ..add("fix bug")
            })],
        ),
        (
            "remind me to pay rent every month on the 1st",
            vec![Call::Add(AddTaskArgs {
                recurrence: s("every month on the 1st"),
                ..add("pay rent")
            })],
        ),
        (
            "remind me to call mom tomorrow at 6pm",
            vec![Call::Add(AddTaskArgs {
                due: s("tomorrow at 6pm"),
                remind: s("at due time"),
                ..add("call mom")
            })],
        ),
        (
            "remind me to renew passport on friday",
            vec![Call::Add(AddTaskArgs {
                due: s("on friday"),
                remind: s("on friday at 9am"),
                ..add("renew passport")
            })],
        ),
        (
            "add weekly review every friday at 4pm",
            vec![Call::Add(AddTaskArgs {
                due: s("friday at 4pm"),
                recurrence: s("every friday"),
                ..add("weekly review")
            })],
        ),
        (
            "remind me to take out the trash every tuesday night",
            vec![Call::Add(AddTaskArgs {
                due: s("tuesday night"),
                recurrence: s("every tuesday"),
                remind: s("at due time"),
                ..add("take out the trash")
            })],
        ),
        (
            "add submit taxes before april 15",
            vec![Call::Add(AddTaskArgs {
                due: s("april 15"),
                ..add("submit taxes")
            })],
        ),
        (
            "remind me in 2 hours to check the oven",
            vec![Call::Add(AddTaskArgs {
                due: s("in 2 hours"),
                remind: s("at due time"),
                ..add("check the oven")
            })],
        ),
        (
            "change taxes to tomorrow",
            vec![Call::Update(UpdateTaskArgs {
                due: s("tomorrow"),
                ..update("taxes")
            })],
        ),
        (
            "find my tasks tagged home",
            vec![Call::List(ListTasksArgs {
                tag: s("home"),
                ..list()
            })],
        ),
        (
            "set reminder on taxes for 1 day before",
            vec![Call::Remind(SetReminderArgs {
                task: "taxes".into(),
                when: "1 day before".into(),
            })],
        ),
        ("add buy milk", vec![Call::Add(add("buy milk"))]),
        ("add check the evening", vec![Call::Add(add("check the evening"))]),
        ("Add a task to Buy Milk.", vec![Call::Add(add("Buy Milk"))]),
        ("add call mom to my list", vec![Call::Add(add("call mom"))]),
        (
            "create a work task: prepare slides by next monday",
            vec![Call::Add(AddTaskArgs {
                category: Some(Category::Work),
                due: s("next monday"),
                ..add("prepare slides")
            })],
        ),
        (
            "add water plants every other day",
            vec![Call::Add(AddTaskArgs {
                recurrence: s("every other day"),
                ..add("water plants")
            })],
        ),
        (
            "add standup every weekday at 9:30am",
            vec![Call::Add(AddTaskArgs {
                due: s("at 9:30am"),
                recurrence: s("every weekday"),
                ..add("standup")
            })],
        ),
        (
            "add dentist friday 3pm remind me 1 hour before",
            vec![Call::Add(AddTaskArgs {
                due: s("friday 3pm"),
                remind: s("1 hour before"),
                ..add("dentist")
            })],
        ),
        (
            "add review the 1st draft next friday 5pm high priority",
            vec![Call::Add(AddTaskArgs {
                priority: Some(Priority::High),
                due: s("next friday 5pm"),
                ..add("review the 1st draft")
            })],
        ),
        (
            "add task team sync every mon, wed and fri #meetings #team",
            vec![Call::Add(AddTaskArgs {
                recurrence: s("every mon, wed and fri"),
                tags: vec!["meetings".into(), "team".into()],
                ..add("team sync")
            })],
        ),
        (
            "add file taxes dec 5 tagged finance",
            vec![Call::Add(AddTaskArgs {
                due: s("dec 5"),
                tags: vec!["finance".into()],
                ..add("file taxes")
            })],
        ),
        (
            "add pay invoice in 3 days with a reminder 2 hours before",
            vec![Call::Add(AddTaskArgs {
                due: s("in 3 days"),
                remind: s("2 hours before"),
                ..add("pay invoice")
            })],
        ),
        (
            "add submit report end of month",
            vec![Call::Add(AddTaskArgs {
                due: s("end of month"),
                ..add("submit report")
            })],
        ),
        (
            "add clean garage this weekend priority low",
            vec![Call::Add(AddTaskArgs {
                priority: Some(Priority::Low),
                due: s("this weekend"),
                ..add("clean garage")
            })],
        ),
        (
            "what's due this week?",
            vec![Call::List(ListTasksArgs {
                due: Some(DueWindow::ThisWeek),
                ..list()
            })],
        ),
        ("show my tasks", vec![Call::List(list())]),
        (
            "list high priority tasks tagged work",
            vec![Call::List(ListTasksArgs {
                priority: Some(Priority::High),
                tag: s("work"),
                ..list()
            })],
        ),
        (
            "what's overdue",
            vec![Call::List(ListTasksArgs {
                due: Some(DueWindow::Overdue),
                ..list()
            })],
        ),
        (
            "show completed tasks",
            vec![Call::List(ListTasksArgs {
                status: Some(ListStatus::Completed),
                ..list()
            })],
        ),
        (
            "search for invoice",
            vec![Call::List(ListTasksArgs {
                search: s("invoice"),
                ..list()
            })],
        ),
        (
            "what do I have today?",
            vec![Call::List(ListTasksArgs {
                due: Some(DueWindow::Today),
                ..list()
            })],
        ),
        (
            "show work tasks due tomorrow",
            vec![Call::List(ListTasksArgs {
                category: Some(Category::Work),
                due: Some(DueWindow::Tomorrow),
                ..list()
            })],
        ),
        (
            "show top 5 tasks about taxes",
            vec![Call::List(ListTasksArgs {
                limit: Some(5),
                search: s("taxes"),
                ..list()
            })],
        ),
        (
            "overdue tasks",
            vec![Call::List(ListTasksArgs {
                due: Some(DueWindow::Overdue),
                ..list()
            })],
        ),
        ("complete fix bug", vec![complete("fix bug", None)]),
        ("mark fix bug as done", vec![complete("fix bug", None)]),
        ("I finished the report", vec![complete("report", None)]),
        ("fix bug is done", vec![complete("fix bug", None)]),
        ("reopen fix bug", vec![complete("fix bug", Some(false))]),
        ("mark fix bug as not done", vec![complete("fix bug", Some(false))]),
        (
            "delete the groceries task",
            vec![Call::Delete(DeleteTaskArgs {
                task: "groceries".into(),
            })],
        ),
        (
            "change the priority of fix bug to low",
            vec![Call::Update(UpdateTaskArgs {
                priority: Some(Priority::Low),
                ..update("fix bug")
            })],
        ),
        (
            "set fix bug's priority to high",
            vec![Call::Update(UpdateTaskArgs {
                priority: Some(Priority::High),
                ..update("fix bug")
            })],
        ),
        (
            "move dentist to friday 3pm",
            vec![Call::Update(UpdateTaskArgs {
                due: s("friday 3pm"),
                ..update("dentist")
            })],
        ),
        (
            "reschedule talk to bob for next week",
            vec![Call::Update(UpdateTaskArgs {
                due: s("next week"),
                ..update("talk to bob")
            })],
        ),
        (
            "rename fix bug to fix login bug",
            vec![Call::Update(UpdateTaskArgs {
                title: s("fix login bug"),
                ..update("fix bug")
            })],
        ),
        (
            "tag groceries with #home",
            vec![Call::Update(UpdateTaskArgs {
                tags: Some(vec!["home".into()]),
                ..update("groceries")
            })],
        ),
        (
            "make gym repeat every monday and thursday",
            vec![Call::Update(UpdateTaskArgs {
                recurrence: s("every monday and thursday"),
                ..update("gym")
            })],
        ),
        (
            "stop repeating gym",
            vec![Call::Update(UpdateTaskArgs {
                recurrence: s("none"),
                ..update("gym")
            })],
        ),
        (
            "clear the due date of dentist",
            vec![Call::Update(UpdateTaskArgs {
                due: s("none"),
                ..update("dentist")
            })],
        ),
        (
            "make fix bug high priority",
            vec![Call::Update(UpdateTaskArgs {
                priority: Some(Priority::High),
                ..update("fix bug")
            })],
        ),
        ("show my stats", vec![Call::Stats(GetStatsArgs {})]),
        ("how am I doing?", vec![Call::Stats(GetStatsArgs {})]),
        (
            "remind me about dentist 30 minutes before",
            vec![Call::Remind(SetReminderArgs {
                task: "dentist".into(),
                when: "30 minutes before".into(),
            })],
        ),
        (
            "set a reminder for dentist tomorrow 8am",
            vec![Call::Remind(SetReminderArgs {
                task: "dentist".into(),
                when: "tomorrow 8am".into(),
            })],
        ),
        (
            "add buy milk; complete fix bug",
            vec![Call::Add(add("buy milk")), complete("fix bug", None)],
        ),
        (
            "complete fix bug and then show my tasks",
            vec![complete("fix bug", None), Call::List(list())],
        ),
    ]
}

#[test]
fn utterances_become_the_expected_tool_calls() {
    let cases = cases();
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(message, expected)| match calls(message) {
            Ok(got) if got == *expected => None,
            got => Some(format!(
                "{message:?}\n  expected {expected:?}\n  got      {got:?}"
            )),
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(cases.len() >= 40, "{}", cases.len());
}

#[test]
fn says_plainly_what_it_could_not_understand() {
    let long = format!("add {}", "very ".repeat(300));
    let cases = [
        ("buy milk", "add buy milk"),
        ("hello", "Things I understand"),
        ("help", "Things I understand"),
        ("", "Things I understand"),
        ("add", "what should the task be called"),
        ("add tomorrow at 5pm", "what should the task be called"),
        ("delete all tasks", "one task at a time"),
        ("remove #home from groceries", "not remove a part of one"),
        ("what's due today and tomorrow", "more than one due window"),
        ("thanks!", "You're welcome"),
        ("move dentist to sometime", "when to move"),
        ("change the priority of fix bug to whenever", "as a priority"),
        ("show my flurbs", "\"flurbs\""),
        ("remind me about dentist", "when to remind you about \"dentist\""),
        ("add buy milk; frobnicate", "In \"frobnicate\""),
        (&long, "too long"),
    ];
    for (message, needle) in cases {
        match plan(message) {
            Plan::Reply(text) => {
                assert!(text.contains(needle), "{message:?}: {text}");
                assert!(text.contains("Things I understand"), "{message:?}: {text}");
            }
            Plan::Calls(calls) => panic!("{message:?} should get a reply, got {calls:?}"),
        }
    }
}

const TZ: Tz = chrono_tz::America::New_York;

/// Wednesday 4 March 2026, 15:30 in New York.
fn local(s: &str) -> DateTime<Utc> {
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
    TZ.from_local_datetime(&naive)
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

/// An add request and what its phrases mean: due (New York time), rule, reminder.
type Resolved = (
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    Option<ReminderSpec>,
);

/// For every add_task case, what its phrases must mean when the tool runs: the task it creates.
#[test]
fn added_tasks_phrases_resolve_to_the_intended_values() {
    let now = local("2026-03-04 15:30");
    // (message, due (local), rule, reminder)
    let expected: &[Resolved] = &[
        (
            "add high priority task fix bug due tomorrow #work",
            Some("2026-03-05 23:59"),
            None,
            None,
        ),
        (
            "remind me to pay rent every month on the 1st",
            None,
            Some("FREQ=MONTHLY;BYMONTHDAY=1"),
            None,
        ),
        (
            "remind me to call mom tomorrow at 6pm",
            Some("2026-03-05 18:00"),
            None,
            Some(ReminderSpec {
                remind_at: None,
                minutes_before_due: Some(0),
            }),
        ),
        (
            "remind me to renew passport on friday",
            Some("2026-03-06 23:59"),
            None,
            Some(ReminderSpec {
                remind_at: Some(local("2026-03-06 09:00")),
                minutes_before_due: None,
            }),
        ),
        (
            "add weekly review every friday at 4pm",
            Some("2026-03-06 16:00"),
            Some("FREQ=WEEKLY;BYDAY=FR"),
            None,
        ),
        (
            "remind me to take out the trash every tuesday night",
            Some("2026-03-10 20:00"),
            Some("FREQ=WEEKLY;BYDAY=TU"),
            Some(ReminderSpec {
                remind_at: None,
                minutes_before_due: Some(0),
            }),
        ),
        (
            "add submit taxes before april 15",
            Some("2026-04-15 23:59"),
            None,
            None,
        ),
        (
            "remind me in 2 hours to check the oven",
            Some("2026-03-04 17:30"),
            None,
            Some(ReminderSpec {
                remind_at: None,
                minutes_before_due: Some(0),
            }),
        ),
        (
            "create a work task: prepare slides by next monday",
            Some("2026-03-09 23:59"),
            None,
            None,
        ),
        (
            "add water plants every other day",
            None,
            Some("FREQ=DAILY;INTERVAL=2"),
            None,
        ),
        (
            "add standup every weekday at 9:30am",
            Some("2026-03-05 09:30"),
            Some("weekdays"),
            None,
        ),
        (
            "add dentist friday 3pm remind me 1 hour before",
            Some("2026-03-06 15:00"),
            None,
            Some(ReminderSpec {
                remind_at: None,
                minutes_before_due: Some(60),
            }),
        ),
        (
            "add review the 1st draft next friday 5pm high priority",
            Some("2026-03-06 17:00"),
            None,
            None,
        ),
        (
            "add task team sync every mon, wed and fri #meetings #team",
            None,
            Some("FREQ=WEEKLY;BYDAY=MO,WE,FR"),
            None,
        ),
        (
            "add file taxes dec 5 tagged finance",
            Some("2026-12-05 23:59"),
            None,
            None,
        ),
        (
            "add pay invoice in 3 days with a reminder 2 hours before",
            Some("2026-03-07 15:30"),
            None,
            Some(ReminderSpec {
                remind_at: None,
                minutes_before_due: Some(120),
            }),
        ),
        (
            "add submit report end of month",
            Some("2026-03-31 23:59"),
            None,
            None,
        ),
        (
            "add clean garage this weekend priority low",
            Some("2026-03-07 23:59"),
            None,
            None,
        ),
    ];
    let adds: Vec<&str> = cases()
        .into_iter()
        .filter(|(_, calls)| calls.iter().any(|c| matches!(c, Call::Add(a) if a.due.is_some() || a.recurrence.is_some() || a.remind.is_some())))
        .map(|(m, _)| m)
        .filter(|m| !m.contains(';'))
        .collect();
    let covered: Vec<&str> = expected.iter().map(|(m, ..)| *m).collect();
    assert_eq!(adds, covered, "every add_task case with phrases is checked");
    for (message, due, rule, reminder) in expected {
        let Ok(got) = calls(message) else {
            panic!("{message}")
        };
        let [Call::Add(args)] = got.as_slice() else {
            panic!("{message}: {got:?}")
        };
        let got_due = args.due.as_deref().map(|d| parse_when(d, now, TZ).unwrap());
        assert_eq!(got_due, due.map(local), "{message}: due");
        let got_rule = args.recurrence.as_deref().map(|r| parse_recurrence(r).unwrap());
        assert_eq!(got_rule.as_deref(), *rule, "{message}: recurrence");
        let got_reminder = args
            .remind
            .as_deref()
            .map(|r| parse_reminder(r, now, TZ).unwrap());
        assert_eq!(got_reminder.as_ref(), reminder.as_ref(), "{message}: reminder");
    }
}

const VOCABULARY: &[&str] = &[
    "add",
    "task",
    "remind",
    "me",
    "to",
    "about",
    "show",
    "list",
    "complete",
    "mark",
    "as",
    "done",
    "delete",
    "move",
    "rename",
    "tag",
    "with",
    "#work",
    "#",
    "high",
    "priority",
    "due",
    "tomorrow",
    "at",
    "5pm",
    "every",
    "monday",
    "and",
    "then",
    ";",
    "the",
    "1st",
    "30",
    "minutes",
    "before",
    "change",
    "of",
    "make",
    "repeat",
    "stats",
    "search",
    "for",
    "what's",
    "this",
    "week",
    "in",
    "days",
    "'s",
    "ünïcödé",
    "🙂",
    "",
];

proptest! {
    #[test]
    fn never_panics_and_calls_always_fit_their_tools(s in "\\PC{0,100}") {
        if let Plan::Calls(calls) = plan(&s) {
            for call in &calls {
                prop_assert!(decode(call).is_ok(), "{:?}", call);
            }
        }
    }

    #[test]
    fn near_miss_requests_never_panic_and_fit_their_tools(
        words in proptest::collection::vec(proptest::sample::select(VOCABULARY), 0..10)
    ) {
        let message = words.join(" ");
        if let Plan::Calls(calls) = plan(&message) {
            for call in &calls {
                prop_assert!(decode(call).is_ok(), "{:?}", call);
            }
        }
    }
}

/// A "New task" box's line: the title, then `#tags` and `!priority` anywhere and phrases at the end.
#[test]
fn quick_add_lines_split_into_title_and_attributes() {
    use super::quick_add;
    let now = local("2026-03-04 15:30");
    let args = quick_add("Call the plumber tomorrow at 9am #home !high").unwrap();
    assert_eq!(args.title, "Call the plumber");
    assert_eq!(args.tags, vec!["home"]);
    assert_eq!(args.priority, Some(Priority::High));
    assert_eq!(args.due.as_deref(), Some("tomorrow at 9am"));
    let task = crate::tools::exec::create_request(args, now, TZ).unwrap();
    assert_eq!(task.due_at, Some(local("2026-03-05 09:00")));

    // No verb or article is taken off the front: titles are kept as typed.
    let args = quick_add("New York trip planning !low").unwrap();
    assert_eq!(args.title, "New York trip planning");
    assert_eq!(args.priority, Some(Priority::Low));
    assert_eq!(
        quick_add("A walk in the park").unwrap().title,
        "A walk in the park"
    );

    // `!priority` wins wherever it stands; an unknown `!word` stays in the title.
    let args = quick_add("!urgent fix the build, #work").unwrap();
    assert_eq!(
        (args.title.as_str(), args.priority),
        ("fix the build", Some(Priority::High))
    );
    assert_eq!(args.tags, vec!["work"]);
    assert_eq!(quick_add("Say !hello").unwrap().title, "Say !hello");
    assert_eq!(quick_add("Wow!").unwrap().title, "Wow");

    // Repetitions and reminders, resolved like the add_task tool resolves them.
    let args = quick_add("Standup every weekday at 9:30am remind me 10 minutes before").unwrap();
    assert_eq!(args.title, "Standup");
    let task = crate::tools::exec::create_request(args, now, TZ).unwrap();
    assert_eq!(task.due_at, Some(local("2026-03-05 09:30")));
    assert!(
        matches!(task.recurrence, Some(taskflow_domain::RecurrenceInput::Rule(ref r)) if r == "weekdays")
    );
    assert_eq!(
        task.reminders,
        Some(vec![ReminderSpec {
            remind_at: None,
            minutes_before_due: Some(10)
        }])
    );

    // Nothing left for a title, or far too long: nothing to add.
    assert_eq!(quick_add("tomorrow at 9am #home"), None);
    assert_eq!(quick_add("   "), None);
    assert_eq!(quick_add(&"x ".repeat(600)), None);
}

proptest! {
    #[test]
    fn quick_add_never_panics(s in "\\PC{0,120}") {
        if let Some(args) = super::quick_add(&s) {
            prop_assert!(!args.title.is_empty());
            let _ = crate::tools::exec::create_request(args, local("2026-03-04 15:30"), TZ);
        }
    }
}
