//! Text from disk made safe for the report's markdown: flag values, failure reasons, paths
//! and configuration names may hold anything (`<img src=x onerror=...>`, `[a](javascript:..)`,
//! `a|b`, a line break), and a markdown viewer renders raw HTML and links. Everything that
//! did not come from ddim-sweep's own text goes through [`text`] before it lands in a page.

/// `s` as markdown text (inline: a table cell, after a list item's start) that renders as
/// written: every character that gives inline markdown or HTML a meaning (code, emphasis,
/// links, raw HTML and entities, strikethrough, a table's `|`) is backslash-escaped, and a
/// line break or another control character is written as its code (`\u{a}`), so that it can
/// neither end a table row nor start a block. Distinct inputs give distinct outputs (the
/// backslash itself is escaped).
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '&' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            // `\u{a}`: a backslash before a letter is shown as written; an escaped input
            // backslash is `\\`, so no other text gives the same markdown.
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// `s` as inline code when it holds nothing a code span cannot show (a backtick, a line
/// break), else as escaped text: run ids and paths read best as code.
pub fn code(s: &str) -> String {
    if s.contains('`') || s.chars().any(|c| c.is_control()) {
        text(s)
    } else {
        format!("`{s}`")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_markdown_and_html_read() {
        assert_eq!(text("a|b"), "a\\|b");
        assert_eq!(text("<img src=x>"), "\\<img src=x\\>");
        assert_eq!(text("**b** [l](j)"), "\\*\\*b\\*\\* \\[l\\](j)");
        assert_eq!(text("a\nb"), "a\\u{a}b");
        assert_ne!(text("a\\u{a}b"), text("a\nb"));
        assert_eq!(text("plain 0.001 mae"), "plain 0.001 mae");
        assert_ne!(text("a\\nb"), text("a\nb"));
        assert_eq!(code("ab12"), "`ab12`");
        assert_eq!(code("a`b"), "a\\`b");
    }
}
