//! The Downloads page: every pack install's files with their progress, and the pause,
//! resume and cancel buttons behind them.
//!
//! A pack install runs on a worker thread (`ra_library::install::install_with`); the
//! board holds one [`Control`] per file, which the install polls, and the progress the
//! install reports. A paused or cancelled file ends that install run (the pack is not
//! recorded until every file is in); resuming starts the pack's install again, which
//! skips verified files and continues each `.part` where it stopped.

use std::path::PathBuf;
use std::time::Duration;

use ra_library::download::{Control, QueueProgress};
use ra_library::install::Plan;
use serde::Serialize;

use crate::notice::Notice;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileState {
    Queued,
    Running,
    Paused,
    Done,
    Failed,
    Cancelled,
}

/// One file of one pack.
#[derive(Debug, Clone, Serialize)]
pub struct FileRow {
    pub file: String,
    pub model: String,
    #[serde(skip)]
    pub dest: PathBuf,
    #[serde(skip)]
    control: Control,
    pub state: FileState,
    pub done: u64,
    pub total: u64,
    pub bytes_per_sec: f64,
    /// Seconds left at the current rate; `None` when unknown.
    pub eta: Option<u64>,
}

/// One pack's install: its files and how the last run ended.
#[derive(Debug, Clone, Serialize)]
pub struct Task {
    /// The manifest's file or URL; installing again reads it again.
    pub source: String,
    pub pack: String,
    pub name: std::collections::BTreeMap<String, String>,
    pub files: Vec<FileRow>,
    pub running: bool,
    /// Why the last run stopped short, kept as a notice until shown.
    #[serde(skip)]
    pub error: Option<Notice>,
    /// Whether every file arrived and the pack was recorded.
    pub installed: bool,
}

#[derive(Debug, Default)]
pub struct Board {
    tasks: Vec<Task>,
}

/// The whole board, as the page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct BoardView<'a> {
    pub tasks: &'a [Task],
    pub done: u64,
    pub total: u64,
    pub bytes_per_sec: f64,
    pub eta: Option<u64>,
    pub active: usize,
}

impl Board {
    /// Registers a run of `plan` from `source` and returns the controls for its missing
    /// files, in `plan.missing()` order. A file that was paused before stays paused
    /// unless resumed; one that was cancelled gets a fresh control (installing again is
    /// the way to retry it). Refuses a second run of a pack that is still running.
    pub fn begin(&mut self, plan: &Plan, source: &str) -> Result<Vec<Control>, Notice> {
        let old = self.tasks.iter().position(|t| t.pack == plan.pack.id);
        if let Some(i) = old {
            if self.tasks[i].running {
                return Err(Notice::new("downloads-already-running").arg("pack", &plan.pack.id));
            }
        }
        let previous = old.map(|i| self.tasks.remove(i));
        let files: Vec<FileRow> = plan
            .missing()
            .map(|item| {
                let before = previous.as_ref().and_then(|t| t.files.iter().find(|f| f.dest == item.dest));
                let control = match before {
                    Some(f) if !f.control.is_cancelled() => f.control.clone(),
                    _ => Control::new(),
                };
                let paused = control.is_paused();
                FileRow {
                    file: item.model.file.clone(),
                    model: item.model.name.clone(),
                    dest: item.dest.clone(),
                    control,
                    state: if paused { FileState::Paused } else { FileState::Queued },
                    done: before.map_or(0, |f| f.done),
                    total: item.model.size,
                    bytes_per_sec: 0.0,
                    eta: None,
                }
            })
            .collect();
        let controls = files.iter().map(|f| f.control.clone()).collect();
        self.tasks.push(Task {
            source: source.to_string(),
            pack: plan.pack.id.clone(),
            name: plan.pack.name.clone(),
            files,
            running: true,
            error: None,
            installed: false,
        });
        Ok(controls)
    }

