//! The library database: every model RA knows (from packs or found on disk), the packs
//! installed, and the user's ratings and notes. SQLite in WAL mode at
//! `<data_dir>/library.sqlite`, so the launcher can manage downloads while the daemon is
//! stopped and the daemon can read it while the launcher writes.
//!
//! A model is one file, keyed by its path; its sha256 ties it to the packs that want it.
//! A file is deleted only when no installed pack lists it and the user has not kept it
//! ([`Library::remove_pack`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::{LibraryError, Result};
use crate::pack::{Kind, Pack, PackModel, Tier};

/// One model in the library.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Model {
    pub id: i64,
    pub path: PathBuf,
    pub name: String,
    pub kind: Option<Kind>,
    pub architecture: String,
    pub size: u64,
    pub sha256: String,
    pub source_url: Option<String>,
    pub categories: Vec<String>,
    pub trigger_words: Vec<String>,
    pub preview: Option<String>,
    pub tier: Option<Tier>,
    pub license: String,
    /// The user's 1–5 stars.
    pub rating: Option<u8>,
    pub note: String,
    /// Unix seconds when it entered the library.
    pub added: i64,
    /// The file's safetensors `__metadata__` (for models no pack describes).
    pub metadata: BTreeMap<String, String>,
    /// The user installed it or said to keep it: removing packs never deletes it.
    pub kept: bool,
    /// Ids of the installed packs that list it.
    pub packs: Vec<String>,
}

impl Model {
    pub fn autov2(&self) -> &str {
        crate::hash::autov2(&self.sha256)
    }
}

/// An installed pack.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct InstalledPack {
    pub id: String,
    pub version: String,
    pub name: BTreeMap<String, String>,
    pub installed: i64,
    pub models: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    #[default]
    Name,
    /// Newest first.
    Date,
    /// Largest first.
    Size,
    /// Best first; unrated last.
    Rating,
}

/// A search of the library; empty fields match everything.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub kind: Option<Kind>,
    pub category: Option<String>,
    pub tier: Option<Tier>,
    pub min_rating: Option<u8>,
    /// Matched against name, trigger words, categories and note.
    pub text: Option<String>,
    pub sort: Sort,
}

pub struct Library {
    conn: Connection,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS models (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    kind TEXT,
    architecture TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime INTEGER NOT NULL DEFAULT 0,
    sha256 TEXT NOT NULL,
    source_url TEXT,
    categories TEXT NOT NULL DEFAULT '[]',
    trigger_words TEXT NOT NULL DEFAULT '[]',
    preview TEXT,
    tier TEXT,
    license TEXT NOT NULL DEFAULT '',
    rating INTEGER CHECK (rating BETWEEN 1 AND 5),
    note TEXT NOT NULL DEFAULT '',
    added INTEGER NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    kept INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS models_sha256 ON models(sha256);
CREATE TABLE IF NOT EXISTS packs (
    id TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    name TEXT NOT NULL,
    manifest TEXT NOT NULL,
    installed INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS pack_models (
    pack TEXT NOT NULL REFERENCES packs(id) ON DELETE CASCADE,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (pack, sha256)
);
";

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn db(e: rusqlite::Error) -> LibraryError {
    LibraryError::Database(e.to_string())
}

fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

/// What a pack's entry says about a model, for its row.
pub struct Described<'a> {
    pub entry: &'a PackModel,
    pub architecture: &'a str,
}

impl Library {
    /// The library at `<data_dir>/library.sqlite`.
    pub fn path_in(data_dir: &Path) -> PathBuf {
        data_dir.join("library.sqlite")
    }

    pub fn open(path: &Path) -> Result<Library> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(LibraryError::io(dir))?;
        }
        let conn = Connection::open(path).map_err(db)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(db)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(db)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(db)?;
        conn.execute_batch(SCHEMA).map_err(db)?;
        Ok(Library { conn })
    }

    /// Records a file found on disk (or refreshes its size, hash and what its header
    /// says); the user's rating, note and a pack's description stay.
    pub fn record_file(
        &self,
        path: &Path,
        size: u64,
        mtime: i64,
        sha256: &str,
        kind: Option<Kind>,
        architecture: &str,
        metadata: &BTreeMap<String, String>,
    ) -> Result<i64> {
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        let meta = serde_json::to_string(metadata).unwrap_or_else(|_| "{}".into());
        self.conn
            .execute(
                "INSERT INTO models (path, name, kind, architecture, size, mtime, sha256, metadata, added)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT(path) DO UPDATE SET size = ?5, mtime = ?6, sha256 = ?7,
                    kind = COALESCE(models.kind, ?3), architecture = ?4, metadata = ?8",
                params![path.to_string_lossy(), name, kind.map(Kind::as_str), architecture, size as i64, mtime, sha256, meta, now()],
            )
            .map_err(db)?;
        self.id_of(path)
    }

