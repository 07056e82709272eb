//! The display and rename templates: the subset of Python's `str.format` that upstream
//! templates use, applied to text values only.
//!
//! Supported: `{name}` fields (looked up by the caller; an unknown name renders empty), `{{` and
//! `}}` for literal braces, the `!s` conversion, and the string format spec
//! `[[fill]align][width][.precision][s]` with `<`, `>` or `^`. Everything Python would reject
//! for a `str` value (`=` alignment, sign, `#`, `0`, grouping, numeric types) is an error, and so
//! is what upstream templates cannot rely on: positional fields, attribute or index access,
//! `!r`/`!a`, and nested fields in a spec. Callers fall back to a default template on any error.
//!
//! Hostile templates are bounded: at most [`MAX_TEMPLATE_CHARS`] characters, widths of at most
//! [`MAX_WIDTH`], and at most [`MAX_OUTPUT_CHARS`] characters of output. Lengths and widths
//! count characters (Unicode scalar values), as Python counts code points.

/// Longest template accepted, in characters.
pub const MAX_TEMPLATE_CHARS: usize = 1024;
/// Largest width a format spec may ask for.
pub const MAX_WIDTH: usize = 1000;
/// Longest rendered text, in characters (values included).
pub const MAX_OUTPUT_CHARS: usize = 16 * 1024;

/// Why a template cannot be rendered. Positions count characters from 0.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("the template is longer than {max} characters")]
    TooLong { max: usize },
    #[error("single '{{' at character {position} (write '{{{{' for a literal brace)")]
    UnmatchedOpen { position: usize },
    #[error("single '}}' at character {position} (write '}}}}' for a literal brace)")]
    UnmatchedClose { position: usize },
    #[error("unexpected '{{' in a field name at character {position}")]
    BraceInFieldName { position: usize },
    #[error("positional field {{{field}}}: fields must be named, e.g. {{artist}}")]
    Positional { field: String },
    #[error("attribute or index access is not supported: {{{field}}}")]
    FieldAccess { field: String },
    #[error("conversion '!{conversion}' is not supported in {{{field}}} (only '!s')")]
    Conversion { field: String, conversion: String },
    #[error("nested fields are not supported in the format spec of {{{field}}}")]
    NestedSpec { field: String },
    #[error("invalid format spec '{spec}' for {{{field}}}")]
    InvalidSpec { field: String, spec: String },
    #[error("format spec '{spec}' of {{{field}}} is not valid for text: {reason}")]
    NotForText {
        field: String,
        spec: String,
        reason: String,
    },
    #[error("the width in the format spec of {{{field}}} is larger than {max}")]
    WidthTooLarge { field: String, max: usize },
    #[error("the rendered text is longer than {max} characters")]
    OutputTooLong { max: usize },
}

