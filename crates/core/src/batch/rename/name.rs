//! Target file names: template values of a proposal, sanitising, extensions and conflict
//! suffixes. Pure string work, no file system.

use super::{DEFAULT_TEMPLATE, MAX_NAME_BYTES, Proposal};
use crate::batch::format;

/// The placeholders a rename template may use, sorted.
pub(super) const SUPPORTED_FIELDS: [&str; 9] = [
    "album",
    "artist",
    "ext",
    "recording_id",
    "release_group_id",
    "release_id",
    "score",
    "stem",
    "title",
];

/// Values longer than this cannot matter to a name of at most [`MAX_NAME_BYTES`]; cutting them
/// keeps the work per entry bounded whatever a stored log holds.
const MAX_VALUE_CHARS: usize = 1024;

/// Splits a file name into stem and suffix the way Python's `PurePath` does: the suffix starts
/// at the last dot, unless that dot is the first or the last character.
pub(super) fn split_ext(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(dot) if dot > 0 && dot + 1 < name.len() => name.split_at(dot),
        _ => (name, ""),
    }
}

/// Replaces characters that are unsafe in file names (`< > : " / \ | ? *` and control
/// characters) with `_`, then trims whitespace and leading or trailing dots and spaces.
pub(super) fn sanitize(rendered: &str) -> String {
    let replaced: String = rendered
        .chars()
        .map(|c| {
            if matches!(c, '<' | '>' | ':' | '"' | '/' | '\\' | '|' | '?' | '*')
                || u32::from(c) < 0x20
            {
                '_'
            } else {
                c
            }
        })
        .collect();
    replaced
        .trim()
        .trim_matches(|c| c == '.' || c == ' ')
        .to_owned()
}

/// The target file name for a rendered template and the source's file name: sanitised, the
/// source stem when nothing is left, the source extension appended unless already there (any
/// case), and at most [`MAX_NAME_BYTES`] bytes.
pub(super) fn target_name(rendered: &str, source_name: &str) -> String {
    let (source_stem, ext) = split_ext(source_name);
    let mut name = sanitize(rendered);
    if name.is_empty() {
        source_stem.clone_into(&mut name);
    }
    if !ext.is_empty()
        && let Some(stem) = strip_suffix_ignore_case(&name, ext)
    {
        let (stem, tail) = name.split_at(stem.len());
        return fit_name(stem, tail);
    }
    fit_name(&name, ext)
}

/// `<stem>-<n><ext>` of a target name, cut to fit like [`target_name`].
pub(super) fn numbered(name: &str, n: usize) -> String {
    let (stem, ext) = split_ext(name);
    fit_name(stem, &format!("-{n}{ext}"))
}

/// `stem` followed by `tail`, with `stem` cut (on a character boundary) so that the whole fits
/// in [`MAX_NAME_BYTES`].
pub(super) fn fit_name(stem: &str, tail: &str) -> String {
    let room = MAX_NAME_BYTES.saturating_sub(tail.len());
    let mut cut = stem.len().min(room);
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut name = String::with_capacity(cut + tail.len());
    name.push_str(&stem[..cut]);
    name.push_str(tail);
    name
}

/// The part of `name` before `suffix` when `name` ends with it, ignoring case.
fn strip_suffix_ignore_case<'a>(name: &'a str, suffix: &str) -> Option<&'a str> {
    let count = suffix.chars().count();
    let start = match count.checked_sub(1) {
        Some(last) => name.char_indices().rev().nth(last)?.0,
        None => name.len(),
    };
    let (head, tail) = name.split_at(start);
    (tail.to_lowercase() == suffix.to_lowercase()).then_some(head)
}

fn capped(value: &str) -> String {
    value.chars().take(MAX_VALUE_CHARS).collect()
}

fn or_default(value: Option<&String>, default: &str) -> String {
    match value {
        Some(v) if !v.is_empty() => capped(v),
        _ => default.to_owned(),
    }
}

