//! What the binary refuses, or fixes, before it serves anyone: a JWT secret anyone could know, and
//! a data directory other accounts can read (it holds password hashes and the signing secret).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::binary::Binary;

fn start_with_secret(secret: &str) -> (bool, String) {
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_taskflow"))
        .env_remove("DATABASE_URL")
        .env("TASKFLOW_DATA_DIR", data.path())
        .env("PORT", "0")
        .env("JWT_SECRET", secret)
        // A secret that passes would start the server; stop it at once by making the port unusable.
        .env("HOST", "256.0.0.1")
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

#[test]
fn a_published_or_predictable_jwt_secret_stops_the_binary_naming_the_variable() {
    for secret in [
        // The secret docker compose used to fall back to: anyone could forge tokens with it.
        "local-only-jwt-secret-change-me-0123456789",
        "dev-only-dapr-run-secret-0123456789abcdef",
        "please-change-me-this-is-not-a-secret-0123",
        &"x".repeat(48),
        &"0123456789".repeat(4),
        "short",
    ] {
        let (ok, said) = start_with_secret(secret);
        assert!(!ok, "started with JWT_SECRET={secret}");
        assert!(said.contains("JWT_SECRET"), "{secret}: {said}");
        assert!(!said.contains(secret), "the refusal echoes the secret: {said}");
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn the_data_directory_and_its_files_are_private_to_the_account() {
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("data");
    let data_str = data.to_str().unwrap();
    let mut first = Binary::spawn(&[("TASKFLOW_DATA_DIR", data_str)]);
    first.terminate();
    assert!(first.exited().await.success());
    assert_eq!(mode(&data), 0o700, "data directory");
    for file in ["taskflow.db", "jwt_secret"] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }

    // Files left readable by an older version (or a careless copy) are narrowed at the next start.
    for file in ["taskflow.db", "jwt_secret"] {
        std::fs::set_permissions(data.join(file), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let mut second = Binary::spawn(&[("TASKFLOW_DATA_DIR", data_str)]);
    second.terminate();
    assert!(second.exited().await.success());
    for file in ["taskflow.db", "jwt_secret"] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file} after a restart");
    }
    for file in ["taskflow.db-wal", "taskflow.db-shm"] {
        let path = data.join(file);
        if path.exists() {
            assert_eq!(mode(&path) & 0o077, 0, "{file}");
        }
    }
}