/// Renders `template`, asking `lookup` for each field's value; `None` renders as empty text.
pub fn render(
    template: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, TemplateError> {
    let pieces = parse(template)?;
    let mut out = String::new();
    let mut out_chars = 0usize;
    let mut reserve = |added: usize| -> Result<(), TemplateError> {
        out_chars = out_chars.saturating_add(added);
        if out_chars > MAX_OUTPUT_CHARS {
            return Err(TemplateError::OutputTooLong {
                max: MAX_OUTPUT_CHARS,
            });
        }
        Ok(())
    };
    for piece in &pieces {
        match piece {
            Piece::Text(text) => {
                reserve(text.chars().count())?;
                out.push_str(text);
            }
            Piece::Field { name, spec } => {
                let value = lookup(name).unwrap_or_default();
                // Only look at as many characters as can be kept: a huge value must not cost
                // more than the output bound.
                let keep = spec
                    .precision
                    .unwrap_or(usize::MAX)
                    .min(MAX_OUTPUT_CHARS + 1);
                let kept: String = value.chars().take(keep).collect();
                let kept_chars = kept.chars().count();
                let padding = spec.width.saturating_sub(kept_chars);
                reserve(kept_chars + padding)?;
                let (left, right) = match spec.align {
                    Align::Left => (0, padding),
                    Align::Right => (padding, 0),
                    // Python puts the odd character of padding on the right.
                    Align::Center => (padding / 2, padding - padding / 2),
                };
                out.extend(std::iter::repeat_n(spec.fill, left));
                out.push_str(&kept);
                out.extend(std::iter::repeat_n(spec.fill, right));
            }
        }
    }
    Ok(out)
}

/// The field names of `template`, in order of first appearance, each once. Fails exactly when
/// [`render`] would fail whatever the values (only [`TemplateError::OutputTooLong`] depends on
/// them).
pub fn placeholders(template: &str) -> Result<Vec<String>, TemplateError> {
    let mut names: Vec<String> = Vec::new();
    for piece in parse(template)? {
        if let Piece::Field { name, .. } = piece
            && !names.contains(&name)
        {
            names.push(name);
        }
    }
    Ok(names)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Right,
    Center,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Spec {
    fill: char,
    align: Align,
    width: usize,
    precision: Option<usize>,
}

impl Default for Spec {
    fn default() -> Self {
        // Text is left-aligned by default, as in Python.
        Self {
            fill: ' ',
            align: Align::Left,
            width: 0,
            precision: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field { name: String, spec: Spec },
}

fn parse(template: &str) -> Result<Vec<Piece>, TemplateError> {
    // Checked before collecting, so a huge template costs one bounded pass.
    if template.chars().nth(MAX_TEMPLATE_CHARS).is_some() {
        return Err(TemplateError::TooLong {
            max: MAX_TEMPLATE_CHARS,
        });
    }
    let chars: Vec<char> = template.chars().collect();
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        match c {
            '{' if chars.get(i + 1) == Some(&'{') => {
                literal.push('{');
                i += 2;
            }
            '}' if chars.get(i + 1) == Some(&'}') => {
                literal.push('}');
                i += 2;
            }
            '}' => return Err(TemplateError::UnmatchedClose { position: i }),
            '{' => {
                if !literal.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut literal)));
                }
                let (piece, next) = parse_field(&chars, i)?;
                pieces.push(piece);
                i = next;
            }
            other => {
                literal.push(other);
                i += 1;
            }
        }
    }
    if !literal.is_empty() {
        pieces.push(Piece::Text(literal));
    }
    Ok(pieces)
}

/// Parses the field opening at `open`; returns it and the index after its closing brace.
fn parse_field(chars: &[char], open: usize) -> Result<(Piece, usize), TemplateError> {
    let start = open + 1;
    let mut i = start;
    loop {
        match chars.get(i) {
            None => return Err(TemplateError::UnmatchedOpen { position: open }),
            Some('{') => return Err(TemplateError::BraceInFieldName { position: i }),
            Some('}' | '!' | ':') => break,
            Some(_) => i += 1,
        }
    }
    let name: String = chars[start..i].iter().collect();
    if name.is_empty() || name.chars().all(|c| c.is_ascii_digit()) {
        return Err(TemplateError::Positional { field: name });
    }
    if name.contains(['.', '[']) {
        return Err(TemplateError::FieldAccess { field: name });
    }

    if chars.get(i) == Some(&'!') {
        let conversion_start = i + 1;
        i = conversion_start;
        while let Some(&c) = chars.get(i) {
            if c == ':' || c == '}' {
                break;
            }
            i += 1;
        }
        let conversion: String = chars[conversion_start..i].iter().collect();
        if conversion != "s" {
            return Err(TemplateError::Conversion {
                field: name,
                conversion,
            });
        }
        if i >= chars.len() {
            return Err(TemplateError::UnmatchedOpen { position: open });
        }
    }

    let mut spec = Spec::default();
    if chars.get(i) == Some(&':') {
        let spec_start = i + 1;
        i = spec_start;
        loop {
            match chars.get(i) {
                None => return Err(TemplateError::UnmatchedOpen { position: open }),
                Some('{') => return Err(TemplateError::NestedSpec { field: name }),
                Some('}') => break,
                Some(_) => i += 1,
            }
        }
        spec = parse_spec(&chars[spec_start..i], &name)?;
    }
    // `chars[i]` is the closing brace here.
    Ok((Piece::Field { name, spec }, i + 1))
}