/// A template value of a proposal for a source file; `None` for unknown placeholders.
fn value(proposal: &Proposal, source_name: &str, field: &str) -> Option<String> {
    let optional = |v: Option<&String>| v.map(|v| capped(v)).unwrap_or_default();
    Some(match field {
        "artist" => or_default(proposal.artist.as_ref(), "Unknown artist"),
        "title" => or_default(proposal.title.as_ref(), "Unknown title"),
        "album" => optional(proposal.album.as_ref()),
        "score" => proposal.score.map(score_text).unwrap_or_default(),
        "recording_id" => optional(proposal.recording_id.as_ref()),
        "release_group_id" => optional(proposal.release_group_id.as_ref()),
        "release_id" => optional(proposal.release_id.as_ref()),
        "ext" => split_ext(source_name).1.to_owned(),
        "stem" => capped(split_ext(source_name).0),
        _ => return None,
    })
}

/// A score as Python's `f"{score:.2f}"` writes it.
fn score_text(score: f64) -> String {
    if score.is_nan() {
        "nan".to_owned()
    } else {
        format!("{score:.2}")
    }
}

/// `<artist> - <title>` with their defaults, without the template engine (so it cannot fail).
pub(super) fn default_text(artist: Option<&String>, title: Option<&String>) -> String {
    format!(
        "{} - {}",
        or_default(artist, "Unknown artist"),
        or_default(title, "Unknown title")
    )
}

/// The template rendered for a proposal; when the template cannot be rendered, the proposal's
/// `formatted` text, else `{artist} - {title}`.
pub(super) fn render_name(template: &str, proposal: &Proposal, source_name: &str) -> String {
    let lookup = |field: &str| value(proposal, source_name, field);
    format::render(template, &lookup)
        .or_else(|_| {
            if proposal.formatted.is_empty() {
                format::render(DEFAULT_TEMPLATE, &lookup)
            } else {
                Ok(capped(&proposal.formatted))
            }
        })
        .unwrap_or_else(|_| default_text(proposal.artist.as_ref(), proposal.title.as_ref()))
}

/// The supported placeholders of `template`, sorted; none when it cannot be parsed (it then
/// renders from the fallbacks, which need nothing).
pub(super) fn required_fields(template: &str) -> Vec<&'static str> {
    let used = format::placeholders(template).unwrap_or_default();
    SUPPORTED_FIELDS
        .into_iter()
        .filter(|field| used.iter().any(|u| u == field))
        .collect()
}

