//! The data directory holds password hashes (`taskflow.db`) and the token-signing secret
//! (`jwt_secret`): nobody but the account running the binary may read them.
//!
//! A directory the binary creates is 0700 and the files in it 0600; files from an older version
//! (created 0644) are narrowed at every start. A directory that already existed is the operator's:
//! it is left as it is, with a warning when others can enter it.

use std::fs;
use std::io;
use std::path::Path;

/// Creates `dir` (and its parents) private to this account; warns when an existing one is open.
pub fn prepare_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        warn_if_open(dir)?;
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Makes sure the SQLite database file exists and is 0600 before SQLite opens it; SQLite gives its
/// `-wal` and `-shm` files the database file's permissions, and existing ones are narrowed too.
pub fn prepare_database(path: &Path) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?;
    narrow(path)?;
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut companion = path.as_os_str().to_owned();
        companion.push(suffix);
        let companion = Path::new(&companion);
        if companion.exists() {
            narrow(companion)?;
        }
    }
    Ok(())
}

/// Removes every permission of group and others from an existing file.
pub fn narrow(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            fs::set_permissions(path, fs::Permissions::from_mode(mode & 0o700))?;
            tracing::info!(path = %path.display(), "narrowed to owner-only permissions");
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

fn warn_if_open(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %dir.display(),
                mode = format!("{:o}", mode & 0o777),
                "the data directory is open to other accounts; its files are owner-only, but consider chmod 700"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
