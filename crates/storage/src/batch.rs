//! Durable per-file state of library batch jobs, and the write-ahead journals of their renames.
//!
//! # What this module owns
//!
//! * `batch_files`: the files a batch job identifies, one row each, numbered `seq` 0, 1, 2, … in
//!   discovery order. A file is `pending` until [`BatchStore::record`] stores its result (a
//!   [`FileStatus`] and the JSON entry) and makes it `done`. Because every file is written on
//!   its own, a worker that crashes resumes at the first pending file
//!   ([`BatchStore::pending`]), and an export streams the done entries page by page
//!   ([`BatchStore::entries`], keyset pagination on `seq`) without loading the whole job.
//! * `rename_sets` / `rename_moves`: one journal per rename run. The set (`applying`) and all its
//!   moves (`planned`) are written *before* any file is touched; each move is marked `moved` as
//!   soon as the file has moved; the set becomes `applied` at the end. An undo walks the moves of
//!   [`BatchStore::last_applied_set`] — also a run interrupted half-way — marking each one
//!   `undone`, then the set.
//!
//! Every row belongs to a job (`jobs.id`) and goes with it: both backends cascade the deletion
//! (SQLite connections run with `foreign_keys = ON`), so [`crate::JobQueue::purge_finished`]
//! also purges the batch state. [`BatchStore::delete_job`] drops it while the job stays.
//!
//! Statuses and states are closed sets: any other spelling from a caller is
//! [`StorageError::Invalid`]; from the database, [`StorageError::Corrupt`]. Page sizes are
//! clamped to `1..=`[`MAX_PAGE`].

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::db::{Conn, Database, on_conn};
use crate::error::{Result, StorageError};
use crate::schema::{batch_files, jobs, rename_moves, rename_sets};
use crate::time::{from_db, to_db};

/// The largest page [`BatchStore::pending`] and [`BatchStore::entries`] return.
pub const MAX_PAGE: i64 = 1000;

/// The longest path (file, rename source, target or backup) accepted, in bytes. Far above any
/// real file system's limit; it only keeps a hostile caller from storing megabytes per row.
pub const MAX_PATH_BYTES: usize = 16 * 1024;

/// The largest JSON entry accepted by [`BatchStore::record`], in bytes.
pub const MAX_ENTRY_BYTES: usize = 1024 * 1024;

/// Rows per `INSERT`: large enough that 100,000 files go in within seconds, small enough to
/// stay far below both backends' limits on bound parameters per statement.
const INSERT_CHUNK: usize = 500;