/// The fields of `required` that a proposal has no value for (null, or blank once trimmed).
pub(super) fn missing_fields(
    required: &[&'static str],
    proposal: &Proposal,
    source_name: &str,
) -> Vec<&'static str> {
    let blank = |v: Option<&String>| v.is_none_or(|v| v.trim().is_empty());
    let (stem, ext) = split_ext(source_name);
    required
        .iter()
        .copied()
        .filter(|field| match *field {
            "artist" => blank(proposal.artist.as_ref()),
            "title" => blank(proposal.title.as_ref()),
            "album" => blank(proposal.album.as_ref()),
            "score" => proposal.score.is_none(),
            "recording_id" => blank(proposal.recording_id.as_ref()),
            "release_group_id" => blank(proposal.release_group_id.as_ref()),
            "release_id" => blank(proposal.release_id.as_ref()),
            "ext" => ext.trim().is_empty(),
            "stem" => stem.trim().is_empty(),
            _ => false,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proposal() -> Proposal {
        Proposal {
            rank: Some(1),
            formatted: "Formatted - Name".to_owned(),
            score: Some(0.905),
            recording_id: Some("rec-1".to_owned()),
            artist: Some("Daft Punk".to_owned()),
            title: Some("One More Time".to_owned()),
            album: None,
            release_group_id: Some("rg-1".to_owned()),
            release_id: None,
            source: None,
        }
    }

    #[test]
    fn split_ext_follows_python() {
        assert_eq!(split_ext("a.mp3"), ("a", ".mp3"));
        assert_eq!(split_ext("a.tar.gz"), ("a.tar", ".gz"));
        assert_eq!(split_ext(".mp3"), (".mp3", ""));
        assert_eq!(split_ext("a."), ("a.", ""));
        assert_eq!(split_ext("noext"), ("noext", ""));
        assert_eq!(split_ext(""), ("", ""));
        assert_eq!(split_ext("é.flac"), ("é", ".flac"));
    }

    #[test]
    fn sanitize_replaces_and_trims() {
        assert_eq!(sanitize("AC/DC: Back in Black?"), "AC_DC_ Back in Black_");
        assert_eq!(sanitize(r#"a<b>c"d\e|f*g"#), "a_b_c_d_e_f_g");
        assert_eq!(sanitize("tab\there\nnul\0"), "tab_here_nul_");
        assert_eq!(sanitize("  . .name. .  "), "name");
        assert_eq!(sanitize("..."), "");
        assert_eq!(sanitize("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(sanitize("\u{7f}del"), "\u{7f}del");
        assert_eq!(sanitize("Béla — Ünïcode"), "Béla — Ünïcode");
    }

    #[test]
    fn target_name_rules() {
        assert_eq!(
            target_name("Daft Punk - One", "x.mp3"),
            "Daft Punk - One.mp3"
        );
        // Already ends with the extension, in any case.
        assert_eq!(target_name("Song.MP3", "x.mp3"), "Song.MP3");
        assert_eq!(target_name("Song.mp3", "x.mp3"), "Song.mp3");
        // Nothing left: the source stem.
        assert_eq!(target_name(" ... ", "track01.flac"), "track01.flac");
        assert_eq!(target_name("", "track01.flac"), "track01.flac");
        // No extension on the source: nothing appended.
        assert_eq!(target_name("Song", "noext"), "Song");
        assert_eq!(target_name("a/b", "x.ogg"), "a_b.ogg");
        assert_eq!(target_name("..", "x.ogg"), "x.ogg");
    }

    #[test]
    fn long_names_are_cut_before_the_extension() {
        let name = target_name(&"é".repeat(400), "x.flac");
        assert!(name.len() <= MAX_NAME_BYTES, "{}", name.len());
        assert!(name.ends_with("é.flac"));
        let name = target_name(&format!("{}.FLAC", "a".repeat(300)), "x.flac");
        assert_eq!(name.len(), MAX_NAME_BYTES);
        assert!(name.ends_with("a.FLAC"));
        let name = numbered(&format!("{}.mp3", "b".repeat(251)), 12);
        assert_eq!(name.len(), MAX_NAME_BYTES);
        assert!(name.ends_with("b-12.mp3"));
    }

    #[test]
    fn numbered_names() {
        assert_eq!(numbered("Song.mp3", 1), "Song-1.mp3");
        assert_eq!(numbered("Song", 2), "Song-2");
        assert_eq!(numbered("a.b.mp3", 3), "a.b-3.mp3");
    }

    #[test]
    fn values_and_defaults() {
        let mut p = proposal();
        let render = |template: &str, p: &Proposal| render_name(template, p, "track.mp3");
        assert_eq!(
            render("{artist}|{title}|{album}|{score}", &p),
            "Daft Punk|One More Time||0.91"
        );
        assert_eq!(
            render("{recording_id}|{release_group_id}|{release_id}", &p),
            "rec-1|rg-1|"
        );
        assert_eq!(render("{stem}{ext}|{nope}", &p), "track.mp3|");
        p.artist = Some(String::new());
        p.title = None;
        p.score = None;
        assert_eq!(
            render("{artist} - {title} ({score})", &p),
            "Unknown artist - Unknown title ()"
        );
    }

    #[test]
    fn render_falls_back() {
        let mut p = proposal();
        assert_eq!(render_name("{0}", &p, "t.mp3"), "Formatted - Name");
        assert_eq!(render_name("{artist:d}", &p, "t.mp3"), "Formatted - Name");
        p.formatted.clear();
        assert_eq!(render_name("{", &p, "t.mp3"), "Daft Punk - One More Time");
        // Values too long for the engine still give a (bounded) name.
        p.artist = Some("a".repeat(100_000));
        let name = render_name(
            "{artist}{artist}{artist}{artist}{artist}{artist}{artist}{artist}{artist}{artist}{artist}{artist}{artist}{artist}{artist}{artist}{artist}",
            &p,
            "t.mp3",
        );
        assert!(name.len() <= 3 * MAX_VALUE_CHARS);
    }

    #[test]
    fn required_and_missing_fields() {
        assert_eq!(
            required_fields("{title} {artist} {album} {other} {ext}"),
            vec!["album", "artist", "ext", "title"]
        );
        assert!(required_fields("{").is_empty());
        let mut p = proposal();
        p.title = Some("   ".to_owned());
        let required = required_fields("{title}{album}{score}{artist}{release_id}{stem}{ext}");
        assert_eq!(
            missing_fields(&required, &p, "noext"),
            vec!["album", "ext", "release_id", "title"]
        );
        p.score = None;
        assert!(missing_fields(&required, &p, "a.mp3").contains(&"score"));
    }
}
