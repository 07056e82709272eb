//! Planning: one pass over the entries in log order, upstream's steps without the prompts.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::name::{
    default_text, missing_fields, numbered, render_name, required_fields, target_name,
};
use super::paths::{FileProblem, Occupant, PathProblem, RelPath, occupant, shown};
use super::{
    Choice, ConflictStrategy, EntryChoices, EntryMessage, MAX_APPEND_ATTEMPTS,
    MAX_MATCHES_PER_ENTRY, PlanSummary, PlannedMove, Proposal, ProposalSource, RenameOptions,
    RenamePlan,
};
use crate::batch::entry::{BatchEntry, EntryStatus};
use crate::batch::format;
use crate::metadata::EmbeddedMetadata;

/// Plans the renames of `entries` under `root`. Looks at the disk (existence, links, conflicts)
/// but changes nothing.
pub fn plan(
    root: &Path,
    entries: impl IntoIterator<Item = BatchEntry>,
    options: &RenameOptions,
) -> RenamePlan {
    let mut planner = Planner {
        options,
        required: if options.require_template_fields {
            required_fields(&options.template)
        } else {
            Vec::new()
        },
        occupied: HashSet::new(),
        sources: HashSet::new(),
        plan: RenamePlan::default(),
    };
    match root.canonicalize() {
        Ok(root) if root.is_dir() => {
            if let Err(error) = format::placeholders(&options.template) {
                planner.plan.notices.push(EntryMessage {
                    path: None,
                    message: format!(
                        "Template error ({error}): each match's formatted text is used instead."
                    ),
                });
            }
            for entry in entries {
                planner.entry(&root, &entry);
            }
        }
        _ => planner.plan.errors.push(EntryMessage {
            path: None,
            message: "Root directory not found.".to_owned(),
        }),
    }
    let mut plan = planner.plan;
    plan.summary = PlanSummary {
        planned: plan.planned.len(),
        skipped: plan.skipped.len(),
        errors: plan.errors.len(),
    };
    plan
}

struct Planner<'a> {
    options: &'a RenameOptions,
    /// The supported placeholders of the template, when they are required.
    required: Vec<&'static str>,
    /// Targets planned so far (relative).
    occupied: HashSet<String>,
    /// Sources seen so far (relative), so that a repeated entry cannot be moved twice.
    sources: HashSet<String>,
    plan: RenamePlan,
}

/// An entry's file, once found.
struct Source {
    rel: RelPath,
    shown: String,
    folder: PathBuf,
}

