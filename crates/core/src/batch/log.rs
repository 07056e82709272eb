//! The export formats of a batch's entries: JSONL (what upstream `identify-batch` writes and its
//! `rename-from-log` reads), upstream's text log, and CSV for spreadsheets.
//!
//! Every function renders one entry, so that an export of any size streams: write
//! [`CSV_HEADER`] once, then the rows of each entry as it is read.

use std::fmt::Write as _;

use super::entry::{BatchEntry, EntryStatus, LogMatch};

/// One entry as a JSONL line: compact JSON in the field order of [`BatchEntry`], non-ASCII
/// kept as is, then `\n`. Newlines inside values are escaped, so an entry is always one line.
pub fn jsonl_line(entry: &BatchEntry) -> String {
    // Serialising these plain types cannot fail (no maps, no custom serialisers); should it
    // ever, an empty object is written rather than a panic.
    let mut line = serde_json::to_string(entry).unwrap_or_else(|_| String::from("{}"));
    line.push('\n');
    line
}

/// One entry in upstream's text log format:
///
/// ```text
/// file: <path>
///   duration: <seconds, 2 decimals>s   (when the file was fingerprinted)
///   status: <status>                   (when not ok)
///   note: <note>                       (when set)
///   metadata:                          (when set, then one "    key: value" line per tag)
///   error: <message>                   (for a failure, which ends the entry here)
///   1. <formatted> (score 0.90)        (one line per match)
/// <blank line>
/// ```
///
/// Control characters in values (a hostile file name's newline, a terminal escape) are
/// written escaped (`\n`, `\u{1b}`), so that every field stays on its own line.
pub fn text_entry(entry: &BatchEntry) -> String {
    let mut out = String::new();
    line(&mut out, "file: ", &entry.path);
    if let Some(duration) = entry.duration_seconds
        && entry.status != EntryStatus::Error
    {
        line(&mut out, "  duration: ", &format!("{duration:.2}s"));
    }
    if entry.status != EntryStatus::Ok {
        line(&mut out, "  status: ", entry.status.as_str());
    }
    if let Some(note) = &entry.note {
        line(&mut out, "  note: ", note);
    }
    if let Some(metadata) = entry.metadata.as_ref().filter(|m| !m.is_empty()) {
        out.push_str("  metadata:\n");
        let tags = [
            ("    artist: ", &metadata.artist),
            ("    title: ", &metadata.title),
            ("    album: ", &metadata.album),
        ];
        for (label, value) in tags {
            if let Some(value) = value {
                line(&mut out, label, value);
            }
        }
    }
    if entry.status == EntryStatus::Error {
        line(
            &mut out,
            "  error: ",
            entry.error.as_deref().unwrap_or_default(),
        );
        out.push('\n');
        return out;
    }
    for found in &entry.matches {
        let mut text = found.formatted.clone();
        if let Some(score) = found.score {
            // Writing to a String cannot fail.
            let _ = write!(text, " (score {score:.2})");
        }
        line(&mut out, &format!("  {}. ", found.rank), &text);
    }
    out.push('\n');
    out
}