    fn task_mut(&mut self, pack: &str) -> Option<&mut Task> {
        self.tasks.iter_mut().find(|t| t.pack == pack)
    }

    /// A progress report of `pack`'s running install.
    pub fn progress(&mut self, pack: &str, p: &QueueProgress) {
        let Some(row) = self.task_mut(pack).and_then(|t| t.files.get_mut(p.index)) else { return };
        if matches!(row.state, FileState::Paused | FileState::Cancelled) {
            // The file stops at its next read; what it still reports is not news.
            return;
        }
        row.done = p.file.done;
        row.total = p.file.total.unwrap_or(row.total);
        row.bytes_per_sec = p.file.bytes_per_sec;
        row.eta = p.file.eta.map(|d: Duration| d.as_secs());
        row.state = if p.file.total.is_some_and(|t| p.file.done >= t) && p.file.bytes_per_sec == 0.0 {
            FileState::Done
        } else {
            FileState::Running
        };
    }

    /// How `pack`'s install run ended.
    pub fn finish(&mut self, pack: &str, outcome: Result<(), Notice>) {
        let Some(task) = self.task_mut(pack) else { return };
        task.running = false;
        task.installed = outcome.is_ok();
        for row in &mut task.files {
            row.bytes_per_sec = 0.0;
            row.eta = None;
            row.state = if row.dest.is_file() {
                row.done = row.total;
                FileState::Done
            } else if row.control.is_cancelled() {
                row.done = 0;
                FileState::Cancelled
            } else if row.control.is_paused() {
                FileState::Paused
            } else {
                FileState::Failed
            };
        }
        task.error = outcome.err();
    }

    /// Pauses one file (it keeps its `.part`).
    pub fn pause(&mut self, pack: &str, file: &str) {
        if let Some(row) = self.row(pack, file) {
            row.control.pause();
            if matches!(row.state, FileState::Queued | FileState::Running) {
                row.state = FileState::Paused;
            }
        }
    }

    /// Lifts a pause. True when the pack's install must run again to continue (its run
    /// has ended); while it runs, a file not yet started simply goes ahead.
    pub fn resume(&mut self, pack: &str, file: &str) -> bool {
        let Some(row) = self.row(pack, file) else { return false };
        row.control.resume();
        if row.state == FileState::Paused {
            row.state = FileState::Queued;
        }
        self.tasks.iter().any(|t| t.pack == pack && !t.running && !t.installed)
    }

    /// Cancels one file and deletes its `.part`; the pack stays uninstalled until it is
    /// installed again.
    pub fn cancel(&mut self, pack: &str, file: &str) {
        if let Some(row) = self.row(pack, file) {
            row.control.cancel();
            if row.state != FileState::Done {
                row.state = FileState::Cancelled;
                row.done = 0;
            }
        }
    }

    /// The source to install again for `pack`, when its last run ended short.
    pub fn retry_source(&self, pack: &str) -> Option<String> {
        self.tasks.iter().find(|t| t.pack == pack && !t.running && !t.installed).map(|t| t.source.clone())
    }

    /// Drops finished installs from the board.
    pub fn clear_finished(&mut self) {
        self.tasks.retain(|t| t.running || !t.installed);
    }

    fn row(&mut self, pack: &str, file: &str) -> Option<&mut FileRow> {
        self.task_mut(pack)?.files.iter_mut().find(|f| f.file == file)
    }

    pub fn tasks(&self) -> &[Task] {
        &self.tasks
    }

    pub fn view(&self) -> BoardView<'_> {
        let rows = self.tasks.iter().flat_map(|t| &t.files);
        let (done, total) = rows.clone().fold((0, 0), |(d, t), r| (d + r.done, t + r.total));
        let bytes_per_sec: f64 = rows.clone().map(|r| r.bytes_per_sec).sum();
        let active = rows.filter(|r| r.state == FileState::Running).count();
        let eta = (bytes_per_sec > 0.0).then(|| (total.saturating_sub(done) as f64 / bytes_per_sec) as u64);
        BoardView { tasks: &self.tasks, done, total, bytes_per_sec, eta, active }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ra_library::download::Progress;
    use ra_library::install::Item;
    use ra_library::pack::Pack;

