//! Every list query the store can build is read from an index in keyset order on PostgreSQL
//! (issue 19), and paging with the index-friendly cursor predicate returns every row once, in order.
//!
//! One user with 20 000 tasks (80 % undated, ties in every sort key) and another user's rows are
//! seeded with one `INSERT … SELECT generate_series`, then `VACUUM ANALYZE`d. For each `sort_by` ×
//! `sort_order` × filter, first page and a cursor page (for a due-date order also a cursor on an
//! undated task), the statement comes from the store's own builder
//! (`TaskRepo::list_statement`) and is `EXPLAIN (FORMAT JSON)`ed with the same parameters:
//! - a filter most rows pass (status, priority, category, a common tag or term, a wide due range)
//!   must have no `Sort` (nor `Incremental Sort`) and no `Seq Scan` on `tasks`;
//! - a selective filter (a rare tag or term, a narrow due range) may sort, but only the rows a
//!   filtering index (GIN, trigram, `idx_tasks_user_due`) found: a bitmap scan of such an index under
//!   the sort, never the user's whole set, never a `Seq Scan`.
//!
//! PostgreSQL only (`TEST_DATABASE_URL`; required on CI): SQLite plans are not what this checks.

// A test: a failed step is the failure, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::Value;
use taskflow_domain::{Category, Priority};
use taskflow_store::{SortBy, SortOrder, StatusFilter, Store, StoreOptions, TaskFilter};
use taskflow_test_support::TestDb;
use uuid::Uuid;

const USER: &str = "plan-user";

fn base() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

const SEED: &str = r#"
INSERT INTO users (id, name, email, timezone, created_at, updated_at) VALUES
  ('plan-user', 'Plan', 'plan@example.com', 'UTC', now(), now()),
  ('other-user', 'Other', 'other@example.com', 'UTC', now(), now());
INSERT INTO tasks (id, user_id, title, description, priority, category, tags, completed, completed_at,
                   due_at, created_at, updated_at, version)
SELECT gen_random_uuid(), u,
  (ARRAY['Write report', 'Call plumber', 'Buy milk'])[g % 3 + 1] || ' ' || (g % 500),
  CASE WHEN g % 1000 = 7 THEN 'zebra crossing ' || g WHEN g % 2 = 0 THEN 'notes ' || g END,
  (g % 3)::smallint,
  (ARRAY['work', 'personal', 'home', 'other'])[g % 4 + 1],
  CASE WHEN g % 2000 = 0 THEN '["rare"]'
       ELSE (ARRAY['["work"]', '["home","urgent"]', '[]'])[g % 3 + 1] END::jsonb,
  g % 4 = 0, CASE WHEN g % 4 = 0 THEN timestamptz '2026-12-01T00:00:00Z' END,
  CASE WHEN g % 5 = 0 THEN timestamptz '2026-12-01T00:00:00Z' + (g / 50) * interval '1 hour' END,
  timestamptz '2026-12-01T00:00:00Z' - (g / 3) * interval '1 second', now(), 1
FROM (SELECT 'plan-user' AS u, g FROM generate_series(1, 20000) g
      UNION ALL SELECT 'other-user', g FROM generate_series(1, 3000) g) s;
"#;

/// Whether a plan may sort the rows a filtering index found, or must read an index in order.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    Ordered,
    Selective,
}

fn filters() -> Vec<(String, Expect, TaskFilter)> {
    let f = TaskFilter::default;
    let mut out = vec![
        ("no filter".to_owned(), Expect::Ordered, f()),
        (
            "status=pending".into(),
            Expect::Ordered,
            TaskFilter {
                status: StatusFilter::Pending,
                ..f()
            },
        ),
        (
            "status=completed".into(),
            Expect::Ordered,
            TaskFilter {
                status: StatusFilter::Completed,
                ..f()
            },
        ),
        (
            "tag=work".into(),
            Expect::Ordered,
            TaskFilter {
                tags: vec!["work".into()],
                ..f()
            },
        ),
        (
            "tags=home,urgent".into(),
            Expect::Ordered,
            TaskFilter {
                tags: vec!["home".into(), "urgent".into()],
                ..f()
            },
        ),
        (
            "search=report".into(),
            Expect::Ordered,
            TaskFilter {
                search: Some("report".into()),
                ..f()
            },
        ),
        (
            "due_before wide".into(),
            Expect::Ordered,
            TaskFilter {
                due_before: Some(base() + Duration::hours(300)),
                ..f()
            },
        ),
        (
            "due_after wide".into(),
            Expect::Ordered,
            TaskFilter {
                due_after: Some(base() + Duration::hours(100)),
                ..f()
            },
        ),
        (
            "pending + priority=high + category=work".into(),
            Expect::Ordered,
            TaskFilter {
                status: StatusFilter::Pending,
                priority: Some(Priority::High),
                category: Some(Category::Work),
                ..f()
            },
        ),
        (
            "tag=rare".into(),
            Expect::Selective,
            TaskFilter {
                tags: vec!["rare".into()],
                ..f()
            },
        ),
        (
            "search=zebra".into(),
            Expect::Selective,
            TaskFilter {
                search: Some("zebra".into()),
                ..f()
            },
        ),
        (
            "due range narrow".into(),
            Expect::Selective,
            TaskFilter {
                due_after: Some(base() + Duration::hours(10)),
                due_before: Some(base() + Duration::hours(12)),
                ..f()
            },
        ),
    ];
    for p in Priority::ALL {
        out.push((
            format!("priority={p:?}"),
            Expect::Ordered,
            TaskFilter {
                priority: Some(p),
                ..f()
            },
        ));
    }
    for c in Category::ALL {
        out.push((
            format!("category={c:?}"),
            Expect::Ordered,
            TaskFilter {
                category: Some(c),
                ..f()
            },
        ));
    }
    out
}

