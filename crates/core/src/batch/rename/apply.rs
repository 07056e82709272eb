//! Performing a plan (backup copy, journal, move) and moving an applied set back.
//!
//! Every move is checked again right before it happens: a plan may come from storage and the
//! folder may have changed since it was made. Error texts name paths relative to the root and
//! the kind of I/O error, never an absolute path.

use std::fs::{self, File, Metadata, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use super::name::{fit_name, split_ext};
use super::paths::{FileProblem, Occupant, RelPath, occupant};
use super::{
    AppliedMove, ApplySummary, ConflictStrategy, EntryMessage, MAX_APPEND_ATTEMPTS, PlannedMove,
    RenameOptions, RenameOutcome, RenamePlan, UndoOutcome, UndoRefusal, UndoSummary,
};

/// Told about each move, so that the caller can keep a write-ahead journal: `before_move` runs
/// before anything is touched for a move (an error cancels it and stops the run), `after_move`
/// once the file is at its target (an error stops the run; the move itself stays recorded).
pub trait Journal {
    fn before_move(&mut self, planned: &PlannedMove) -> io::Result<()>;
    fn after_move(&mut self, applied: &AppliedMove) -> io::Result<()>;
}

/// A journal that records nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoJournal;

impl Journal for NoJournal {
    fn before_move(&mut self, _: &PlannedMove) -> io::Result<()> {
        Ok(())
    }

    fn after_move(&mut self, _: &AppliedMove) -> io::Result<()> {
        Ok(())
    }
}

/// Performs the planned moves in order. The first failure stops the run (`interrupted`), as
/// upstream does; the moves already made stay made and are listed for [`undo`].
pub fn apply(
    root: &Path,
    plan: &RenamePlan,
    options: &RenameOptions,
    journal: &mut dyn Journal,
) -> RenameOutcome {
    let mut outcome = RenameOutcome {
        moves: plan.planned.clone(),
        ..RenameOutcome::default()
    };
    if let Err(message) = run(root, plan, options, journal, &mut outcome) {
        outcome.errors.push(message);
        outcome.interrupted = true;
    }
    outcome.summary = ApplySummary {
        renamed: outcome.applied.len(),
        skipped: plan.summary.skipped,
        errors: plan.summary.errors + outcome.errors.len(),
    };
    outcome
}

fn run(
    root: &Path,
    plan: &RenamePlan,
    options: &RenameOptions,
    journal: &mut dyn Journal,
    outcome: &mut RenameOutcome,
) -> Result<(), EntryMessage> {
    if plan.planned.is_empty() {
        return Ok(());
    }
    let whole_run = |message: String| EntryMessage {
        path: None,
        message,
    };
    let root = root
        .canonicalize()
        .ok()
        .filter(|root| root.is_dir())
        .ok_or_else(|| whole_run("Root directory not found.".to_owned()))?;
    let backup = match &options.backup_dir {
        Some(dir) => Some(
            fs::create_dir_all(dir)
                .and_then(|()| dir.canonicalize())
                .map_err(|error| {
                    whole_run(format!("Backup directory unavailable: {}", error.kind()))
                })?,
        ),
        None => None,
    };
    for (index, planned) in plan.planned.iter().enumerate() {
        let step = Step {
            root: &root,
            backup: backup.as_deref(),
            strategy: options.on_conflict,
            planned,
        };
        let result = step.perform(journal);
        if let Some(applied) = result.applied {
            if let Some(shown) = outcome.moves.get_mut(index) {
                shown.applied = true;
            }
            outcome.applied.push(applied);
        }
        if let Some(message) = result.error {
            return Err(EntryMessage {
                path: Some(planned.source.clone()),
                message,
            });
        }
    }
    Ok(())
}

struct Step<'a> {
    root: &'a Path,
    backup: Option<&'a Path>,
    strategy: ConflictStrategy,
    planned: &'a PlannedMove,
}

/// A move made (or not) and the error that stops the run (if any); both when the move was made
/// but could not be journaled.
struct StepResult {
    applied: Option<AppliedMove>,
    error: Option<String>,
}

impl Step<'_> {
    fn failed(&self, reason: impl std::fmt::Display) -> StepResult {
        StepResult {
            applied: None,
            error: Some(format!(
                "Failed to rename {}: {reason}",
                self.planned.source
            )),
        }
    }

    fn perform(&self, journal: &mut dyn Journal) -> StepResult {
        let (source_rel, target_rel) = match (
            RelPath::parse(&self.planned.source),
            RelPath::parse(&self.planned.target),
        ) {
            (Ok(source), Ok(target)) if source.same_folder(&target) && source != target => {
                (source, target)
            }
            _ => return self.failed("invalid source or target path"),
        };
        let (source, before) = match source_rel.resolve_file(self.root) {
            Ok(found) => found,
            Err(problem) => return self.failed(problem_text(problem)),
        };
        let target = target_rel
            .parent_under(self.root)
            .join(target_rel.file_name());
        let overwrote = match (occupant(&target), self.strategy) {
            (Occupant::Free, _) => false,
            (Occupant::File, ConflictStrategy::Overwrite) => true,
            (Occupant::File, _) => return self.failed("the target already exists"),
            (Occupant::Symlink, _) => return self.failed("the target is a symbolic link"),
            (Occupant::Other, _) => return self.failed("the target is not a regular file"),
        };
        if let Err(error) = journal.before_move(self.planned) {
            return self.failed(format_args!("journal: {}", error.kind()));
        }
        let backup = match self.backup {
            Some(dir) => match back_up(dir, &source, &before, &source_rel) {
                Ok(backup) => Some(backup),
                Err(error) => return self.failed(format_args!("backup: {}", error.kind())),
            },
            None => None,
        };
        // `rename` replaces an existing target atomically (on Windows too), so `overwrite`
        // needs no separate delete that would leave a moment with neither file.
        if let Err(error) = fs::rename(&source, &target) {
            return self.failed(error.kind());
        }
        let after = fs::symlink_metadata(&target).unwrap_or(before);
        let applied = AppliedMove {
            source: self.planned.source.clone(),
            target: self.planned.target.clone(),
            size: after.len(),
            modified_ns: modified_ns(&after),
            backup,
            overwrote,
        };
        let error = journal.after_move(&applied).err().map(|error| {
            format!(
                "Failed to record the rename of {}: {}",
                self.planned.source,
                error.kind()
            )
        });
        StepResult {
            applied: Some(applied),
            error,
        }
    }
}