    const PACK: &str = r#"
id = "starter"
version = "1.0.0"
[name]
en-US = "Starter"
[[models]]
name = "One"
file = "one.safetensors"
kind = "lora"
tier = "community"
urls = ["http://127.0.0.1:9/one"]
size = 1000
sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
license = "MIT"
[[models]]
name = "Two"
file = "two.safetensors"
kind = "vae"
tier = "official"
urls = ["http://127.0.0.1:9/two"]
size = 2000
sha256 = "1111111111111111111111111111111111111111111111111111111111111111"
license = "MIT"
"#;

    fn plan(dir: &std::path::Path) -> Plan {
        let pack = Pack::parse(PACK, "test").unwrap();
        let items = pack
            .models
            .iter()
            .map(|m| Item { model: m.clone(), dest: dir.join(&m.file), present: false })
            .collect();
        Plan { pack, manifest: String::new(), items, root: dir.to_path_buf() }
    }

    #[test]
    fn pause_resume_and_cancel_follow_the_files_across_runs() {
        let dir = tempfile::tempdir().unwrap();
        let plan = plan(dir.path());
        let id = plan.pack.id.clone();
        let mut board = Board::default();
        let controls = board.begin(&plan, "pack.toml").unwrap();
        assert_eq!(controls.len(), plan.items.len());
        assert_eq!(board.begin(&plan, "pack.toml").unwrap_err().id, "downloads-already-running");
        let first = plan.items[0].model.file.clone();
        let half = plan.items[0].model.size / 2;
        board.progress(&id, &QueueProgress {
            index: 0,
            file: Progress { done: half, total: Some(half * 2), bytes_per_sec: 1000.0, eta: Some(Duration::from_secs(9)) },
            total: Progress::default(),
        });
        assert_eq!(board.tasks()[0].files[0].state, FileState::Running);
        assert_eq!(board.view().active, 1);

        board.pause(&id, &first);
        assert!(controls[0].is_paused(), "the install sees the pause");
        assert_eq!(board.tasks()[0].files[0].state, FileState::Paused);
        assert!(!board.resume(&id, &first), "while the run lasts, resuming needs no new run");
        board.pause(&id, &first);
        board.finish(&id, Err(Notice::new("lib-pack-incomplete")));
        let row = &board.tasks()[0].files[0];
        assert_eq!((row.state, row.done), (FileState::Paused, half), "the .part is kept");
        assert_eq!(board.retry_source(&id).as_deref(), Some("pack.toml"));

        // The next run keeps the pause until the user lifts it.
        let again = board.begin(&plan, "pack.toml").unwrap();
        assert!(again[0].is_paused());
        board.finish(&id, Err(Notice::new("lib-pack-incomplete")));
        assert!(board.resume(&id, &first), "after the run, resuming runs the install again");
        let resumed = board.begin(&plan, "pack.toml").unwrap();
        assert!(!resumed[0].is_paused());

        board.cancel(&id, &first);
        assert!(resumed[0].is_cancelled());
        board.finish(&id, Err(Notice::new("lib-pack-incomplete")));
        assert_eq!(board.tasks()[0].files[0].state, FileState::Cancelled);
        let fresh = board.begin(&plan, "pack.toml").unwrap();
        assert!(!fresh[0].is_cancelled(), "installing again retries a cancelled file");

        for item in &plan.items {
            std::fs::write(&item.dest, b"verified").unwrap();
        }
        board.finish(&id, Ok(()));
        assert!(board.tasks()[0].files.iter().all(|f| f.state == FileState::Done));
        assert_eq!(board.retry_source(&id), None);
        board.clear_finished();
        assert!(board.tasks().is_empty());
    }
}