/// Defines a closed set of stored words: the enum, its spelling, and parsers that tell a bad
/// argument ([`StorageError::Invalid`]) from a bad stored value ([`StorageError::Corrupt`]).
macro_rules! closed_set {
    (
        $(#[$meta:meta])*
        $name:ident ($what:literal) {
            $($(#[$vmeta:meta])* $variant:ident => $text:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The stored (and API) spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }

            /// Parses a caller's value: anything outside the set is [`StorageError::Invalid`].
            pub fn parse(s: &str) -> Result<Self> {
                Self::lookup(s).ok_or_else(|| {
                    StorageError::Invalid(format!(
                        "unknown {} {s:?} (expected one of: {})",
                        $what,
                        [$($text),+].join(", ")
                    ))
                })
            }

            fn lookup(s: &str) -> Option<Self> {
                match s {
                    $($text => Some(Self::$variant),)+
                    _ => None,
                }
            }

            fn from_db(s: &str) -> Result<Self> {
                Self::lookup(s)
                    .ok_or_else(|| StorageError::Corrupt(format!("unknown {} {s:?}", $what)))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = StorageError;

            fn from_str(s: &str) -> Result<Self> {
                Self::parse(s)
            }
        }
    };
}

closed_set! {
    /// The outcome of one file of a batch job.
    FileStatus ("file status") {
        /// Identified.
        Ok => "ok",
        /// Fingerprinted, but nothing matched.
        Unmatched => "unmatched",
        /// Could not be processed.
        Error => "error",
    }
}

closed_set! {
    /// Where one file of a batch job stands.
    FileState ("file state") {
        /// Not processed yet (or processed, but the result was never recorded).
        Pending => "pending",
        /// Its result is stored.
        Done => "done",
    }
}

closed_set! {
    /// Where a rename run stands.
    RenameSetState ("rename set state") {
        /// Journal written; files are being moved (or the run was interrupted).
        Applying => "applying",
        /// Every planned move was attempted.
        Applied => "applied",
        /// Rolled back.
        Undone => "undone",
    }
}

closed_set! {
    /// Where one move of a rename run stands.
    MoveState ("move state") {
        /// Journaled; the file has not moved.
        Planned => "planned",
        /// The file is at its target.
        Moved => "moved",
        /// The file was moved back to its source.
        Undone => "undone",
    }
}

/// A file still to process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchFile {
    /// Position in the job (0, 1, 2, … in discovery order).
    pub seq: i64,
    /// The path, as given to [`BatchStore::add_files`].
    pub path: String,
}

/// How far a batch job got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchProgress {
    /// Files in the job.
    pub total: u64,
    /// Files whose result is recorded (`identified + unmatched + failed`).
    pub done: u64,
    /// Done with status `ok`.
    pub identified: u64,
    /// Done with status `unmatched`.
    pub unmatched: u64,
    /// Done with status `error`.
    pub failed: u64,
}

impl BatchProgress {
    /// Files still to process.
    pub fn pending(&self) -> u64 {
        self.total.saturating_sub(self.done)
    }
}

/// The recorded result of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEntry {
    /// Position in the job.
    pub seq: i64,
    /// The path.
    pub path: String,
    /// The outcome.
    pub status: FileStatus,
    /// The JSON entry, as recorded.
    pub entry: String,
}

/// One move of a rename journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenameMove {
    /// Position in the set (0, 1, 2, … in the order given to [`BatchStore::begin_rename_set`]).
    pub idx: i64,
    /// Where the file was.
    pub source: String,
    /// Where it goes.
    pub target: String,
    /// Where it stands.
    pub state: MoveState,
    /// Size of the moved file (recorded when moved), to notice a file changed before an undo.
    pub size: Option<i64>,
    /// Modification time of the moved file, in nanoseconds since the Unix epoch.
    pub mtime_ns: Option<i64>,
    /// Where a file that stood at the target was kept, if one was.
    pub backup: Option<String>,
    /// Whether the move replaced an existing file at the target.
    pub replaced_existing: bool,
}

/// A rename journal with its moves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenameSet {
    /// Its id (increasing: a newer set has a larger id).
    pub id: i64,
    /// The batch job it belongs to.
    pub job_id: String,
    /// Where it stands.
    pub state: RenameSetState,
    /// When it was journaled.
    pub created_at: DateTime<Utc>,
    /// Its moves, by `idx`.
    pub moves: Vec<RenameMove>,
}

#[derive(Insertable)]
#[diesel(table_name = batch_files)]
struct FileInsert<'a> {
    job_id: &'a str,
    seq: i64,
    path: String,
    state: &'static str,
    updated_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = rename_moves)]
struct MoveInsert<'a> {
    set_id: i64,
    idx: i64,
    source: &'a str,
    target: &'a str,
    state: &'static str,
    replaced_existing: bool,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = rename_sets)]
struct SetRow {
    id: i64,
    job_id: String,
    created_at: NaiveDateTime,
    state: String,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = rename_moves)]
struct MoveRow {
    idx: i64,
    source: String,
    target: String,
    state: String,
    size: Option<i64>,
    mtime_ns: Option<i64>,
    backup: Option<String>,
    replaced_existing: bool,
}

impl TryFrom<MoveRow> for RenameMove {
    type Error = StorageError;

    fn try_from(r: MoveRow) -> Result<Self> {
        Ok(Self {
            idx: r.idx,
            source: r.source,
            target: r.target,
            state: MoveState::from_db(&r.state)?,
            size: r.size,
            mtime_ns: r.mtime_ns,
            backup: r.backup,
            replaced_existing: r.replaced_existing,
        })
    }
}