/// Appends `label`, `value` with its control characters escaped, and a newline.
fn line(out: &mut String, label: &str, value: &str) {
    out.push_str(label);
    for character in value.chars() {
        match character {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // C0, DEL, C1, and the Unicode line and paragraph separators.
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('\n');
}

/// The CSV header row, with its `\r\n`. The columns: the entry's `path` and `status`; the
/// match's `rank`, `score`, `artist`, `title`, `album`, `recording_id`, `release_group_id`,
/// `release_id`; the entry's `duration_seconds`, `note`, `error`; the match's `formatted`; and
/// the entry's embedded tags `metadata_artist`, `metadata_title`, `metadata_album` (set for
/// unmatched files).
pub const CSV_HEADER: &str = "path,status,rank,score,artist,title,album,recording_id,\
release_group_id,release_id,duration_seconds,note,error,formatted,metadata_artist,\
metadata_title,metadata_album\r\n";

/// One entry as CSV rows (RFC 4180, `\r\n` line ends): one row per match, the entry's columns
/// repeated on each; an entry without matches is one row with empty match columns.
///
/// Text fields are guarded against spreadsheet formula injection (file names and tags are
/// hostile): one that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is written
/// with a leading `'`. Numbers are written as numbers (shortest exact form, empty when not
/// finite), never guarded, since they are ours.
pub fn csv_rows(entry: &BatchEntry) -> String {
    let mut out = String::new();
    if entry.matches.is_empty() {
        csv_row(&mut out, entry, None);
    }
    for found in &entry.matches {
        csv_row(&mut out, entry, Some(found));
    }
    out
}

fn csv_row(out: &mut String, entry: &BatchEntry, found: Option<&LogMatch>) {
    let text = |value: Option<&str>| Field::Text(value.unwrap_or_default().to_owned());
    let from_match = |pick: fn(&LogMatch) -> Option<&str>| text(found.and_then(pick));
    let metadata = entry.metadata.as_ref();
    let fields = [
        Field::Text(entry.path.clone()),
        Field::Text(entry.status.as_str().to_owned()),
        Field::Number(found.map(|m| f64::from(m.rank))),
        Field::Number(found.and_then(|m| m.score)),
        from_match(|m| m.artist.as_deref()),
        from_match(|m| m.title.as_deref()),
        from_match(|m| m.album.as_deref()),
        from_match(|m| m.recording_id.as_deref()),
        from_match(|m| m.release_group_id.as_deref()),
        from_match(|m| m.release_id.as_deref()),
        Field::Number(entry.duration_seconds),
        text(entry.note.as_deref()),
        text(entry.error.as_deref()),
        from_match(|m| Some(m.formatted.as_str())),
        text(metadata.and_then(|m| m.artist.as_deref())),
        text(metadata.and_then(|m| m.title.as_deref())),
        text(metadata.and_then(|m| m.album.as_deref())),
    ];
    for (index, field) in fields.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        match field {
            Field::Text(value) => push_csv_text(out, value),
            Field::Number(Some(value)) if value.is_finite() => {
                let _ = write!(out, "{value}");
            }
            Field::Number(_) => {}
        }
    }
    out.push_str("\r\n");
}

enum Field {
    Text(String),
    Number(Option<f64>),
}

/// One text field: guarded against formula injection, then quoted when it holds a comma, a
/// quote or a line break (quotes doubled).
fn push_csv_text(out: &mut String, value: &str) {
    let guard = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = value.contains([',', '"', '\r', '\n']);
    if quote {
        out.push('"');
    }
    if guard {
        out.push('\'');
    }
    for character in value.chars() {
        if character == '"' {
            out.push('"');
        }
        out.push(character);
    }
    if quote {
        out.push('"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::EmbeddedMetadata;

    fn found(rank: u32, formatted: &str, score: f64) -> LogMatch {
        LogMatch {
            rank,
            formatted: formatted.to_owned(),
            score: Some(score),
            recording_id: Some(format!("rec-{rank}")),
            artist: Some("Björk".to_owned()),
            title: Some("Jóga".to_owned()),
            album: Some("Homogenic".to_owned()),
            release_group_id: Some("rg-1".to_owned()),
            release_id: None,
        }
    }

    fn ok_entry() -> BatchEntry {
        BatchEntry {
            path: "Artists/Björk/01 Jóga.flac".to_owned(),
            duration_seconds: Some(305.456),
            error: None,
            status: EntryStatus::Ok,
            note: Some("Source: AudD.".to_owned()),
            matches: vec![
                found(1, "Björk - Jóga", 0.9),
                found(2, "Björk - Jóga (live)", 0.456),
            ],
            metadata: None,
        }
    }

    fn unmatched_entry() -> BatchEntry {
        BatchEntry {
            path: "inbox/unknown.mp3".to_owned(),
            duration_seconds: Some(12.0),
            error: None,
            status: EntryStatus::Unmatched,
            note: Some("No match.".to_owned()),
            matches: Vec::new(),
            metadata: Some(EmbeddedMetadata {
                artist: Some("Tag Artist".to_owned()),
                title: None,
                album: Some("Tag Album".to_owned()),
            }),
        }
    }

    fn error_entry() -> BatchEntry {
        BatchEntry {
            path: "broken.wav".to_owned(),
            duration_seconds: None,
            error: Some("could not decode the audio".to_owned()),
            status: EntryStatus::Error,
            note: None,
            matches: Vec::new(),
            metadata: None,
        }
    }

    #[test]
    fn jsonl_is_exact_and_round_trips() {
        let entry = ok_entry();
        let line = jsonl_line(&entry);
        assert_eq!(
            line,
            concat!(
                r#"{"path":"Artists/Björk/01 Jóga.flac","duration_seconds":305.456,"error":null,"#,
                r#""status":"ok","note":"Source: AudD.","matches":["#,
                r#"{"rank":1,"formatted":"Björk - Jóga","score":0.9,"recording_id":"rec-1","#,
                r#""artist":"Björk","title":"Jóga","album":"Homogenic","release_group_id":"rg-1","#,
                r#""release_id":null},"#,
                r#"{"rank":2,"formatted":"Björk - Jóga (live)","score":0.456,"recording_id":"rec-2","#,
                r#""artist":"Björk","title":"Jóga","album":"Homogenic","release_group_id":"rg-1","#,
                r#""release_id":null}],"metadata":null}"#,
                "\n"
            )
        );
        let back: BatchEntry = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(back, entry);

        let unmatched = unmatched_entry();
        let line = jsonl_line(&unmatched);
        assert!(
            line.ends_with(
                "\"matches\":[],\"metadata\":{\"artist\":\"Tag Artist\",\"album\":\"Tag Album\"}}\n"
            ),
            "absent tags are left out: {line}"
        );
        assert_eq!(
            serde_json::from_str::<BatchEntry>(&line).unwrap(),
            unmatched
        );
        let error = error_entry();
        assert_eq!(
            serde_json::from_str::<BatchEntry>(&jsonl_line(&error)).unwrap(),
            error
        );
    }

    #[test]
    fn jsonl_is_one_line_whatever_the_values() {
        let mut entry = error_entry();
        entry.path = "evil\nname\r\u{2028}.mp3".to_owned();
        let line = jsonl_line(&entry);
        assert_eq!(line.matches('\n').count(), 1);
        assert!(line.ends_with('\n'));
        assert_eq!(serde_json::from_str::<BatchEntry>(&line).unwrap(), entry);
    }

    #[test]
    fn text_of_an_ok_entry() {
        assert_eq!(
            text_entry(&ok_entry()),
            "file: Artists/Björk/01 Jóga.flac\n  duration: 305.46s\n  note: Source: AudD.\n  \
             1. Björk - Jóga (score 0.90)\n  2. Björk - Jóga (live) (score 0.46)\n\n"
        );
    }

    #[test]
    fn text_of_an_unmatched_entry() {
        assert_eq!(
            text_entry(&unmatched_entry()),
            "file: inbox/unknown.mp3\n  duration: 12.00s\n  status: unmatched\n  note: No match.\n  \
             metadata:\n    artist: Tag Artist\n    album: Tag Album\n\n"
        );
        let mut bare = unmatched_entry();
        bare.metadata = Some(EmbeddedMetadata::default());
        assert!(
            !text_entry(&bare).contains("metadata"),
            "an empty set is not shown"
        );
    }

    #[test]
    fn text_of_an_error_entry() {
        assert_eq!(
            text_entry(&error_entry()),
            "file: broken.wav\n  status: error\n  error: could not decode the audio\n\n"
        );
        let mut timed = error_entry();
        timed.duration_seconds = Some(3.0);
        assert!(!text_entry(&timed).contains("duration"), "no fingerprint");
    }

    #[test]
    fn text_escapes_control_characters() {
        let mut entry = error_entry();
        entry.path = "a\nfile: forged\u{1b}[31m\u{85}.mp3".to_owned();
        let text = text_entry(&entry);
        assert!(
            text.starts_with("file: a\\nfile: forged\\u{1b}[31m\\u{85}.mp3\n"),
            "{text}"
        );
        assert_eq!(text.lines().filter(|l| l.starts_with("file: ")).count(), 1);
    }

    #[test]
    fn text_without_a_score() {
        let mut entry = ok_entry();
        entry.note = None;
        entry.matches.truncate(1);
        entry.matches[0].score = None;
        assert_eq!(
            text_entry(&entry),
            "file: Artists/Björk/01 Jóga.flac\n  duration: 305.46s\n  1. Björk - Jóga\n\n"
        );
    }

    #[test]
    fn csv_header_and_rows() {
        assert_eq!(CSV_HEADER.matches(',').count(), 16);
        assert!(CSV_HEADER.starts_with("path,status,rank,score,") && CSV_HEADER.ends_with("\r\n"));
        assert_eq!(
            csv_rows(&ok_entry()),
            "Artists/Björk/01 Jóga.flac,ok,1,0.9,Björk,Jóga,Homogenic,rec-1,rg-1,,305.456,\
             Source: AudD.,,Björk - Jóga,,,\r\n\
             Artists/Björk/01 Jóga.flac,ok,2,0.456,Björk,Jóga,Homogenic,rec-2,rg-1,,305.456,\
             Source: AudD.,,Björk - Jóga (live),,,\r\n"
        );
        assert_eq!(
            csv_rows(&unmatched_entry()),
            "inbox/unknown.mp3,unmatched,,,,,,,,,12,No match.,,,Tag Artist,,Tag Album\r\n"
        );
        assert_eq!(
            csv_rows(&error_entry()),
            "broken.wav,error,,,,,,,,,,,could not decode the audio,,,,\r\n"
        );
        for rows in [csv_rows(&ok_entry()), csv_rows(&error_entry())] {
            for row in rows.split_terminator("\r\n") {
                assert_eq!(row.matches(',').count(), 16, "{row}");
            }
        }
    }

    #[test]
    fn csv_quoting() {
        let quoted = |value: &str| {
            let mut out = String::new();
            push_csv_text(&mut out, value);
            out
        };
        assert_eq!(quoted("plain"), "plain");
        assert_eq!(quoted("a, b"), "\"a, b\"");
        assert_eq!(quoted("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(quoted("two\nlines"), "\"two\nlines\"");
        assert_eq!(quoted("cr\rhere"), "\"cr\rhere\"");
        assert_eq!(quoted(""), "");
        assert_eq!(quoted("日本語 ünï"), "日本語 ünï");
    }

    #[test]
    fn csv_formula_injection_is_guarded() {
        let quoted = |value: &str| {
            let mut out = String::new();
            push_csv_text(&mut out, value);
            out
        };
        assert_eq!(quoted("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(quoted("+1"), "'+1");
        assert_eq!(quoted("-2+3"), "'-2+3");
        assert_eq!(quoted("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(quoted("\tcmd"), "'\tcmd");
        assert_eq!(quoted("\rcmd"), "\"'\rcmd\"");
        assert_eq!(quoted("a=b"), "a=b", "only a leading sign");

        let mut entry = error_entry();
        entry.path = "=cmd|' /C calc'!A0.mp3".to_owned();
        entry.error = Some("-bad".to_owned());
        let rows = csv_rows(&entry);
        assert!(rows.starts_with("'=cmd|' /C calc'!A0.mp3,error,"), "{rows}");
        assert!(rows.contains(",'-bad,"), "{rows}");
    }

    #[test]
    fn csv_numbers_are_not_guarded() {
        let mut entry = ok_entry();
        entry.matches.truncate(1);
        entry.matches[0].score = Some(-0.5);
        entry.duration_seconds = Some(f64::NAN);
        let rows = csv_rows(&entry);
        assert!(
            rows.starts_with("Artists/Björk/01 Jóga.flac,ok,1,-0.5,"),
            "{rows}"
        );
        assert!(
            rows.contains(",rg-1,,,Source"),
            "a NaN duration is empty: {rows}"
        );
    }
}