impl Planner<'_> {
    fn error(&mut self, path: Option<String>, message: String) {
        self.plan.errors.push(EntryMessage { path, message });
    }

    fn skip(&mut self, path: &str, message: String) {
        self.plan.skipped.push(EntryMessage {
            path: Some(path.to_owned()),
            message,
        });
    }

    fn notice(&mut self, path: &str, message: String) {
        self.plan.notices.push(EntryMessage {
            path: Some(path.to_owned()),
            message,
        });
    }

    fn entry(&mut self, root: &Path, entry: &BatchEntry) {
        let Some(source) = self.source(root, &entry.path) else {
            return;
        };
        let path = source.shown.clone();
        let name = source.rel.file_name().to_owned();

        let mut proposals = self.prepare(
            &source,
            entry
                .matches
                .iter()
                .take(MAX_MATCHES_PER_ENTRY)
                .map(Proposal::from),
        );
        let metadata = normalized(entry.metadata.as_ref());
        let note = entry.note.as_deref().filter(|n| !n.is_empty());
        let error = entry.error.as_deref().filter(|e| !e.is_empty());

        if entry.status == EntryStatus::Unmatched && proposals.is_empty() {
            proposals = self.fallback(&source, metadata.as_ref());
            if proposals.is_empty() {
                let message = match note {
                    Some(note) => format!("No proposal for: {path} ({note})"),
                    None => format!("No proposal for: {path}"),
                };
                return self.skip(&path, message);
            }
        }
        if let Some(error) = error {
            if proposals.is_empty() {
                proposals = self.fallback(&source, metadata.as_ref());
            } else {
                // Upstream's rule: an entry with an error is not trusted even with matches.
                proposals.clear();
            }
            if proposals.is_empty() {
                return self.skip(
                    &path,
                    format!("Entry with error, skipped: {path} ({error})"),
                );
            }
        }
        if proposals.is_empty() {
            proposals = self.fallback(&source, metadata.as_ref());
            if proposals.is_empty() {
                return self.skip(&path, format!("No proposal for: {path}"));
            }
        }

        let select = &self.options.select;
        let index = select
            .get(&entry.path)
            .or_else(|| select.get(&path))
            .copied()
            .unwrap_or(0);
        if proposals.len() > 1 {
            self.plan.choices.push(EntryChoices {
                path: path.clone(),
                selected: index,
                proposals: proposals.clone(),
            });
        }
        let count = proposals.len();
        let Some(Choice {
            target,
            proposal: chosen,
        }) = proposals.into_iter().nth(index)
        else {
            return self.skip(
                &path,
                format!(
                    "Selection {index} is out of range for {name} ({count} proposal(s)), skipped."
                ),
            );
        };

        if target == name {
            return self.skip(&path, format!("Already named correctly: {name}"));
        }
        let resolved = match self.resolve_conflict(&source, &target) {
            Ok(resolved) => resolved,
            Err(message) => return self.skip(&path, message),
        };
        if resolved == name {
            // Only a numbered name was free, and it is the file's own.
            return self.skip(&path, format!("Already named correctly: {name}"));
        }
        let target_rel = source.rel.with_file_name(&resolved).to_slash();
        self.occupied.insert(target_rel.clone());
        self.plan.planned.push(PlannedMove {
            source: path,
            target: target_rel,
            applied: false,
            proposal: chosen,
        });
    }

    /// Steps 1 and 2: the entry's file under the root, or the reason it is refused.
    fn source(&mut self, root: &Path, raw: &str) -> Option<Source> {
        if raw.is_empty() {
            self.error(None, "Entry without a path: skipped.".to_owned());
            return None;
        }
        let rel = match RelPath::parse(raw) {
            Ok(rel) => rel,
            Err(PathProblem::Invalid) => {
                let shown = shown(raw);
                self.error(
                    Some(shown.clone()),
                    format!("Invalid path, skipped: {shown}"),
                );
                return None;
            }
            Err(PathProblem::Outside) => {
                let shown = shown(raw);
                self.error(
                    Some(shown.clone()),
                    format!("Entry outside root directory, skipped: {shown}"),
                );
                return None;
            }
        };
        let path = rel.to_slash();
        let absolute = match rel.resolve_file(root) {
            Ok((absolute, _)) => absolute,
            Err(FileProblem::NotFound) => {
                self.error(
                    Some(path.clone()),
                    format!("File not found, skipped: {path}"),
                );
                return None;
            }
            Err(FileProblem::Outside) => {
                self.error(
                    Some(path.clone()),
                    format!("Entry outside root directory, skipped: {path}"),
                );
                return None;
            }
            Err(FileProblem::Symlink) => {
                self.skip(&path, format!("Symbolic link, skipped: {path}"));
                return None;
            }
            Err(FileProblem::NotFile) => {
                self.skip(&path, format!("Not a regular file, skipped: {path}"));
                return None;
            }
        };
        if self.occupied.contains(&path) {
            // Only with `overwrite`: an earlier move replaces this file.
            self.skip(
                &path,
                format!("Replaced by an earlier rename, skipped: {path}"),
            );
            return None;
        }
        if !self.sources.insert(path.clone()) {
            self.skip(&path, format!("Duplicate entry, skipped: {path}"));
            return None;
        }
        let folder = absolute.parent().map(Path::to_path_buf)?;
        Some(Source {
            rel,
            shown: path,
            folder,
        })
    }

    /// Step 3: drops proposals missing required values, then duplicate target names.
    fn prepare(
        &mut self,
        source: &Source,
        candidates: impl Iterator<Item = Proposal>,
    ) -> Vec<Choice> {
        let name = source.rel.file_name();
        let mut seen = HashSet::new();
        let mut kept = Vec::new();
        for proposal in candidates {
            let missing = missing_fields(&self.required, &proposal, name);
            if !missing.is_empty() {
                let message = format!(
                    "Match skipped for {name}: missing template values ({}).",
                    missing.join(", ")
                );
                self.notice(&source.shown, message);
                continue;
            }
            let target = target_name(&render_name(&self.options.template, &proposal, name), name);
            if self.options.deduplicate_template && !seen.insert(target.to_lowercase()) {
                continue;
            }
            kept.push(Choice { target, proposal });
        }
        kept
    }

    /// Steps 5 and 6: the embedded-metadata pseudo-match, prepared like the others.
    fn fallback(&mut self, source: &Source, metadata: Option<&EmbeddedMetadata>) -> Vec<Choice> {
        let Some(metadata) = metadata.filter(|_| self.options.metadata_fallback) else {
            return Vec::new();
        };
        self.notice(
            &source.shown,
            format!(
                "No AcoustID match for {}, using embedded metadata.",
                source.shown
            ),
        );
        let pseudo = Proposal {
            rank: None,
            formatted: default_text(metadata.artist.as_ref(), metadata.title.as_ref()),
            score: None,
            recording_id: None,
            artist: metadata.artist.clone(),
            title: metadata.title.clone(),
            album: metadata.album.clone(),
            release_group_id: None,
            release_id: None,
            source: Some(ProposalSource::Metadata),
        };
        self.prepare(source, std::iter::once(pseudo))
    }

    /// Step 9 on the disk and this run's planned targets.
    fn resolve_conflict(&self, source: &Source, target: &str) -> Result<String, String> {
        resolve_conflict(
            self.options.on_conflict,
            source.rel.file_name(),
            target,
            &|candidate| {
                self.occupied
                    .contains(&source.rel.with_file_name(candidate).to_slash())
            },
            &|candidate| occupant(&source.folder.join(candidate)),
        )
    }
}