/// Stores the files of `job_id` on `tx` (see [`BatchStore::add_files`]); for a caller that
/// creates the job in the same transaction ([`crate::JobQueue::enqueue_with`]).
pub fn add_files_in<I>(tx: &mut Conn, job_id: &str, paths: I) -> Result<u64>
where
    I: IntoIterator<Item = String>,
{
    require_job(tx, job_id)?;
    let existing = count_files(tx, job_id)?;
    if existing > 0 {
        return Ok(existing);
    }
    let updated_at = to_db(crate::time::now());
    let mut chunk = Vec::with_capacity(INSERT_CHUNK);
    let mut seq: i64 = 0;
    for path in paths {
        check_path("path", &path)?;
        chunk.push(FileInsert {
            job_id,
            seq,
            path,
            state: FileState::Pending.as_str(),
            updated_at,
        });
        seq += 1;
        if chunk.len() == INSERT_CHUNK {
            insert_files(tx, &chunk)?;
            chunk.clear();
        }
    }
    if !chunk.is_empty() {
        insert_files(tx, &chunk)?;
    }
    Ok(seq as u64)
}

/// The batch state over the jobs database (the one of [`crate::JobQueue::database`]). Cheap to
/// clone. Every method blocks: async callers run it on a blocking thread.
#[derive(Debug, Clone)]
pub struct BatchStore {
    db: Database,
}

impl BatchStore {
    /// A store over `db`, the migrated jobs database.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// The jobs database.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Stores the files of `job_id`, numbered from 0 in the given order, and returns how many
    /// the job has.
    ///
    /// All of them go in one transaction, 500 rows per statement. When the job already has
    /// files, nothing is written and their count is returned: a resumed job calls this again
    /// without duplicating anything. [`StorageError::JobNotFound`] when there is no such job;
    /// [`StorageError::Invalid`] (and nothing stored) when a path is empty, longer than
    /// [`MAX_PATH_BYTES`] or holds a NUL character.
    pub fn add_files<I>(&self, job_id: &str, paths: I) -> Result<u64>
    where
        I: IntoIterator<Item = String>,
    {
        let mut conn = self.db.conn()?;
        let added = conn.transaction(|tx| add_files_in(tx, job_id, paths));
        match added {
            // Another caller stored this job's files between our count and our insert (only
            // possible on PostgreSQL): theirs stand, exactly as if we had come second.
            Err(StorageError::Conflict(reason)) => match count_files(&mut conn, job_id)? {
                0 => Err(StorageError::Conflict(reason)),
                existing => Ok(existing),
            },
            other => other,
        }
    }

    /// Up to `limit` (clamped to `1..=`[`MAX_PAGE`]) pending files of `job_id` with `seq` after
    /// `after_seq` (`None`: from the start), by `seq`.
    pub fn pending(
        &self,
        job_id: &str,
        after_seq: Option<i64>,
        limit: i64,
    ) -> Result<Vec<BatchFile>> {
        let after = after_seq.unwrap_or(-1);
        let mut conn = self.db.conn()?;
        let rows: Vec<(i64, String)> = on_conn!(conn, |c| batch_files::table
            .filter(batch_files::job_id.eq(job_id))
            .filter(batch_files::state.eq(FileState::Pending.as_str()))
            .filter(batch_files::seq.gt(after))
            .order(batch_files::seq.asc())
            .limit(page(limit))
            .select((batch_files::seq, batch_files::path))
            .load(c))?;
        Ok(rows
            .into_iter()
            .map(|(seq, path)| BatchFile { seq, path })
            .collect())
    }

    /// Marks file `seq` of `job_id` done with its outcome and JSON entry. Returns `false`, and
    /// changes nothing, when it was already done: a re-run never counts a file twice.
    ///
    /// [`StorageError::Invalid`] for a status outside [`FileStatus`], an entry that is not JSON
    /// or is larger than [`MAX_ENTRY_BYTES`], or a file the job does not have.
    pub fn record(&self, job_id: &str, seq: i64, status: &str, entry_json: &str) -> Result<bool> {
        let status = FileStatus::parse(status)?;
        check_entry(entry_json)?;
        let mut conn = self.db.conn()?;
        let now = to_db(crate::time::now());
        // One conditional UPDATE: of two recorders racing on the same file, exactly one sees
        // it still pending.
        let updated = on_conn!(conn, |c| diesel::update(
            batch_files::table
                .find((job_id, seq))
                .filter(batch_files::state.eq(FileState::Pending.as_str()))
        )
        .set((
            batch_files::state.eq(FileState::Done.as_str()),
            batch_files::status.eq(status.as_str()),
            batch_files::entry.eq(entry_json),
            batch_files::updated_at.eq(now),
        ))
        .execute(c))?;
        if updated > 0 {
            return Ok(true);
        }
        let exists: Option<i64> = on_conn!(conn, |c| batch_files::table
            .find((job_id, seq))
            .select(batch_files::seq)
            .first(c)
            .optional())?;
        match exists {
            Some(_) => Ok(false),
            None => Err(StorageError::Invalid(format!(
                "job {job_id} has no file with seq {seq}"
            ))),
        }
    }