const SORTS: [SortBy; 4] = [SortBy::CreatedAt, SortBy::DueAt, SortBy::Priority, SortBy::Title];
const ORDERS: [SortOrder; 2] = [SortOrder::Asc, SortOrder::Desc];

async fn connect() -> Option<(Store, TestDb)> {
    let admin = taskflow_test_support::postgres_for_test("the list query plan test")?;
    let (url, db) = taskflow_test_support::migrated_database(Some(admin)).await;
    let options = StoreOptions {
        max_connections: 2,
        min_connections: 1,
        ..StoreOptions::default()
    };
    let store = Store::connect(&url, &options)
        .await
        .expect("connect to the test database");
    store
        .connection()
        .execute_unprepared(SEED)
        .await
        .expect("seed 20 000 tasks");
    // VACUUM too (outside the seed's implicit transaction): a bulk load leaves the GIN indexes'
    // pending lists full, which the planner prices as if it had to read them, as autovacuum would
    // not leave them in a running database.
    store
        .connection()
        .execute_unprepared("VACUUM ANALYZE tasks")
        .await
        .expect("vacuum and analyze the seeded tasks");
    Some((store, db))
}

async fn explain(store: &Store, stmt: &Statement) -> Value {
    let explain = Statement {
        sql: format!("EXPLAIN (FORMAT JSON) {}", stmt.sql),
        values: stmt.values.clone(),
        db_backend: DbBackend::Postgres,
    };
    let row = store
        .connection()
        .query_one_raw(explain)
        .await
        .expect("EXPLAIN runs")
        .expect("EXPLAIN returns its plan");
    row.try_get_by_index::<Value>(0).expect("the plan is JSON")
}

/// Every node of `plan`, depth first, with the nodes above it.
fn nodes<'a>(plan: &'a Value, above: &mut Vec<&'a Value>, out: &mut Vec<(&'a Value, Vec<&'a Value>)>) {
    out.push((plan, above.clone()));
    above.push(plan);
    for child in plan["Plans"].as_array().into_iter().flatten() {
        nodes(child, above, out);
    }
    above.pop();
}

fn node_type(node: &Value) -> &str {
    node["Node Type"].as_str().unwrap_or("")
}