/// Parses `[[fill]align][sign][z][#][0][width][grouping][.precision][type]` the way Python does,
/// then rejects what a `str` value does not accept.
fn parse_spec(text: &[char], field: &str) -> Result<Spec, TemplateError> {
    let spec_text = || text.iter().collect::<String>();
    let not_for_text = |reason: String| TemplateError::NotForText {
        field: field.to_owned(),
        spec: spec_text(),
        reason,
    };
    let align_of = |c: Option<&char>| match c {
        Some('<') => Some(Some(Align::Left)),
        Some('>') => Some(Some(Align::Right)),
        Some('^') => Some(Some(Align::Center)),
        // `=` is an alignment to Python's parser, but an error for text.
        Some('=') => Some(None),
        _ => None,
    };

    let mut spec = Spec::default();
    let mut i = 0;
    let mut align = None;
    if let Some(second) = align_of(text.get(1)) {
        spec.fill = text[0];
        align = Some(second);
        i = 2;
    } else if let Some(first) = align_of(text.first()) {
        align = Some(first);
        i = 1;
    }
    match align {
        Some(Some(align)) => spec.align = align,
        Some(None) => return Err(not_for_text("'=' alignment".to_owned())),
        None => {}
    }

    if let Some(&c) = text.get(i) {
        let reason = match c {
            '+' | '-' | ' ' => Some("a sign"),
            'z' => Some("'z' (negative zero)"),
            '#' => Some("'#' (alternate form)"),
            '0' => Some("'0' (zero padding)"),
            _ => None,
        };
        if let Some(reason) = reason {
            return Err(not_for_text(reason.to_owned()));
        }
    }

    let mut width = 0usize;
    while let Some(digit) = text.get(i).and_then(|c| c.to_digit(10)) {
        // Saturates so that a long run of digits cannot overflow; anything past the bound is
        // rejected below anyway.
        width = width.saturating_mul(10).saturating_add(digit as usize);
        i += 1;
    }
    if width > MAX_WIDTH {
        return Err(TemplateError::WidthTooLarge {
            field: field.to_owned(),
            max: MAX_WIDTH,
        });
    }
    spec.width = width;

    if let Some(&c @ (',' | '_')) = text.get(i) {
        return Err(not_for_text(format!("'{c}' (grouping)")));
    }

    if text.get(i) == Some(&'.') {
        i += 1;
        let digits_start = i;
        let mut precision = 0usize;
        while let Some(digit) = text.get(i).and_then(|c| c.to_digit(10)) {
            // A saturated precision keeps the whole value, which is what it asks for.
            precision = precision.saturating_mul(10).saturating_add(digit as usize);
            i += 1;
        }
        if i == digits_start {
            return Err(TemplateError::InvalidSpec {
                field: field.to_owned(),
                spec: spec_text(),
            });
        }
        spec.precision = Some(precision);
    }

    match &text[i..] {
        [] | ['s'] => Ok(spec),
        [code] => Err(not_for_text(format!("format code '{code}'"))),
        _ => Err(TemplateError::InvalidSpec {
            field: field.to_owned(),
            spec: spec_text(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(name: &str) -> Option<String> {
        match name {
            "artist" => Some("Daft Punk".to_owned()),
            "title" => Some("One More Time".to_owned()),
            "score" => Some("0.90".to_owned()),
            "empty" => Some(String::new()),
            "accent" => Some("Béla Bartók".to_owned()),
            "emoji" => Some("🎵é".to_owned()),
            _ => None,
        }
    }

    fn ok(template: &str) -> String {
        render(template, &values).unwrap()
    }

    fn err(template: &str) -> TemplateError {
        render(template, &values).unwrap_err()
    }

    #[test]
    fn plain_fields_and_literals() {
        assert_eq!(ok("{artist} - {title}"), "Daft Punk - One More Time");
        assert_eq!(ok(""), "");
        assert_eq!(ok("no fields"), "no fields");
        assert_eq!(ok("{score}"), "0.90");
        assert_eq!(ok("{artist}{title}"), "Daft PunkOne More Time");
    }

    #[test]
    fn unknown_and_empty_fields_render_empty() {
        assert_eq!(ok("[{nope}]"), "[]");
        assert_eq!(ok("[{empty}]"), "[]");
        assert_eq!(ok("[{nope:>3}]"), "[   ]");
        // Python takes any text without `.`, `[`, `!`, `:` or braces as a keyword.
        assert_eq!(ok("[{ artist}]"), "[]");
        assert_eq!(ok("[{-1}]"), "[]");
    }

    #[test]
    fn doubled_braces_are_literal() {
        assert_eq!(ok("{{artist}}"), "{artist}");
        assert_eq!(ok("{{{artist}}}"), "{Daft Punk}");
        assert_eq!(ok("}}{{"), "}{");
    }

    #[test]
    fn lone_braces_are_errors() {
        assert_eq!(err("{"), TemplateError::UnmatchedOpen { position: 0 });
        assert_eq!(err("a}"), TemplateError::UnmatchedClose { position: 1 });
        assert_eq!(err("{artist"), TemplateError::UnmatchedOpen { position: 0 });
        assert_eq!(
            err("{artist}}"),
            TemplateError::UnmatchedClose { position: 8 }
        );
        assert_eq!(
            err("{a{b}}"),
            TemplateError::BraceInFieldName { position: 2 }
        );
        assert_eq!(
            err("{artist:<5"),
            TemplateError::UnmatchedOpen { position: 0 }
        );
        assert_eq!(
            err("{artist!s"),
            TemplateError::UnmatchedOpen { position: 0 }
        );
    }

    #[test]
    fn positional_and_access_are_errors() {
        assert!(matches!(err("{}"), TemplateError::Positional { .. }));
        assert!(matches!(err("{0}"), TemplateError::Positional { .. }));
        assert!(matches!(err("{12:>3}"), TemplateError::Positional { .. }));
        assert!(matches!(err("{:>3}"), TemplateError::Positional { .. }));
        assert!(matches!(err("{a.b}"), TemplateError::FieldAccess { .. }));
        assert!(matches!(err("{a[0]}"), TemplateError::FieldAccess { .. }));
        assert!(matches!(err("{a[}]}"), TemplateError::FieldAccess { .. }));
    }

    #[test]
    fn conversions() {
        assert_eq!(ok("{artist!s}"), "Daft Punk");
        assert_eq!(ok("{artist!s:>10}"), " Daft Punk");
        for template in [
            "{artist!r}",
            "{artist!a}",
            "{artist!}",
            "{artist!ss}",
            "{a!:}",
        ] {
            assert!(
                matches!(err(template), TemplateError::Conversion { .. }),
                "{template}"
            );
        }
    }

    #[test]
    fn width_and_alignment() {
        assert_eq!(ok("[{title:20}]"), "[One More Time       ]");
        assert_eq!(ok("[{title:<20}]"), "[One More Time       ]");
        assert_eq!(ok("[{title:>20}]"), "[       One More Time]");
        assert_eq!(ok("[{title:^20}]"), "[   One More Time    ]");
        assert_eq!(ok("[{title:*^16}]"), "[*One More Time**]");
        assert_eq!(ok("[{title:-<15}]"), "[One More Time--]");
        assert_eq!(ok("[{title:<<15}]"), "[One More Time<<]");
        assert_eq!(ok("[{title:5}]"), "[One More Time]");
        assert_eq!(ok("[{title:}]"), "[One More Time]");
        assert_eq!(ok("[{title:s}]"), "[One More Time]");
        assert_eq!(ok("[{title:>15s}]"), "[  One More Time]");
        // A fill may be any character but a brace.
        assert_eq!(ok("[{title:é>15}]"), "[ééOne More Time]");
        assert_eq!(ok("[{title::>15}]"), "[::One More Time]");
    }

    #[test]
    fn precision_truncates() {
        assert_eq!(ok("{title:.3}"), "One");
        assert_eq!(ok("{title:.0}"), "");
        assert_eq!(ok("[{title:>5.3}]"), "[  One]");
        assert_eq!(ok("{title:.100}"), "One More Time");
        assert_eq!(ok("{title:.99999999999999999999999999}"), "One More Time");
        assert!(matches!(
            err("{title:.}"),
            TemplateError::InvalidSpec { .. }
        ));
        assert!(matches!(
            err("{title:5.}"),
            TemplateError::InvalidSpec { .. }
        ));
    }

    #[test]
    fn unicode_counts_characters() {
        assert_eq!(ok("{accent:.4}"), "Béla");
        assert_eq!(ok("[{emoji:>4}]"), "[  🎵é]");
        assert_eq!(ok("[{emoji:.1}]"), "[🎵]");
        assert_eq!(ok("[{emoji:🎶^4}]"), "[🎶🎵é🎶]");
    }

    #[test]
    fn specs_not_valid_for_text() {
        for template in [
            "{title:=10}",
            "{title:*=10}",
            "{title:+}",
            "{title:-5}",
            "{title: 5}",
            "{title:#}",
            "{title:05}",
            "{title:<05}",
            "{title:0}",
            "{title:,}",
            "{title:10_}",
            "{title:d}",
            "{title:.2f}",
            "{title:%}",
            "{title:x}",
            "{title:z}",
            "{title:z5}",
        ] {
            assert!(
                matches!(err(template), TemplateError::NotForText { .. }),
                "{template}: {:?}",
                render(template, &values)
            );
        }
        for template in ["{title:ss}", "{title:5sx}", "{title:abc}", "{title:.2.3}"] {
            assert!(
                matches!(err(template), TemplateError::InvalidSpec { .. }),
                "{template}"
            );
        }
    }

    #[test]
    fn nested_spec_fields_are_errors() {
        assert!(matches!(
            err("{title:{w}}"),
            TemplateError::NestedSpec { .. }
        ));
        assert!(matches!(
            err("{title:>{w}}"),
            TemplateError::NestedSpec { .. }
        ));
    }

    #[test]
    fn bounds() {
        let long = "a".repeat(MAX_TEMPLATE_CHARS);
        assert_eq!(ok(&long), long);
        let too_long = "a".repeat(MAX_TEMPLATE_CHARS + 1);
        assert_eq!(
            err(&too_long),
            TemplateError::TooLong {
                max: MAX_TEMPLATE_CHARS
            }
        );
        // Characters, not bytes.
        let accents = "é".repeat(MAX_TEMPLATE_CHARS);
        assert_eq!(ok(&accents), accents);

        assert_eq!(ok("{title:1000}").chars().count(), 1000);
        assert!(matches!(
            err("{title:1001}"),
            TemplateError::WidthTooLarge { .. }
        ));
        assert!(matches!(
            err("{title:99999999999999999999999999999}"),
            TemplateError::WidthTooLarge { .. }
        ));
        // Many wide fields: bounded output, not gigabytes.
        let wide = "{title:1000}".repeat(80);
        assert_eq!(
            err(&wide),
            TemplateError::OutputTooLong {
                max: MAX_OUTPUT_CHARS
            }
        );
        let huge = |_: &str| Some("x".repeat(10 * MAX_OUTPUT_CHARS));
        assert!(matches!(
            render("{a}", &huge),
            Err(TemplateError::OutputTooLong { .. })
        ));
        assert_eq!(render("{a:.5}", &huge).unwrap(), "xxxxx");
    }

    #[test]
    fn placeholders_in_order_without_duplicates() {
        assert_eq!(
            placeholders("{title} {artist:>3} {title} {{x}} {album!s}").unwrap(),
            vec!["title", "artist", "album"]
        );
        assert!(placeholders("plain").unwrap().is_empty());
        assert!(placeholders("{0}").is_err());
        assert!(placeholders("{title:d}").is_err());
        assert!(placeholders("{").is_err());
    }

    /// A small deterministic generator: tests must not depend on a random crate.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn hostile_templates_never_panic() {
        const ALPHABET: &[char] = &[
            '{', '}', ':', '!', '.', '[', ']', '<', '>', '^', '=', '0', '1', '9', 's', 'r', 'd',
            ',', '_', '#', '+', '-', ' ', 'a', 'é', '🎵', '\0', '\n', 'z', 'x',
        ];
        const FIELDS: &[&str] = &[
            "{artist}",
            "{title:>9}",
            "{a:.3}",
            "{{",
            "}}",
            "{x!s}",
            "{title:*^1000}",
        ];
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let lookup = |name: &str| Some(name.repeat(3));
        for _ in 0..20_000 {
            let len = (rng.next() % 40) as usize;
            let mut template = String::new();
            for _ in 0..len {
                if rng.next().is_multiple_of(4) {
                    template.push_str(FIELDS[(rng.next() % FIELDS.len() as u64) as usize]);
                } else {
                    template.push(ALPHABET[(rng.next() % ALPHABET.len() as u64) as usize]);
                }
            }
            let rendered = render(&template, &lookup);
            let names = placeholders(&template);
            // Both parse the same way: only the output bound depends on values.
            match (&rendered, &names) {
                (Ok(_) | Err(TemplateError::OutputTooLong { .. }), Ok(_)) => {}
                (Err(a), Err(b)) => assert_eq!(a, b, "{template:?}"),
                _ => panic!("render and placeholders disagree on {template:?}"),
            }
            if let Ok(text) = rendered {
                assert!(text.chars().count() <= MAX_OUTPUT_CHARS);
            }
        }
    }
}