    /// How many files `job_id` has, and how many of them are done with each status (zeros for
    /// a job without files). One grouped read.
    pub fn progress(&self, job_id: &str) -> Result<BatchProgress> {
        let mut conn = self.db.conn()?;
        let groups: Vec<(String, Option<String>, i64)> = on_conn!(conn, |c| batch_files::table
            .filter(batch_files::job_id.eq(job_id))
            .group_by((batch_files::state, batch_files::status))
            .select((
                batch_files::state,
                batch_files::status,
                diesel::dsl::count_star(),
            ))
            .load(c))?;
        let mut progress = BatchProgress::default();
        for (state, status, count) in groups {
            let count = u64::try_from(count).unwrap_or_default();
            progress.total += count;
            if FileState::from_db(&state)? == FileState::Pending {
                continue;
            }
            progress.done += count;
            let status = status.ok_or_else(|| {
                StorageError::Corrupt(format!("job {job_id}: done file without status"))
            })?;
            match FileStatus::from_db(&status)? {
                FileStatus::Ok => progress.identified += count,
                FileStatus::Unmatched => progress.unmatched += count,
                FileStatus::Error => progress.failed += count,
            }
        }
        Ok(progress)
    }

    /// Up to `limit` (clamped to `1..=`[`MAX_PAGE`]) done files of `job_id` with `seq` after
    /// `after_seq` (`None`: from the start), by `seq`, only those with `status` when given.
    /// The next page starts after the last `seq` returned.
    ///
    /// [`StorageError::Invalid`] for a status outside [`FileStatus`].
    pub fn entries(
        &self,
        job_id: &str,
        after_seq: Option<i64>,
        limit: i64,
        status: Option<&str>,
    ) -> Result<Vec<StoredEntry>> {
        let status = status.map(FileStatus::parse).transpose()?;
        let after = after_seq.unwrap_or(-1);
        let mut conn = self.db.conn()?;
        let rows: Vec<(i64, String, Option<String>, Option<String>)> = on_conn!(conn, |c| {
            let mut query = batch_files::table
                .filter(batch_files::job_id.eq(job_id))
                .filter(batch_files::state.eq(FileState::Done.as_str()))
                .filter(batch_files::seq.gt(after))
                .select((
                    batch_files::seq,
                    batch_files::path,
                    batch_files::status,
                    batch_files::entry,
                ))
                .into_boxed();
            if let Some(status) = status {
                query = query.filter(batch_files::status.eq(status.as_str()));
            }
            query
                .order(batch_files::seq.asc())
                .limit(page(limit))
                .load(c)
        })?;
        rows.into_iter()
            .map(|(seq, path, status, entry)| {
                let (Some(status), Some(entry)) = (status, entry) else {
                    return Err(StorageError::Corrupt(format!(
                        "job {job_id}: done file {seq} without status or entry"
                    )));
                };
                Ok(StoredEntry {
                    seq,
                    path,
                    status: FileStatus::from_db(&status)?,
                    entry,
                })
            })
            .collect()
    }

