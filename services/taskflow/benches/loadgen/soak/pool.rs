//! The soak's view of each user's tasks: which ids it may act on, handed to one request at a time.
//!
//! A task is taken out of its user's pool for the duration of a request and put back only when the
//! request left it in a known state, so two requests never race on one task: every non-2xx answer
//! is then a real error, and the acknowledgement log orders each task's writes exactly.

use std::fmt::Write as _;
use std::sync::Mutex;

use rand::Rng;

use crate::stats::SeedUser;

/// A task the soak may act on; `recurring` ones can be completed (once).
#[derive(Clone)]
pub struct Task {
    pub id: String,
    pub recurring: bool,
}

pub struct Pool {
    pub users: Vec<SeedUser>,
    tasks: Vec<Mutex<Vec<Task>>>,
}

impl Pool {
    /// The first `n_users` users of a seed (or pool) file and, with `with_tasks`, their `T` lines.
    pub fn read(path: &str, n_users: usize, with_tasks: bool) -> Result<Self, String> {
        let users: Vec<SeedUser> = crate::stats::read_users(path)?
            .into_iter()
            .take(n_users)
            .collect();
        if users.len() < n_users || n_users == 0 {
            return Err(format!("need {n_users} users in {path}, found {}", users.len()));
        }
        let tasks: Vec<Mutex<Vec<Task>>> = (0..n_users).map(|_| Mutex::new(Vec::new())).collect();
        if with_tasks {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
            for line in text.lines() {
                let mut parts = line.split(' ');
                if parts.next() != Some("T") {
                    continue;
                }
                let (Some(u), Some(id), Some(kind)) = (parts.next(), parts.next(), parts.next()) else {
                    continue;
                };
                let Ok(u) = u.parse::<usize>() else { continue };
                if let Some(pool) = tasks.get(u) {
                    pool.lock().unwrap().push(Task {
                        id: id.to_owned(),
                        recurring: kind == "r",
                    });
                }
            }
        }
        Ok(Self { users, tasks })
    }

    /// Takes a random task of `user` (a recurring one when `recurring`), if there is one.
    pub fn take(&self, user: usize, recurring: bool) -> Option<Task> {
        let mut tasks = self.tasks[user].lock().unwrap();
        if tasks.is_empty() {
            return None;
        }
        let start = rand::rng().random_range(0..tasks.len());
        let len = tasks.len();
        let index = (0..len)
            .map(|k| (start + k) % len)
            .find(|&i| !recurring || tasks[i].recurring)?;
        Some(tasks.swap_remove(index))
    }

    pub fn put(&self, user: usize, task: Task) {
        self.tasks[user].lock().unwrap().push(task);
    }

    /// The pool as a seed file (`U` and `T` lines), for the next phase to continue from.
    pub fn write(&self, path: &str) -> Result<(), String> {
        let mut file = String::new();
        for (i, u) in self.users.iter().enumerate() {
            let _ = writeln!(file, "U {i} {} {}", u.id, u.token);
        }
        for (i, tasks) in self.tasks.iter().enumerate() {
            for t in tasks.lock().unwrap().iter() {
                let _ = writeln!(file, "T {i} {} {}", t.id, if t.recurring { 'r' } else { 'p' });
            }
        }
        std::fs::write(path, file).map_err(|e| format!("{path}: {e}"))
    }
}