    /// Fills a model's row with what a pack says of it.
    pub fn describe(&self, id: i64, d: &Described<'_>) -> Result<()> {
        let m = d.entry;
        self.conn
            .execute(
                "UPDATE models SET name = ?2, kind = ?3, source_url = ?4, categories = ?5, trigger_words = ?6,
                    preview = ?7, tier = ?8, license = ?9, architecture = ?10 WHERE id = ?1",
                params![
                    id,
                    m.name,
                    m.kind.as_str(),
                    m.urls.first(),
                    json_list(&m.categories),
                    json_list(&m.trigger_words),
                    m.preview,
                    m.tier.as_str(),
                    m.license,
                    d.architecture
                ],
            )
            .map_err(db)?;
        Ok(())
    }

    fn id_of(&self, path: &Path) -> Result<i64> {
        self.conn
            .query_row("SELECT id FROM models WHERE path = ?1", [path.to_string_lossy()], |r| r.get(0))
            .map_err(db)
    }

    /// The size and mtime recorded for `path`, to skip re-hashing an unchanged file.
    pub fn recorded(&self, path: &Path) -> Result<Option<(u64, i64, String)>> {
        self.conn
            .query_row(
                "SELECT size, mtime, sha256 FROM models WHERE path = ?1",
                [path.to_string_lossy()],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(db)
    }

    pub fn set_rating(&self, id: i64, stars: Option<u8>) -> Result<()> {
        if stars.is_some_and(|s| !(1..=5).contains(&s)) {
            return Err(LibraryError::BadRequest(format!("a rating is 1 to 5 stars, got {}", stars.unwrap_or(0))));
        }
        self.update(id, "UPDATE models SET rating = ?2 WHERE id = ?1", stars.map(i64::from))
    }

    pub fn set_note(&self, id: i64, note: &str) -> Result<()> {
        self.update(id, "UPDATE models SET note = ?2 WHERE id = ?1", note)
    }

    /// Keeps a model whatever happens to the packs that list it.
    pub fn set_kept(&self, id: i64, kept: bool) -> Result<()> {
        self.update(id, "UPDATE models SET kept = ?2 WHERE id = ?1", kept)
    }

    fn update(&self, id: i64, sql: &str, value: impl rusqlite::ToSql) -> Result<()> {
        match self.conn.execute(sql, params![id, value]).map_err(db)? {
            0 => Err(LibraryError::NoSuchModel(id.to_string())),
            _ => Ok(()),
        }
    }

    /// Forgets a model (the caller deletes the file).
    pub fn forget(&self, id: i64) -> Result<()> {
        match self.conn.execute("DELETE FROM models WHERE id = ?1", [id]).map_err(db)? {
            0 => Err(LibraryError::NoSuchModel(id.to_string())),
            _ => Ok(()),
        }
    }

    /// Drops rows whose files are gone.
    pub fn prune_missing(&self) -> Result<usize> {
        let missing: Vec<i64> = self.search(&Query::default())?.into_iter().filter(|m| !m.path.exists()).map(|m| m.id).collect();
        for id in &missing {
            self.forget(*id)?;
        }
        Ok(missing.len())
    }

    pub fn model(&self, id: i64) -> Result<Model> {
        self.select("WHERE m.id = ?1", params![id])?.pop().ok_or_else(|| LibraryError::NoSuchModel(id.to_string()))
    }

    pub fn search(&self, q: &Query) -> Result<Vec<Model>> {
        let mut clauses = Vec::new();
        let mut values: Vec<Box<dyn rusqlite::ToSql>> = Vec::new();
        // Each `?` in a clause gets the next numbered parameter, bound to `value`.
        let mut bind = |clause: &str, value: &dyn Fn() -> Box<dyn rusqlite::ToSql>| {
            let mut out = String::new();
            for (i, piece) in clause.split('?').enumerate() {
                if i > 0 {
                    values.push(value());
                    out.push_str(&format!("?{}", values.len()));
                }
                out.push_str(piece);
            }
            clauses.push(out);
        };
        if let Some(kind) = q.kind {
            bind("m.kind = ?", &|| Box::new(kind.as_str()));
        }
        if let Some(tier) = q.tier {
            bind("m.tier = ?", &|| Box::new(tier.as_str()));
        }
        if let Some(stars) = q.min_rating {
            bind("m.rating >= ?", &|| Box::new(i64::from(stars)));
        }
        if let Some(category) = &q.category {
            bind("EXISTS (SELECT 1 FROM json_each(m.categories) WHERE value = ?)", &|| Box::new(category.clone()));
        }
        if let Some(text) = q.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            let like = format!("%{}%", text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
            let columns = ["m.name", "m.trigger_words", "m.categories", "m.note"];
            let any: Vec<String> = columns.iter().map(|c| format!("{c} LIKE ? ESCAPE '\\'")).collect();
            bind(&format!("({})", any.join(" OR ")), &|| Box::new(like.clone()));
        }
        let filter = if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
        let order = match q.sort {
            Sort::Name => "m.name COLLATE NOCASE, m.id",
            Sort::Date => "m.added DESC, m.id DESC",
            Sort::Size => "m.size DESC, m.id",
            Sort::Rating => "m.rating IS NULL, m.rating DESC, m.name COLLATE NOCASE",
        };
        let refs: Vec<&dyn rusqlite::ToSql> = values.iter().map(|v| v.as_ref()).collect();
        self.select(&format!("{filter} ORDER BY {order}"), refs.as_slice())
    }

    fn select(&self, tail: &str, values: impl rusqlite::Params) -> Result<Vec<Model>> {
        let sql = format!(
            "SELECT m.id, m.path, m.name, m.kind, m.architecture, m.size, m.sha256, m.source_url, m.categories,
                    m.trigger_words, m.preview, m.tier, m.license, m.rating, m.note, m.added, m.metadata, m.kept,
                    (SELECT json_group_array(pack) FROM pack_models p WHERE p.sha256 = m.sha256)
             FROM models m {tail}"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(db)?;
        let list = |text: String| serde_json::from_str::<Vec<String>>(&text).unwrap_or_default();
        let rows = stmt
            .query_map(values, |r| {
                Ok(Model {
                    id: r.get(0)?,
                    path: PathBuf::from(r.get::<_, String>(1)?),
                    name: r.get(2)?,
                    kind: r.get::<_, Option<String>>(3)?.as_deref().and_then(Kind::parse),
                    architecture: r.get(4)?,
                    size: r.get::<_, i64>(5)? as u64,
                    sha256: r.get(6)?,
                    source_url: r.get(7)?,
                    categories: list(r.get(8)?),
                    trigger_words: list(r.get(9)?),
                    preview: r.get(10)?,
                    tier: r.get::<_, Option<String>>(11)?.as_deref().and_then(Tier::parse),
                    license: r.get(12)?,
                    rating: r.get::<_, Option<i64>>(13)?.map(|s| s as u8),
                    note: r.get(14)?,
                    added: r.get(15)?,
                    metadata: serde_json::from_str(&r.get::<_, String>(16)?).unwrap_or_default(),
                    kept: r.get(17)?,
                    packs: list(r.get(18)?),
                })
            })
            .map_err(db)?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(db)
    }

    /// Records `pack` as installed (replacing an older version's record) and which
    /// models it wants.
    pub fn add_pack(&mut self, pack: &Pack, manifest: &str) -> Result<()> {
        let tx = self.conn.transaction().map_err(db)?;
        tx.execute("DELETE FROM packs WHERE id = ?1", [&pack.id]).map_err(db)?;
        tx.execute(
            "INSERT INTO packs (id, version, name, manifest, installed) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![pack.id, pack.version, serde_json::to_string(&pack.name).unwrap_or_default(), manifest, now()],
        )
        .map_err(db)?;
        for m in &pack.models {
            tx.execute("INSERT OR IGNORE INTO pack_models (pack, sha256) VALUES (?1, ?2)", params![pack.id, m.sha256.to_ascii_lowercase()])
                .map_err(db)?;
        }
        tx.commit().map_err(db)
    }

    pub fn packs(&self) -> Result<Vec<InstalledPack>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, version, name, installed, (SELECT count(*) FROM pack_models p WHERE p.pack = packs.id)
                 FROM packs ORDER BY id",
            )
            .map_err(db)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(InstalledPack {
                    id: r.get(0)?,
                    version: r.get(1)?,
                    name: serde_json::from_str(&r.get::<_, String>(2)?).unwrap_or_default(),
                    installed: r.get(3)?,
                    models: r.get::<_, i64>(4)? as usize,
                })
            })
            .map_err(db)?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(db)
    }

    /// Forgets the pack and returns the models that nothing wants any more (no other
    /// pack lists them and the user has not kept them); the caller deletes their files
    /// and then [`Library::forget`]s them.
    pub fn remove_pack(&mut self, id: &str) -> Result<Vec<Model>> {
        let wanted: Vec<String> = {
            let mut stmt = self.conn.prepare("SELECT sha256 FROM pack_models WHERE pack = ?1").map_err(db)?;
            let rows = stmt.query_map([id], |r| r.get(0)).map_err(db)?;
            rows.collect::<std::result::Result<_, _>>().map_err(db)?
        };
        if self.conn.execute("DELETE FROM packs WHERE id = ?1", [id]).map_err(db)? == 0 {
            return Err(LibraryError::NoSuchPack(id.to_string()));
        }
        self.conn.execute("DELETE FROM pack_models WHERE pack = ?1", [id]).map_err(db)?;
        let mut orphans = Vec::new();
        for sha in wanted {
            for m in self.select("WHERE m.sha256 = ?1", params![sha])? {
                if m.packs.is_empty() && !m.kept {
                    orphans.push(m);
                }
            }
        }
        Ok(orphans)
    }
}