    /// Deletes the batch state of `job_id` — its files and rename journals — and returns how
    /// many files it had. The job row is the queue's and stays.
    pub fn delete_job(&self, job_id: &str) -> Result<u64> {
        let mut conn = self.db.conn()?;
        conn.transaction(|tx| {
            // The moves would cascade from their sets; deleting them first keeps this correct
            // even on a connection that runs without foreign keys.
            let sets = rename_sets::table
                .filter(rename_sets::job_id.eq(job_id))
                .select(rename_sets::id);
            on_conn!(tx, |c| diesel::delete(
                rename_moves::table.filter(rename_moves::set_id.eq_any(sets))
            )
            .execute(c))?;
            on_conn!(tx, |c| diesel::delete(
                rename_sets::table.filter(rename_sets::job_id.eq(job_id))
            )
            .execute(c))?;
            let files = on_conn!(tx, |c| diesel::delete(
                batch_files::table.filter(batch_files::job_id.eq(job_id))
            )
            .execute(c))?;
            Ok(files as u64)
        })
    }

    /// Journals a rename run of `job_id` before any file moves: a set in state `applying` and
    /// its moves `(source, target)`, numbered from 0, all `planned`. Returns the set's id.
    ///
    /// [`StorageError::JobNotFound`] when there is no such job; [`StorageError::Invalid`] for
    /// an empty list or a path that is empty, too long or holds a NUL character.
    pub fn begin_rename_set<S, T>(&self, job_id: &str, moves: &[(S, T)]) -> Result<i64>
    where
        S: AsRef<str>,
        T: AsRef<str>,
    {
        if moves.is_empty() {
            return Err(StorageError::Invalid(
                "a rename set needs at least one move".into(),
            ));
        }
        for (source, target) in moves {
            check_path("rename source", source.as_ref())?;
            check_path("rename target", target.as_ref())?;
        }
        let mut conn = self.db.conn()?;
        conn.transaction(|tx| {
            require_job(tx, job_id)?;
            let created_at = to_db(crate::time::now());
            let set_id: i64 = on_conn!(tx, |c| diesel::insert_into(rename_sets::table)
                .values((
                    rename_sets::job_id.eq(job_id),
                    rename_sets::created_at.eq(created_at),
                    rename_sets::state.eq(RenameSetState::Applying.as_str()),
                ))
                .returning(rename_sets::id)
                .get_result(c))?;
            for (first, chunk) in (0_i64..)
                .step_by(INSERT_CHUNK)
                .zip(moves.chunks(INSERT_CHUNK))
            {
                let rows: Vec<MoveInsert<'_>> = chunk
                    .iter()
                    .zip(first..)
                    .map(|((source, target), idx)| MoveInsert {
                        set_id,
                        idx,
                        source: source.as_ref(),
                        target: target.as_ref(),
                        state: MoveState::Planned.as_str(),
                        replaced_existing: false,
                    })
                    .collect();
                on_conn!(tx, |c| diesel::insert_into(rename_moves::table)
                    .values(&rows)
                    .execute(c))?;
            }
            Ok(set_id)
        })
    }

    /// Records that move `idx` of set `set_id` happened: the file is at its target, with this
    /// size and modification time; `backup` is where a file that stood at the target was
    /// kept. Returns `false`, changing nothing, when the move was already marked moved (a
    /// resumed run).
    ///
    /// [`StorageError::Invalid`] when the set does not exist or is no longer `applying`, the
    /// move does not exist or was undone, or `backup` is not an acceptable path.
    pub fn mark_moved(
        &self,
        set_id: i64,
        idx: i64,
        size: Option<i64>,
        mtime_ns: Option<i64>,
        backup: Option<&str>,
        replaced_existing: bool,
    ) -> Result<bool> {
        if let Some(backup) = backup {
            check_path("backup", backup)?;
        }
        let mut conn = self.db.conn()?;
        conn.transaction(|tx| {
            let set_state = set_state(tx, set_id)?;
            if set_state != RenameSetState::Applying {
                return Err(StorageError::Invalid(format!(
                    "rename set {set_id} is {set_state}: moves are marked only while applying"
                )));
            }
            let updated = on_conn!(tx, |c| diesel::update(
                rename_moves::table
                    .find((set_id, idx))
                    .filter(rename_moves::state.eq(MoveState::Planned.as_str()))
            )
            .set((
                rename_moves::state.eq(MoveState::Moved.as_str()),
                rename_moves::size.eq(size),
                rename_moves::mtime_ns.eq(mtime_ns),
                rename_moves::backup.eq(backup),
                rename_moves::replaced_existing.eq(replaced_existing),
            ))
            .execute(c))?;
            if updated > 0 {
                return Ok(true);
            }
            match move_state(tx, set_id, idx)? {
                MoveState::Moved => Ok(false),
                state => Err(StorageError::Invalid(format!(
                    "move {idx} of rename set {set_id} is {state}; it cannot become moved"
                ))),
            }
        })
    }

