//! Turning schema text into Markdown that renders as written: descriptions, rules and values come
//! from doc comments and upstream Kubernetes types, and contain `|`, `<quantity>`, backticks and
//! line breaks that would otherwise split a table row, vanish as HTML tags or end a code span.

/// The text on one line: every line break with the indentation around it becomes one space, so a
/// multi-paragraph description or a multi-line CEL rule fits a table cell.
pub fn one_line(text: &str) -> String {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

/// Schema prose as inline Markdown, on one line. Its own Markdown (code spans, links, emphasis)
/// is kept, since doc comments are written in Markdown; a `<` outside code spans becomes `&lt;`
/// so `<key,value,effect>` shows instead of being swallowed as an HTML tag.
pub fn prose(text: &str) -> String {
    let text = one_line(text);
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(start) = rest.find(['`', '<']) {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        if rest.starts_with('<') {
            out.push_str("&lt;");
            rest = &rest[1..];
            continue;
        }
        let ticks = rest.len() - rest.trim_start_matches('`').len();
        match closing_ticks(&rest[ticks..], ticks) {
            // A code span: copied as is, `<` included.
            Some(end) => {
                out.push_str(&rest[..ticks + end + ticks]);
                rest = &rest[ticks + end + ticks..];
            }
            // Backticks without a partner are literal text.
            None => {
                out.push_str(&rest[..ticks]);
                rest = &rest[ticks..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Offset in `text` of the next run of exactly `n` backticks (what closes a code span opened by
/// `n` backticks, per CommonMark).
fn closing_ticks(text: &str, n: usize) -> Option<usize> {
    let mut offset = 0;
    while let Some(found) = text[offset..].find('`') {
        let start = offset + found;
        let run = text[start..].len() - text[start..].trim_start_matches('`').len();
        if run == n {
            return Some(start);
        }
        offset = start + run;
    }
    None
}

/// `value` as a code span on one line, fenced with more backticks than it contains.
pub fn code(value: &str) -> String {
    let value = one_line(value);
    let longest = value.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if value.starts_with('`') || value.ends_with('`') { " " } else { "" };
    format!("{fence}{pad}{value}{pad}{fence}")
}

/// A JSON value (a default, an enum member, an example) as compact JSON in a code span: strings
/// keep their quotes, so `"True"` and `true` stay apart.
pub fn json(value: &serde_json::Value) -> String {
    code(&value.to_string())
}

/// A number as the schema means it: `1`, not `1.0`.
pub fn number(value: f64) -> String {
    format!("{value}")
}

/// Inline Markdown made safe for a table cell: a `|` would end the cell, also inside code spans,
/// where GitHub-flavoured Markdown reads `\|` as a pipe.
pub fn cell(markdown: &str) -> String {
    markdown.replace('|', "\\|")
}
