//! What the Generate page shows about the job it submitted, as a state that D-Bus
//! signals move forward; and the Gallery's items, one per image, from the history.

use std::path::Path;

use base64::Engine as _;
use ra_wire::{JobEvent, JobInfo, JobStatus};
use serde::Serialize;

use crate::notice::Notice;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    #[default]
    Idle,
    /// Sent; waiting for the daemon's id or its first signal.
    Submitting,
    Running,
    Done,
    Failed,
    Cancelled,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct JobView {
    pub id: Option<i64>,
    pub phase: Phase,
    pub step: u32,
    pub total: u32,
    pub eta_seconds: f64,
    /// The latest step's preview as a `data:` URL QML can show directly.
    pub preview: String,
    /// Absolute paths of the finished images.
    pub outputs: Vec<String>,
    /// Seeds and infotexts of the finished images, once read from the daemon (for
    /// "reuse last seed").
    pub seeds: Vec<u64>,
    pub infotexts: Vec<String>,
    pub error: Option<Notice>,
    /// Events that arrived while the submission's reply (the id) was on its way; the
    /// reply and the signals travel on different tasks, so either may come first.
    #[serde(skip)]
    early: Vec<JobEvent>,
}

/// Early events kept per submission, at most (a job's first steps).
const MAX_EARLY: usize = 256;

impl JobView {
    pub fn submitting() -> Self {
        Self {
            phase: Phase::Submitting,
            ..Self::default()
        }
    }

    pub fn busy(&self) -> bool {
        matches!(self.phase, Phase::Submitting | Phase::Running)
    }

    pub fn refused(error: Notice) -> Self {
        Self {
            phase: Phase::Failed,
            error: Some(error),
            ..Self::default()
        }
    }

    /// The daemon accepted the submission as job `id`: events it sent for that job
    /// before this reply was seen apply now.
    pub fn set_id(&mut self, id: i64) {
        self.id = Some(id);
        for e in std::mem::take(&mut self.early) {
            self.apply(&e);
        }
    }

    /// Applies an event; events of other jobs (other clients share the daemon) are
    /// ignored. Returns whether anything changed.
    pub fn apply(&mut self, event: &JobEvent) -> bool {
        if self.id.is_none() && self.phase == Phase::Submitting {
            // Other clients' progress may fill the buffer; an end is always kept.
            if self.early.len() < MAX_EARLY || event.is_final() {
                self.early.push(event.clone());
            }
            return false;
        }
        if self.id != Some(event.job_id()) {
            return false;
        }
        match event {
            JobEvent::Started { .. } => self.phase = Phase::Running,
            JobEvent::Progress {
                step,
                total,
                eta_seconds,
                preview,
                ..
            } => {
                self.phase = Phase::Running;
                (self.step, self.total, self.eta_seconds) = (*step, *total, *eta_seconds);
                if let Some(p) = preview {
                    self.preview = format!("data:image/png;base64,{p}");
                }
            }
            JobEvent::Finished { outputs, .. } => {
                self.phase = Phase::Done;
                self.step = self.total;
                self.eta_seconds = 0.0;
                self.outputs = outputs.clone();
            }
            JobEvent::Failed { error, .. } => {
                self.phase = Phase::Failed;
                self.error = Some(Notice::new("job-failed").arg("detail", error));
            }
            JobEvent::Cancelled { .. } => self.phase = Phase::Cancelled,
        }
        true
    }
}

/// A PNG preview as the base64 the wire types carry.
pub fn preview_base64(png: &[u8]) -> Option<String> {
    (!png.is_empty()).then(|| base64::engine::general_purpose::STANDARD.encode(png))
}

/// One image in the Gallery.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GalleryItem {
    pub job: i64,
    pub path: String,
    pub seed: u64,
    pub infotext: String,
    pub created_at: f64,
}

/// Every image of every finished job that is still on disk, newest job first, in each
/// job's order. (A listing can arrive just after its images were deleted.)
pub fn gallery(jobs: &[JobInfo], output_dir: &Path) -> Vec<GalleryItem> {
    let mut items = Vec::new();
    for job in jobs.iter().filter(|j| j.status == JobStatus::Done) {
        for (i, file) in job.outputs.iter().enumerate() {
            if !output_dir.join(file).is_file() {
                continue;
            }
            items.push(GalleryItem {
                job: job.id,
                path: output_dir.join(file).display().to_string(),
                seed: job.seeds.get(i).copied().unwrap_or_default(),
                infotext: job.infotexts.get(i).cloned().unwrap_or_default(),
                created_at: job.created_at,
            });
        }
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_move_the_job_forward_and_other_jobs_are_ignored() {
        let mut v = JobView::submitting();
        v.id = Some(7);
        assert!(!v.apply(&JobEvent::Cancelled { id: 8 }));
        assert!(v.apply(&JobEvent::Started { id: 7 }));
        assert_eq!(v.phase, Phase::Running);
        v.apply(&JobEvent::Progress {
            id: 7,
            step: 2,
            total: 5,
            eta_seconds: 1.5,
            preview: Some("AAAA".into()),
        });
        assert_eq!((v.step, v.total, v.preview.as_str()), (2, 5, "data:image/png;base64,AAAA"));
        assert!(v.busy());
        v.apply(&JobEvent::Finished {
            id: 7,
            outputs: vec!["/o/1.png".into()],
        });
        assert_eq!((v.phase, v.step), (Phase::Done, 5));
        assert!(!v.busy());
        v.apply(&JobEvent::Failed {
            id: 7,
            error: "out of memory".into(),
        });
        let e = v.error.unwrap();
        assert_eq!((e.id.as_str(), e.args[0].1.as_str()), ("job-failed", "out of memory"));
    }

    #[test]
    fn events_that_arrive_before_the_id_still_count() {
        let mut v = JobView::submitting();
        let finished = JobEvent::Finished {
            id: 4,
            outputs: vec!["/o/4.png".into()],
        };
        assert!(!v.apply(&JobEvent::Started { id: 3 }));
        assert!(!v.apply(&JobEvent::Started { id: 4 }));
        assert!(!v.apply(&finished));
        assert!(v.busy());
        v.set_id(4);
        assert_eq!((v.phase, v.outputs.len()), (Phase::Done, 1));
    }

    #[test]
    fn the_gallery_lists_finished_images_with_absolute_paths() {
        let job = |id, status, outputs: &[&str]| JobInfo {
            id,
            status,
            request: Default::default(),
            created_at: id as f64,
            started_at: None,
            finished_at: None,
            error: None,
            outputs: outputs.iter().map(|s| s.to_string()).collect(),
            seeds: vec![10, 11],
            infotexts: vec!["a".into(), "b".into()],
            position: None,
        };
        let jobs = [
            job(3, JobStatus::Running, &[]),
            job(2, JobStatus::Done, &["2-0.png", "2-1.png"]),
            job(1, JobStatus::Failed, &[]),
        ];
        let out = tempfile::tempdir().unwrap();
        for f in ["2-0.png", "2-1.png"] {
            std::fs::write(out.path().join(f), b"png").unwrap();
        }
        let items = gallery(&jobs, out.path());
        let paths: Vec<_> = items.iter().map(|i| i.path.clone()).collect();
        let want: Vec<_> = ["2-0.png", "2-1.png"]
            .map(|f| out.path().join(f).display().to_string())
            .into();
        assert_eq!(paths, want);
        std::fs::remove_file(out.path().join("2-0.png")).unwrap();
        assert_eq!(gallery(&jobs, out.path()).len(), 1);
        assert_eq!((items[1].seed, items[1].infotext.as_str()), (11, "b"));
    }
}