    /// Marks set `set_id` applied (every planned move was attempted). Returns `false`,
    /// changing nothing, when it already was; [`StorageError::Invalid`] when it does not
    /// exist or was undone.
    pub fn finish_rename_set(&self, set_id: i64) -> Result<bool> {
        self.set_transition(set_id, &[RenameSetState::Applying], RenameSetState::Applied)
    }

    /// The newest set of `job_id` that is `applying` or `applied` and has at least one move
    /// still `moved` — what an undo rolls back, including a run that was interrupted half-way.
    pub fn last_applied_set(&self, job_id: &str) -> Result<Option<RenameSet>> {
        let mut conn = self.db.conn()?;
        let live = [
            RenameSetState::Applying.as_str(),
            RenameSetState::Applied.as_str(),
        ];
        let row: Option<SetRow> = on_conn!(conn, |c| rename_sets::table
            .filter(rename_sets::job_id.eq(job_id))
            .filter(rename_sets::state.eq_any(live))
            .filter(diesel::dsl::exists(
                rename_moves::table
                    .filter(rename_moves::set_id.eq(rename_sets::id))
                    .filter(rename_moves::state.eq(MoveState::Moved.as_str())),
            ))
            .order(rename_sets::id.desc())
            .select(SetRow::as_select())
            .first(c)
            .optional())?;
        row.map(|row| with_moves(&mut conn, row)).transpose()
    }

    /// One rename set with its moves.
    pub fn rename_set(&self, set_id: i64) -> Result<Option<RenameSet>> {
        let mut conn = self.db.conn()?;
        let row: Option<SetRow> = on_conn!(conn, |c| rename_sets::table
            .find(set_id)
            .select(SetRow::as_select())
            .first(c)
            .optional())?;
        row.map(|row| with_moves(&mut conn, row)).transpose()
    }

    /// Records that move `idx` of set `set_id` was rolled back (the file is at its source
    /// again). Returns `false`, changing nothing, when it already was.
    ///
    /// [`StorageError::Invalid`] when the set or the move does not exist, the move never moved,
    /// or the set is already undone.
    pub fn mark_move_undone(&self, set_id: i64, idx: i64) -> Result<bool> {
        let mut conn = self.db.conn()?;
        conn.transaction(|tx| {
            let set_state = set_state(tx, set_id)?;
            if set_state != RenameSetState::Undone {
                let updated = on_conn!(tx, |c| diesel::update(
                    rename_moves::table
                        .find((set_id, idx))
                        .filter(rename_moves::state.eq(MoveState::Moved.as_str()))
                )
                .set(rename_moves::state.eq(MoveState::Undone.as_str()))
                .execute(c))?;
                if updated > 0 {
                    return Ok(true);
                }
            }
            match move_state(tx, set_id, idx)? {
                MoveState::Undone => Ok(false),
                MoveState::Planned => Err(StorageError::Invalid(format!(
                    "move {idx} of rename set {set_id} never moved; there is nothing to undo"
                ))),
                MoveState::Moved => Err(StorageError::Invalid(format!(
                    "rename set {set_id} is already undone"
                ))),
            }
        })
    }

    /// Marks set `set_id` undone (the rollback is over). Returns `false`, changing nothing,
    /// when it already was; [`StorageError::Invalid`] when it does not exist.
    pub fn finish_undo(&self, set_id: i64) -> Result<bool> {
        self.set_transition(
            set_id,
            &[RenameSetState::Applying, RenameSetState::Applied],
            RenameSetState::Undone,
        )
    }

