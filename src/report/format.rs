//! Formatting shared by the report's sections: numbers (`sig7`), CSV cells, and the one
//! markdown-table builder ([`Table`]) every table of the page is made with.

/// `x` with 7 significant digits (`0.1714205`, `0.09341860`, `12.34568`); from 1e7 on in
/// scientific notation (`1.000000e308`, never a number of 309 digits).
pub fn sig7(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let mag = x.abs().log10().floor() as i32;
    if mag >= 7 {
        return format!("{x:.6e}");
    }
    let decimals = (6 - mag).max(0) as usize;
    format!("{x:.decimals$}")
}

/// `x` with 6 decimals (`0.093419`); from 1e7 on in scientific notation like [`sig7`].
pub fn fixed6(x: f64) -> String {
    if x.is_finite() && x.abs() >= 1e7 {
        return format!("{x:.6e}");
    }
    format!("{x:.6}")
}

/// A CSV cell, quoted when it holds a comma, a quote or a line break (`[8, 16]`).
pub fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// How a column's cells align: text left, numbers right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A markdown table: named, aligned columns and rows of cells (already markdown: escape
/// text from disk with `md::text` first). Rendered compact, or padded to the columns'
/// widths so that the raw text reads as a table too.
#[derive(Debug, Clone, Default)]
pub struct Table {
    columns: Vec<(String, Align)>,
    rows: Vec<Vec<String>>,
    padded: bool,
}

impl Table {
    pub fn new() -> Table {
        Table::default()
    }

    /// Adds a column.
    pub fn column(mut self, name: impl Into<String>, align: Align) -> Table {
        self.columns.push((name.into(), align));
        self
    }

    /// Adds a column per name, all aligned alike.
    pub fn columns<S: Into<String>>(
        mut self,
        names: impl IntoIterator<Item = S>,
        align: Align,
    ) -> Table {
        self.columns
            .extend(names.into_iter().map(|n| (n.into(), align)));
        self
    }

    /// Pads every cell to its column's width.
    pub fn padded(mut self) -> Table {
        self.padded = true;
        self
    }

    /// Adds a row: one cell per column (missing cells are empty, extra ones dropped).
    pub fn row(&mut self, mut cells: Vec<String>) {
        cells.resize(self.columns.len(), String::new());
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table's markdown, ending with a line break.
    pub fn markdown(&self) -> String {
        let widths: Vec<usize> = (0..self.columns.len())
            .map(|i| {
                if !self.padded {
                    return 0;
                }
                self.rows
                    .iter()
                    .map(|r| r[i].chars().count())
                    .chain([self.columns[i].0.chars().count(), 3])
                    .max()
                    .unwrap_or(3)
            })
            .collect();
        let line = |cells: &mut dyn Iterator<Item = &String>| {
            let mut out = String::from("|");
            for (i, c) in cells.enumerate() {
                let pad = " ".repeat(widths[i].saturating_sub(c.chars().count()));
                match self.columns[i].1 {
                    Align::Left => out.push_str(&format!(" {c}{pad} |")),
                    Align::Right => out.push_str(&format!(" {pad}{c} |")),
                }
            }
            out.push('\n');
            out
        };
        let mut md = line(&mut self.columns.iter().map(|(n, _)| n));
        md.push('|');
        for (i, (_, align)) in self.columns.iter().enumerate() {
            let dashes = "-".repeat((widths[i] + 1).max(3));
            match align {
                Align::Left => md.push_str(&format!(":{dashes}|")),
                Align::Right => md.push_str(&format!("{dashes}:|")),
            }
        }
        md.push('\n');
        for r in &self.rows {
            md.push_str(&line(&mut r.iter()));
        }
        md
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seven_significant_digits() {
        assert_eq!(sig7(0.17142051), "0.1714205");
        assert_eq!(sig7(0.0934186), "0.09341860");
        assert_eq!(sig7(12.3456789), "12.34568");
        assert_eq!(sig7(1234567.8), "1234568");
    }

    #[test]
    fn tables_compact_and_padded() {
        let mut t = Table::new()
            .column("loss", Align::Left)
            .columns(["kid"], Align::Right);
        t.row(vec!["mae".into(), "**0.1**".into()]);
        t.row(vec!["mse".into()]);
        assert_eq!(
            t.markdown(),
            "| loss | kid |\n|:---|---:|\n| mae | **0.1** |\n| mse |  |\n"
        );
        assert_eq!(
            t.clone().padded().markdown(),
            "| loss |     kid |\n|:-----|--------:|\n| mae  | **0.1** |\n| mse  |         |\n"
        );
        assert_eq!(csv_cell("[8, 16]"), "\"[8, 16]\"");
        assert_eq!(csv_cell("a\"b"), "\"a\"\"b\"");
        assert_eq!(csv_cell("plain"), "plain");
    }
}