/// Step 9: a free name for `target` in the folder of the file `name`, or the skip message.
/// `planned` tells whether a name is already a target of this run, `on_disk` what is there.
fn resolve_conflict(
    strategy: ConflictStrategy,
    name: &str,
    target: &str,
    planned: &dyn Fn(&str) -> bool,
    on_disk: &dyn Fn(&str) -> Occupant,
) -> Result<String, String> {
    let collision = || format!("Unresolved collision, file skipped: {name}");
    // A candidate "exists" unless it is free or the source itself.
    let exists = |candidate: &str| candidate != name && on_disk(candidate) != Occupant::Free;
    match strategy {
        ConflictStrategy::Append => {
            let free = |candidate: &str| !planned(candidate) && !exists(candidate);
            if free(target) {
                return Ok(target.to_owned());
            }
            (1..=MAX_APPEND_ATTEMPTS)
                .map(|n| numbered(target, n))
                .find(|candidate| free(candidate))
                .ok_or_else(collision)
        }
        ConflictStrategy::Skip => {
            if planned(target) || exists(target) {
                Err(collision())
            } else {
                Ok(target.to_owned())
            }
        }
        ConflictStrategy::Overwrite => {
            if planned(target) {
                return Err(collision());
            }
            match on_disk(target) {
                Occupant::Free | Occupant::File => Ok(target.to_owned()),
                Occupant::Symlink => Err(format!(
                    "Target is a symbolic link, file skipped: {name} -> {target}"
                )),
                Occupant::Other => Err(format!(
                    "Target is not a regular file, file skipped: {name} -> {target}"
                )),
            }
        }
    }
}