    /// Moves set `set_id` from one of `from` to `to`: `true` when it did, `false` when it was
    /// already `to`, [`StorageError::Invalid`] otherwise.
    fn set_transition(
        &self,
        set_id: i64,
        from: &[RenameSetState],
        to: RenameSetState,
    ) -> Result<bool> {
        let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
        let mut conn = self.db.conn()?;
        conn.transaction(|tx| {
            let updated = on_conn!(tx, |c| diesel::update(
                rename_sets::table
                    .find(set_id)
                    .filter(rename_sets::state.eq_any(&from))
            )
            .set(rename_sets::state.eq(to.as_str()))
            .execute(c))?;
            if updated > 0 {
                return Ok(true);
            }
            match set_state(tx, set_id)? {
                state if state == to => Ok(false),
                state => Err(StorageError::Invalid(format!(
                    "rename set {set_id} is {state}; it cannot become {to}"
                ))),
            }
        })
    }
}

fn page(limit: i64) -> i64 {
    limit.clamp(1, MAX_PAGE)
}

fn check_path(what: &str, path: &str) -> Result<()> {
    if path.is_empty() {
        return Err(StorageError::Invalid(format!("{what} is empty")));
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(StorageError::Invalid(format!(
            "{what} is {} bytes long; at most {MAX_PATH_BYTES} are accepted",
            path.len()
        )));
    }
    // PostgreSQL text cannot hold NUL; refuse it on both backends alike.
    if path.contains('\0') {
        return Err(StorageError::Invalid(format!(
            "{what} contains a NUL character"
        )));
    }
    Ok(())
}

fn check_entry(entry: &str) -> Result<()> {
    if entry.len() > MAX_ENTRY_BYTES {
        return Err(StorageError::Invalid(format!(
            "entry is {} bytes long; at most {MAX_ENTRY_BYTES} are accepted",
            entry.len()
        )));
    }
    // Exports concatenate stored entries as they are, so each one must be JSON on its own.
    serde_json::from_str::<serde::de::IgnoredAny>(entry)
        .map(drop)
        .map_err(|err| StorageError::Invalid(format!("entry is not JSON: {err}")))
}

fn require_job(conn: &mut Conn, job_id: &str) -> Result<()> {
    let found: Option<String> = on_conn!(conn, |c| jobs::table
        .find(job_id)
        .select(jobs::id)
        .first(c)
        .optional())?;
    match found {
        Some(_) => Ok(()),
        None => Err(StorageError::JobNotFound(job_id.to_owned())),
    }
}

fn count_files(conn: &mut Conn, job_id: &str) -> Result<u64> {
    let count: i64 = on_conn!(conn, |c| batch_files::table
        .filter(batch_files::job_id.eq(job_id))
        .count()
        .get_result(c))?;
    Ok(u64::try_from(count).unwrap_or_default())
}

fn insert_files(conn: &mut Conn, rows: &[FileInsert<'_>]) -> Result<()> {
    on_conn!(conn, |c| diesel::insert_into(batch_files::table)
        .values(rows)
        .execute(c))?;
    Ok(())
}

fn set_state(conn: &mut Conn, set_id: i64) -> Result<RenameSetState> {
    let state: Option<String> = on_conn!(conn, |c| rename_sets::table
        .find(set_id)
        .select(rename_sets::state)
        .first(c)
        .optional())?;
    match state {
        Some(state) => RenameSetState::from_db(&state),
        None => Err(StorageError::Invalid(format!(
            "rename set {set_id} does not exist"
        ))),
    }
}

fn move_state(conn: &mut Conn, set_id: i64, idx: i64) -> Result<MoveState> {
    let state: Option<String> = on_conn!(conn, |c| rename_moves::table
        .find((set_id, idx))
        .select(rename_moves::state)
        .first(c)
        .optional())?;
    match state {
        Some(state) => MoveState::from_db(&state),
        None => Err(StorageError::Invalid(format!(
            "rename set {set_id} has no move {idx}"
        ))),
    }
}

fn with_moves(conn: &mut Conn, row: SetRow) -> Result<RenameSet> {
    let moves: Vec<MoveRow> = on_conn!(conn, |c| rename_moves::table
        .filter(rename_moves::set_id.eq(row.id))
        .order(rename_moves::idx.asc())
        .select(MoveRow::as_select())
        .load(c))?;
    Ok(RenameSet {
        id: row.id,
        state: RenameSetState::from_db(&row.state)?,
        job_id: row.job_id,
        created_at: from_db(row.created_at),
        moves: moves
            .into_iter()
            .map(RenameMove::try_from)
            .collect::<Result<_>>()?,
    })
}