/// One line per node: type, relation or index, condition.
fn summary(plan: &Value) -> String {
    let mut all = Vec::new();
    nodes(plan, &mut Vec::new(), &mut all);
    all.iter()
        .map(|(n, above)| {
            let name = n["Index Name"]
                .as_str()
                .or(n["Relation Name"].as_str())
                .unwrap_or("");
            let cond = n["Index Cond"].as_str().or(n["Filter"].as_str()).unwrap_or("");
            format!("{}{} {name} {cond}", "  ".repeat(above.len()), node_type(n))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// What is wrong with `plan` for a query expected to be `expect`, if anything.
fn problem(plan: &Value, expect: Expect) -> Option<String> {
    let mut all = Vec::new();
    nodes(plan, &mut Vec::new(), &mut all);
    for (node, _) in &all {
        let ty = node_type(node);
        if ty == "Seq Scan" && node["Relation Name"] == "tasks" {
            return Some("a Seq Scan on tasks".into());
        }
        let sorting = ty == "Sort" || ty == "Incremental Sort";
        if sorting && expect == Expect::Ordered {
            return Some(format!("a {ty} where an index gives the order"));
        }
        if sorting {
            let mut below = Vec::new();
            nodes(node, &mut Vec::new(), &mut below);
            let filtering_index = below.iter().any(|(n, _)| {
                node_type(n) == "Bitmap Index Scan"
                    && n["Index Name"].as_str().is_some_and(|i| {
                        i == "idx_tasks_tags" || i.ends_with("_trgm") || i == "idx_tasks_user_due"
                    })
            });
            if !filtering_index {
                return Some(format!("a {ty} over rows no filtering index selected"));
            }
        }
    }
    None
}

#[tokio::test]
async fn every_list_query_reads_an_index_in_keyset_order() {
    let Some((store, _db)) = connect().await else {
        return;
    };
    let mut failures = Vec::new();
    let mut checked = 0;
    for (name, expect, filter) in filters() {
        for sort_by in SORTS {
            for sort_order in ORDERS {
                let first = TaskFilter {
                    sort_by,
                    sort_order,
                    limit: 50,
                    ..filter.clone()
                };
                let mut shapes = vec![("first page", first.clone())];
                let page = store
                    .tasks()
                    .list(USER, &first)
                    .await
                    .expect("list the first page");
                if let Some(cursor) = page.next_cursor {
                    shapes.push((
                        "cursor page",
                        TaskFilter {
                            cursor: Some(cursor),
                            ..first.clone()
                        },
                    ));
                }
                if sort_by == SortBy::DueAt {
                    // Past every dated task: the cursor of an undated one.
                    let deep = TaskFilter {
                        limit: 10_000,
                        ..first.clone()
                    };
                    let page = store.tasks().list(USER, &deep).await.expect("list a deep page");
                    if let Some(cursor) = page.next_cursor {
                        shapes.push((
                            "undated cursor page",
                            TaskFilter {
                                cursor: Some(cursor),
                                ..first.clone()
                            },
                        ));
                    }
                }
                for (page, shape) in shapes {
                    let stmt = store
                        .tasks()
                        .list_statement(USER, &shape)
                        .expect("build the list query");
                    let plan = explain(&store, &stmt).await;
                    let root = &plan[0]["Plan"];
                    checked += 1;
                    if let Some(why) = problem(root, expect) {
                        failures.push(format!(
                            "{name}, sort_by={sort_by:?} {sort_order:?}, {page}: {why}\n  {}\n{}",
                            stmt.sql,
                            summary(root)
                        ));
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} list queries are not read from an index in keyset order:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// The ids of every task the list returns for `filter`, page after page.
async fn page_through(store: &Store, filter: &TaskFilter) -> Vec<Uuid> {
    let mut filter = filter.clone();
    let mut ids = Vec::new();
    loop {
        let page = store.tasks().list(USER, &filter).await.expect("list a page");
        ids.extend(page.tasks.iter().map(|t| t.id));
        match page.next_cursor {
            Some(c) => filter.cursor = Some(c),
            None => return ids,
        }
    }
}

#[tokio::test]
async fn paging_returns_every_row_once_in_order() {
    let Some((store, _db)) = connect().await else {
        return;
    };
    for status in [StatusFilter::All, StatusFilter::Pending] {
        for sort_by in SORTS {
            for sort_order in ORDERS {
                let column = match sort_by {
                    SortBy::CreatedAt => "created_at",
                    SortBy::DueAt => "due_at",
                    SortBy::Priority => "priority",
                    SortBy::Title => "title",
                };
                let dir = if sort_order == SortOrder::Asc {
                    "ASC"
                } else {
                    "DESC"
                };
                let pending = if status == StatusFilter::Pending {
                    "AND NOT completed"
                } else {
                    ""
                };
                let sql = format!(
                    "SELECT id FROM tasks WHERE user_id = '{USER}' {pending} \
                     ORDER BY {column} {dir} NULLS LAST, id {dir}"
                );
                let want: Vec<Uuid> = store
                    .connection()
                    .query_all_raw(Statement::from_string(DbBackend::Postgres, sql))
                    .await
                    .expect("the reference order")
                    .iter()
                    .map(|r| r.try_get_by_index::<Uuid>(0).expect("an id"))
                    .collect();
                let filter = TaskFilter {
                    status,
                    sort_by,
                    sort_order,
                    limit: 997,
                    ..TaskFilter::default()
                };
                let got = page_through(&store, &filter).await;
                assert_eq!(
                    got.len(),
                    want.len(),
                    "{status:?} {sort_by:?} {sort_order:?}: row count"
                );
                assert!(
                    got == want,
                    "{status:?} {sort_by:?} {sort_order:?}: rows out of order"
                );
            }
        }
    }
}