fn problem_text(problem: FileProblem) -> &'static str {
    match problem {
        FileProblem::NotFound => "the file no longer exists",
        FileProblem::Symlink => "the file is a symbolic link",
        FileProblem::NotFile => "not a regular file",
        FileProblem::Outside => "outside the root directory",
    }
}

/// Copies `source` to `<dir>/<rel>`, never over an existing file (`-1`, `-2`, … otherwise);
/// returns the copy's path relative to `dir`.
fn back_up(dir: &Path, source: &Path, meta: &Metadata, rel: &RelPath) -> io::Result<String> {
    let folder = rel.parent_under(dir);
    fs::create_dir_all(&folder)?;
    // The caller confined `dir`, but a link inside it could still lead elsewhere.
    if !folder.canonicalize()?.starts_with(dir) {
        return Err(io::Error::from(io::ErrorKind::PermissionDenied));
    }
    let name = rel.file_name();
    let (stem, ext) = split_ext(name);
    for n in 0..=MAX_APPEND_ATTEMPTS {
        let candidate = if n == 0 {
            name.to_owned()
        } else {
            fit_name(stem, &format!("-{n}{ext}"))
        };
        let path = folder.join(&candidate);
        // `create_new` fails on anything already there, links included.
        let mut copy = match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(error),
        };
        let copied = File::open(source)
            .and_then(|mut original| io::copy(&mut original, &mut copy))
            .and_then(|_| copy.set_permissions(meta.permissions()))
            .and_then(|()| meta.modified().and_then(|time| copy.set_modified(time)));
        return match copied {
            Ok(()) => Ok(rel.with_file_name(&candidate).to_slash()),
            Err(error) => {
                drop(copy);
                // A partial copy is no backup.
                let _ = fs::remove_file(&path);
                Err(error)
            }
        };
    }
    Err(io::Error::from(io::ErrorKind::AlreadyExists))
}

/// Nanoseconds since the Unix epoch (negative before it); `None` when unknown or out of range.
fn modified_ns(meta: &Metadata) -> Option<i64> {
    let time = meta.modified().ok()?;
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_nanos()).ok(),
        Err(before) => i64::try_from(before.duration().as_nanos()).ok().map(|n| -n),
    }
}

/// Moves the files of an applied set back, last move first. A file that is gone, is a link,
/// changed (size or modification time) or whose original path is now taken is left where it
/// is, with the reason; the others are still moved back.
pub fn undo(root: &Path, moves: &[AppliedMove]) -> UndoOutcome {
    let mut outcome = UndoOutcome::default();
    let root = root.canonicalize().ok().filter(|root| root.is_dir());
    for applied in moves.iter().rev() {
        let result = match &root {
            Some(root) => undo_one(root, applied),
            None => Err("Root directory not found.".to_owned()),
        };
        match result {
            Ok(()) => outcome.restored.push(applied.clone()),
            Err(reason) => outcome.refused.push(UndoRefusal {
                source: applied.source.clone(),
                target: applied.target.clone(),
                reason,
            }),
        }
    }
    outcome.summary = UndoSummary {
        restored: outcome.restored.len(),
        refused: outcome.refused.len(),
    };
    outcome
}

fn undo_one(root: &Path, applied: &AppliedMove) -> Result<(), String> {
    let target_text = &applied.target;
    let (source_rel, target_rel) =
        match (RelPath::parse(&applied.source), RelPath::parse(target_text)) {
            (Ok(source), Ok(target)) if source.same_folder(&target) && source != target => {
                (source, target)
            }
            _ => return Err(format!("Invalid move record: {target_text}")),
        };
    let (target, meta) = target_rel
        .resolve_file(root)
        .map_err(|problem| match problem {
            FileProblem::NotFound => format!("File no longer exists: {target_text}"),
            FileProblem::Symlink => format!("Symbolic link, not moved back: {target_text}"),
            FileProblem::NotFile => format!("Not a regular file, not moved back: {target_text}"),
            FileProblem::Outside => format!("Outside the root directory: {target_text}"),
        })?;
    if meta.len() != applied.size {
        return Err(format!(
            "File changed since the rename (size), not moved back: {target_text}"
        ));
    }
    if modified_ns(&meta) != applied.modified_ns {
        return Err(format!(
            "File changed since the rename (modification time), not moved back: {target_text}"
        ));
    }
    let source: PathBuf = source_rel.under(root);
    match occupant(&source) {
        Occupant::Free => {}
        _ => {
            return Err(format!(
                "Original path is occupied, not moved back: {}",
                applied.source
            ));
        }
    }
    fs::rename(&target, &source)
        .map_err(|error| format!("Failed to move back {target_text}: {}", error.kind()))
}
