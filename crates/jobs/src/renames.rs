//! Renames planned from a batch's stored entries, applied with a write-ahead journal in the
//! jobs database, and undone from that journal (`rename-from-log`, without its prompts). Every
//! function is blocking.
//!
//! The journal is written before any file moves (all the planned moves), and each move is
//! marked once done, so an apply interrupted by a crash can still be undone for the files
//! that did move.

use std::collections::HashMap;
use std::path::Path;

use recozik_core::batch::entry::BatchEntry;
use recozik_core::batch::rename::{
    AppliedMove, Journal, PlannedMove, RenameOptions, RenameOutcome, RenamePlan, UndoOutcome,
    apply, plan, undo,
};
use recozik_storage::{BatchStore, MoveState, StorageError};

/// Entries read per page.
const PAGE: i64 = 1000;

/// Why a rename request could not be carried out (a refusal of one file is part of the
/// outcome, not an error).
#[derive(Debug, thiserror::Error)]
pub enum RenameError {
    #[error("No applied renames to undo for this job")]
    NothingToUndo,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Every recorded entry of a batch, in order.
fn entries(store: &BatchStore, job_id: &str) -> Result<Vec<BatchEntry>, StorageError> {
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = store.entries(job_id, after, PAGE, None)?;
        let full = i64::try_from(page.len()).unwrap_or(i64::MAX) >= PAGE;
        after = page.last().map(|stored| stored.seq).or(after);
        // An entry this server wrote always parses; anything else is left out of the plan.
        all.extend(
            page.iter()
                .filter_map(|stored| serde_json::from_str::<BatchEntry>(&stored.entry).ok()),
        );
        if !full {
            return Ok(all);
        }
    }
}

/// The renames `options` would make for the batch `job_id` whose paths are relative to
/// `root`.
pub fn plan_renames(
    store: &BatchStore,
    job_id: &str,
    root: &Path,
    options: &RenameOptions,
) -> Result<RenamePlan, StorageError> {
    Ok(plan(root, entries(store, job_id)?, options))
}

/// Marks each move of set `set_id` in the database as it happens.
struct StoredJournal<'a> {
    store: &'a BatchStore,
    set_id: i64,
    index_of: HashMap<String, i64>,
}

impl Journal for StoredJournal<'_> {
    fn before_move(&mut self, _planned: &PlannedMove) -> std::io::Result<()> {
        // Every planned move was journaled before the run started.
        Ok(())
    }

    fn after_move(&mut self, moved: &AppliedMove) -> std::io::Result<()> {
        let Some(idx) = self.index_of.get(&moved.source).copied() else {
            return Err(std::io::Error::other("a move that was not journaled"));
        };
        self.store
            .mark_moved(
                self.set_id,
                idx,
                i64::try_from(moved.size).ok(),
                moved.modified_ns,
                moved.backup.as_deref(),
                moved.overwrote,
            )
            .map(drop)
            .map_err(std::io::Error::other)
    }
}

/// Plans, journals and applies the renames of batch `job_id`.
pub fn apply_renames(
    store: &BatchStore,
    job_id: &str,
    root: &Path,
    options: &RenameOptions,
) -> Result<(RenamePlan, RenameOutcome), StorageError> {
    let planned = plan_renames(store, job_id, root, options)?;
    let moves: Vec<(&str, &str)> = planned
        .planned
        .iter()
        .map(|mv| (mv.source.as_str(), mv.target.as_str()))
        .collect();
    if moves.is_empty() {
        let outcome = apply(
            root,
            &planned,
            options,
            &mut recozik_core::batch::rename::NoJournal,
        );
        return Ok((planned, outcome));
    }
    let set_id = store.begin_rename_set(job_id, &moves)?;
    let index_of = planned
        .planned
        .iter()
        .enumerate()
        .map(|(idx, mv)| (mv.source.clone(), i64::try_from(idx).unwrap_or(i64::MAX)))
        .collect();
    let mut journal = StoredJournal {
        store,
        set_id,
        index_of,
    };
    let outcome = apply(root, &planned, options, &mut journal);
    store.finish_rename_set(set_id)?;
    Ok((planned, outcome))
}

/// Moves every file of the last applied rename set of `job_id` back, refusing (per file) one
/// that changed since.
pub fn undo_renames(
    store: &BatchStore,
    job_id: &str,
    root: &Path,
) -> Result<UndoOutcome, RenameError> {
    let Some(set) = store.last_applied_set(job_id)? else {
        return Err(RenameError::NothingToUndo);
    };
    let moved: Vec<(i64, AppliedMove)> = set
        .moves
        .iter()
        .filter(|mv| mv.state == MoveState::Moved)
        .map(|mv| {
            (
                mv.idx,
                AppliedMove {
                    source: mv.source.clone(),
                    target: mv.target.clone(),
                    size: mv
                        .size
                        .and_then(|size| u64::try_from(size).ok())
                        .unwrap_or_default(),
                    modified_ns: mv.mtime_ns,
                    backup: mv.backup.clone(),
                    overwrote: mv.replaced_existing,
                },
            )
        })
        .collect();
    let applied: Vec<AppliedMove> = moved.iter().map(|(_, mv)| mv.clone()).collect();
    let outcome = undo(root, &applied);
    for restored in &outcome.restored {
        if let Some((idx, _)) = moved
            .iter()
            .find(|(_, mv)| mv.source == restored.source && mv.target == restored.target)
        {
            store.mark_move_undone(set.id, *idx)?;
        }
    }
    if outcome.refused.is_empty() {
        store.finish_undo(set.id)?;
    }
    Ok(outcome)
}
