//! The template's promises: a clone is fully migrated and independent of other clones, a template
//! is built when absent (also by racing builders, which leave nothing half-built behind), and a
//! template that disappears is built again.
#![allow(clippy::unwrap_used)]

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use taskflow_migration::{Migrator, MigratorTrait};

use super::*;
use crate::{TestDb, migrated_database, postgres_for_test, test_database};

async fn assert_migrated(url: &str) -> DatabaseConnection {
    let db = Database::connect(url).await.unwrap();
    assert!(Migrator::get_pending_migrations(&db).await.unwrap().is_empty());
    assert_eq!(
        Migrator::get_applied_migrations(&db).await.unwrap().len(),
        Migrator::migrations().len()
    );
    db
}

/// A table created in one clone does not exist in the other.
async fn assert_independent(a: &str, b: &str) {
    let (a, b) = (assert_migrated(a).await, assert_migrated(b).await);
    a.execute_unprepared("CREATE TABLE only_in_a (x INTEGER)")
        .await
        .unwrap();
    a.execute_unprepared("INSERT INTO only_in_a VALUES (1)")
        .await
        .unwrap();
    assert!(b.execute_unprepared("SELECT x FROM only_in_a").await.is_err());
    a.close().await.unwrap();
    b.close().await.unwrap();
}

#[tokio::test]
async fn two_clones_are_migrated_and_independent() {
    let (a, _a) = test_database().await;
    let (b, _b) = test_database().await;
    assert_ne!(a, b);
    assert_independent(&a, &b).await;
}

#[test]
fn the_fingerprint_is_stable_and_names_the_templates() {
    let fingerprint = schema_fingerprint();
    assert_eq!(fingerprint.len(), 16);
    assert_eq!(fingerprint, schema_fingerprint());
    assert!(postgres_template_name().ends_with(&fingerprint));
    assert!(
        postgres_template_name().len() <= 63,
        "PostgreSQL's identifier limit"
    );
}

#[tokio::test]
async fn racing_builders_of_an_absent_sqlite_template_agree() {
    let dir = tempfile::tempdir().unwrap();
    let builders: Vec<_> = (0..4)
        .map(|_| {
            let dir = dir.path().to_owned();
            tokio::spawn(async move { sqlite_template(&dir).await })
        })
        .collect();
    let mut paths = Vec::new();
    for builder in builders {
        paths.push(builder.await.unwrap());
    }
    assert!(paths.windows(2).all(|w| w[0] == w[1]));
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        left,
        [paths[0].file_name().unwrap()],
        "no half-built file is left behind"
    );

    let (a, b) = (dir.path().join("a.db"), dir.path().join("b.db"));
    copy_sqlite_template(dir.path(), &a).await;
    copy_sqlite_template(dir.path(), &b).await;
    let url = |p: &std::path::Path| format!("sqlite://{}?mode=rw", p.display());
    assert_independent(&url(&a), &url(&b)).await;
}

#[tokio::test]
async fn a_removed_sqlite_template_is_built_again() {
    let dir = tempfile::tempdir().unwrap();
    let template = sqlite_template(dir.path()).await;
    std::fs::remove_file(&template).unwrap();
    let copy = dir.path().join("copy.db");
    copy_sqlite_template(dir.path(), &copy).await;
    assert!(template.exists());
    assert_migrated(&format!("sqlite://{}?mode=rw", copy.display())).await;
}

#[tokio::test]
async fn racing_builders_of_an_absent_postgres_template_agree() {
    let Some(admin_url) = postgres_for_test("building a PostgreSQL template under a lock") else {
        return;
    };
    let name = format!("tf_tpl_test_{}", uuid::Uuid::new_v4().simple());
    let builders: Vec<_> = (0..4)
        .map(|_| {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            tokio::spawn(async move { ensure_postgres_template(&admin_url, &name).await })
        })
        .collect();
    for builder in builders {
        builder.await.unwrap();
    }
    let admin = Database::connect(&admin_url).await.unwrap();
    let clone = |n: &str| format!("CREATE DATABASE \"{n}\" TEMPLATE \"{name}\"");
    let (a, b) = (format!("{name}_a"), format!("{name}_b"));
    admin.execute_unprepared(&clone(&a)).await.unwrap();
    admin.execute_unprepared(&clone(&b)).await.unwrap();
    // Dropped with these guards, the template too.
    let guards: Vec<TestDb> = [&a, &b, &name]
        .map(|n| TestDb::Postgres {
            admin_url: admin_url.clone(),
            name: n.to_string(),
        })
        .into();
    assert!(
        !database_exists(&admin, &format!("{name}_building")).await,
        "no half-built template is left behind"
    );
    admin.close().await.unwrap();
    assert_independent(
        &crate::with_database(&admin_url, &a),
        &crate::with_database(&admin_url, &b),
    )
    .await;
    drop(guards);
}

#[tokio::test]
async fn the_postgres_template_is_cloned_migrated() {
    let Some(admin_url) = postgres_for_test("cloning the PostgreSQL template") else {
        return;
    };
    let (a, _a) = migrated_database(Some(admin_url.clone())).await;
    let (b, _b) = migrated_database(Some(admin_url)).await;
    assert_independent(&a, &b).await;
}