/// Step 4: at most artist, title and album, trimmed and non-empty.
fn normalized(metadata: Option<&EmbeddedMetadata>) -> Option<EmbeddedMetadata> {
    let clean = |value: &Option<String>| {
        value
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let metadata = metadata?;
    let normalized = EmbeddedMetadata {
        artist: clean(&metadata.artist),
        title: clean(&metadata.title),
        album: clean(&metadata.album),
    };
    (!normalized.is_empty()).then_some(normalized)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Resolves with `files` on disk (name, occupant) and `taken` planned targets.
    fn resolve(
        strategy: ConflictStrategy,
        name: &str,
        target: &str,
        files: &[(&str, Occupant)],
        taken: &[&str],
    ) -> Result<String, String> {
        let on_disk = |candidate: &str| {
            files
                .iter()
                .find(|(file, _)| *file == candidate)
                .map_or(Occupant::Free, |(_, occupant)| *occupant)
        };
        let planned = |candidate: &str| taken.contains(&candidate);
        resolve_conflict(strategy, name, target, &planned, &on_disk)
    }

    #[test]
    fn append_numbers_until_free() {
        use ConflictStrategy::Append;
        let file = Occupant::File;
        assert_eq!(
            resolve(Append, "a.mp3", "T.mp3", &[], &[]),
            Ok("T.mp3".into())
        );
        assert_eq!(
            resolve(Append, "a.mp3", "T.mp3", &[("T.mp3", file)], &[]),
            Ok("T-1.mp3".into())
        );
        assert_eq!(
            resolve(Append, "a.mp3", "T.mp3", &[("T.mp3", file)], &["T-1.mp3"]),
            Ok("T-2.mp3".into())
        );
        // Links and folders count as taken, never as replaceable.
        assert_eq!(
            resolve(
                Append,
                "a.mp3",
                "T.mp3",
                &[("T.mp3", Occupant::Symlink), ("T-1.mp3", Occupant::Other)],
                &[]
            ),
            Ok("T-2.mp3".into())
        );
        // The source's own name is not a conflict.
        assert_eq!(
            resolve(
                Append,
                "T-1.mp3",
                "T.mp3",
                &[("T.mp3", file), ("T-1.mp3", file)],
                &[]
            ),
            Ok("T-1.mp3".into())
        );
        assert_eq!(
            resolve(Append, "n", "T", &[("T", file)], &[]),
            Ok("T-1".into())
        );
    }

    #[test]
    fn append_gives_up_after_the_bound() {
        let taken: Vec<String> = (1..=MAX_APPEND_ATTEMPTS)
            .map(|n| format!("T-{n}.mp3"))
            .collect();
        let taken: Vec<&str> = taken.iter().map(String::as_str).collect();
        assert_eq!(
            resolve(
                ConflictStrategy::Append,
                "a.mp3",
                "T.mp3",
                &[("T.mp3", Occupant::File)],
                &taken
            ),
            Err("Unresolved collision, file skipped: a.mp3".into())
        );
    }

    #[test]
    fn skip_and_overwrite() {
        use ConflictStrategy::{Overwrite, Skip};
        let collision = Err("Unresolved collision, file skipped: a.mp3".to_owned());
        assert_eq!(
            resolve(Skip, "a.mp3", "T.mp3", &[], &[]),
            Ok("T.mp3".into())
        );
        assert_eq!(
            resolve(Skip, "a.mp3", "T.mp3", &[("T.mp3", Occupant::File)], &[]),
            collision
        );
        assert_eq!(resolve(Skip, "a.mp3", "T.mp3", &[], &["T.mp3"]), collision);
        assert_eq!(
            resolve(
                Overwrite,
                "a.mp3",
                "T.mp3",
                &[("T.mp3", Occupant::File)],
                &[]
            ),
            Ok("T.mp3".into())
        );
        assert_eq!(
            resolve(Overwrite, "a.mp3", "T.mp3", &[], &["T.mp3"]),
            collision
        );
        assert_eq!(
            resolve(
                Overwrite,
                "a.mp3",
                "T.mp3",
                &[("T.mp3", Occupant::Symlink)],
                &[]
            ),
            Err("Target is a symbolic link, file skipped: a.mp3 -> T.mp3".into())
        );
        assert_eq!(
            resolve(
                Overwrite,
                "a.mp3",
                "T.mp3",
                &[("T.mp3", Occupant::Other)],
                &[]
            ),
            Err("Target is not a regular file, file skipped: a.mp3 -> T.mp3".into())
        );
    }

    #[test]
    fn metadata_is_normalized() {
        let raw = EmbeddedMetadata {
            artist: Some("  A ".to_owned()),
            title: Some("   ".to_owned()),
            album: None,
        };
        let clean = normalized(Some(&raw)).unwrap();
        assert_eq!(clean.artist.as_deref(), Some("A"));
        assert_eq!(clean.title, None);
        let blank = EmbeddedMetadata {
            artist: Some(String::new()),
            title: None,
            album: Some(" ".to_owned()),
        };
        assert_eq!(normalized(Some(&blank)), None);
        assert_eq!(normalized(None), None);
    }
}
