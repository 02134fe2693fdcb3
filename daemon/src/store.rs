//! The daemon's SQLite store (WAL, so the launcher can read it while the daemon runs):
//! the job queue and history, and the cache of model hashes.
//!
//! Contract: a job row is written before the client hears its id, and a job becomes
//! `done` only after its output files are in place, so after any crash each accepted
//! job is `done` with its images, `queued`, or — if it was running — `interrupted`.

use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use ra_wire::{JobInfo, JobRequest, JobStatus};
use rusqlite::{params, Connection, OptionalExtension};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {path}: {source}")]
    Open {
        path: String,
        source: rusqlite::Error,
    },
    #[error("database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("database holds a job the daemon cannot read: {0}")]
    Corrupt(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

pub struct Store {
    conn: Mutex<Connection>,
}

pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    status TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    request TEXT NOT NULL,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    error TEXT,
    outputs TEXT NOT NULL DEFAULT '[]',
    seeds TEXT NOT NULL DEFAULT '[]',
    infotexts TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS jobs_queue ON jobs(status, priority DESC, id);
CREATE TABLE IF NOT EXISTS model_hashes (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
";

/// What a finished image adds to its job.
pub struct Output {
    pub file: String,
    pub seed: u64,
    pub infotext: String,
}

impl Store {
    pub fn open(path: &Path) -> Result<Self> {
        let open_err = |source| StoreError::Open {
            path: path.display().to_string(),
            source,
        };
        let conn = Connection::open(path).map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(open_err)?;
        conn.execute_batch(SCHEMA).map_err(open_err)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (each call is
        // one statement or one transaction), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks jobs that were running when the daemon last stopped as interrupted.
    pub fn recover(&self) -> Result<usize> {
        Ok(self.conn().execute(
            "UPDATE jobs SET status = 'interrupted', finished_at = ?1, error = 'the daemon stopped while this job ran' WHERE status = 'running'",
            params![now()],
        )?)
    }

    pub fn queued_count(&self) -> Result<u32> {
        Ok(self.conn().query_row(
            "SELECT COUNT(*) FROM jobs WHERE status = 'queued'",
            [],
            |r| r.get(0),
        )?)
    }

    /// Adds a job unless `limit` jobs are already waiting; `None` when full.
    pub fn submit(&self, req: &JobRequest, limit: u32) -> Result<Option<i64>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let waiting: u32 = tx.query_row(
            "SELECT COUNT(*) FROM jobs WHERE status = 'queued'",
            [],
            |r| r.get(0),
        )?;
        if waiting >= limit {
            return Ok(None);
        }
        let json = serde_json::to_string(req).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        tx.execute(
            "INSERT INTO jobs (status, priority, request, created_at) VALUES ('queued', ?1, ?2, ?3)",
            params![req.priority, json, now()],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(Some(id))
    }

    /// Takes the next queued job (highest priority, then oldest) and marks it running.
    pub fn claim_next(&self) -> Result<Option<(i64, JobRequest)>> {
        let conn = self.conn();
        let row: Option<(i64, String)> = conn
            .query_row(
                "UPDATE jobs SET status = 'running', started_at = ?1 WHERE id = (
                    SELECT id FROM jobs WHERE status = 'queued' ORDER BY priority DESC, id LIMIT 1)
                 RETURNING id, request",
                params![now()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        row.map(|(id, json)| {
            serde_json::from_str(&json)
                .map(|req| (id, req))
                .map_err(|e| StoreError::Corrupt(format!("job {id}: {e}")))
        })
        .transpose()
    }

    /// Records one finished image of a running job.
    pub fn add_output(&self, id: i64, out: &Output) -> Result<()> {
        let conn = self.conn();
        conn.execute(
            "UPDATE jobs SET outputs = json_insert(outputs, '$[#]', ?2),
                             seeds = json_insert(seeds, '$[#]', ?3),
                             infotexts = json_insert(infotexts, '$[#]', ?4)
             WHERE id = ?1",
            params![id, out.file, out.seed as i64, out.infotext],
        )?;
        Ok(())
    }

    pub fn finish(&self, id: i64, status: JobStatus, error: Option<&str>) -> Result<()> {
        self.conn().execute(
            "UPDATE jobs SET status = ?2, finished_at = ?3, error = ?4 WHERE id = ?1",
            params![id, status.as_str(), now(), error],
        )?;
        Ok(())
    }

    /// Cancels a job that has not started; returns whether it was queued.
    pub fn cancel_queued(&self, id: i64) -> Result<bool> {
        Ok(self.conn().execute(
            "UPDATE jobs SET status = 'cancelled', finished_at = ?2 WHERE id = ?1 AND status = 'queued'",
            params![id, now()],
        )? > 0)
    }

    /// Removes a job that has ended from the history; returns whether one was removed.
    pub fn delete_finished(&self, id: i64) -> Result<bool> {
        Ok(self.conn().execute(
            "DELETE FROM jobs WHERE id = ?1 AND status NOT IN ('queued', 'running')",
            params![id],
        )? > 0)
    }

    pub fn get(&self, id: i64) -> Result<Option<JobInfo>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("{SELECT_JOB} WHERE id = ?1"))?;
        let job = stmt.query_row(params![id], row_to_job).optional()?;
        drop(stmt);
        match job {
            Some(mut j) => {
                if j.status == JobStatus::Queued {
                    j.position = Some(conn.query_row(
                        "SELECT COUNT(*) FROM jobs WHERE status = 'queued' AND (priority > ?1 OR (priority = ?1 AND id < ?2))",
                        params![j.request.priority, id],
                        |r| r.get(0),
                    )?);
                }
                Ok(Some(j))
            }
            None => Ok(None),
        }
    }

    /// History, newest first: `limit` jobs with ids below `before` (all when `None`).
    pub fn list(&self, before: Option<i64>, limit: u32) -> Result<Vec<JobInfo>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "{SELECT_JOB} WHERE id < ?1 ORDER BY id DESC LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![before.unwrap_or(i64::MAX), limit], row_to_job)?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    pub fn cached_hash(&self, path: &str, size: u64, mtime_ns: i64) -> Result<Option<String>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT sha256 FROM model_hashes WHERE path = ?1 AND size = ?2 AND mtime_ns = ?3",
                params![path, size as i64, mtime_ns],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// A setting a client changed at run time (A1111's options), kept across restarts.
    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn()
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    pub fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        self.conn().execute(
            "INSERT OR REPLACE INTO settings (key, value) VALUES (?1, ?2)",
            params![key, value],
        )?;
        Ok(())
    }

    pub fn store_hash(&self, path: &str, size: u64, mtime_ns: i64, sha256: &str) -> Result<()> {
        self.conn().execute(
            "INSERT OR REPLACE INTO model_hashes (path, size, mtime_ns, sha256) VALUES (?1, ?2, ?3, ?4)",
            params![path, size as i64, mtime_ns, sha256],
        )?;
        Ok(())
    }
}

const SELECT_JOB: &str =
    "SELECT id, status, request, created_at, started_at, finished_at, error, outputs, seeds, infotexts FROM jobs";

fn row_to_job(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobInfo> {
    let bad = |i: usize, e: String| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into())
    };
    let status: String = r.get(1)?;
    let json = |i: usize| -> rusqlite::Result<String> { r.get(i) };
    Ok(JobInfo {
        id: r.get(0)?,
        status: JobStatus::parse(&status)
            .ok_or_else(|| bad(1, format!("unknown status {status}")))?,
        request: serde_json::from_str(&json(2)?).map_err(|e| bad(2, e.to_string()))?,
        created_at: r.get(3)?,
        started_at: r.get(4)?,
        finished_at: r.get(5)?,
        error: r.get(6)?,
        outputs: serde_json::from_str(&json(7)?).map_err(|e| bad(7, e.to_string()))?,
        seeds: serde_json::from_str(&json(8)?).map_err(|e| bad(8, e.to_string()))?,
        infotexts: serde_json::from_str(&json(9)?).map_err(|e| bad(9, e.to_string()))?,
        position: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_orders_by_priority_then_age_and_respects_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("ra.db")).unwrap();
        let low = s.submit(&JobRequest::default(), 3).unwrap().unwrap();
        let high = s
            .submit(
                &JobRequest {
                    priority: 5,
                    ..Default::default()
                },
                3,
            )
            .unwrap()
            .unwrap();
        let low2 = s.submit(&JobRequest::default(), 3).unwrap().unwrap();
        assert_eq!(s.submit(&JobRequest::default(), 3).unwrap(), None);
        assert_eq!(s.get(low2).unwrap().unwrap().position, Some(2));
        assert_eq!(s.claim_next().unwrap().unwrap().0, high);
        assert_eq!(s.claim_next().unwrap().unwrap().0, low);
        assert!(s.cancel_queued(low2).unwrap());
        assert_eq!(s.claim_next().unwrap(), None);
        s.add_output(
            low,
            &Output {
                file: "a.png".into(),
                seed: 7,
                infotext: "x".into(),
            },
        )
        .unwrap();
        s.finish(low, JobStatus::Done, None).unwrap();
        let j = s.get(low).unwrap().unwrap();
        assert_eq!(
            (j.status, j.outputs, j.seeds),
            (JobStatus::Done, vec!["a.png".to_string()], vec![7])
        );
        // `high` was running when we "crashed".
        assert_eq!(s.recover().unwrap(), 1);
        assert_eq!(s.get(high).unwrap().unwrap().status, JobStatus::Interrupted);
        let ids: Vec<i64> = s.list(None, 10).unwrap().iter().map(|j| j.id).collect();
        assert_eq!(ids, vec![low2, high, low]);
    }
}
