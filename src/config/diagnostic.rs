//! Problems found in a rules file, each with `file:line:col`, the field path and a message.

use std::fmt;

use super::node::Loc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem in the rules file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub line: u32,
    pub col: u32,
    /// Where in the document: `rules[2].when.all[0].path`; empty for the document itself.
    pub field: String,
    pub message: String,
}

impl Diagnostic {
    pub fn error(loc: Loc, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            line: loc.line,
            col: loc.col,
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn warning(loc: Loc, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { severity: Severity::Warning, ..Self::error(loc, field, message) }
    }

    /// `file:line:col: [warning: ]field: message`, the form editors and CI annotate.
    pub fn render(&self, file: &str) -> String {
        let level = match self.severity {
            Severity::Error => "",
            Severity::Warning => "warning: ",
        };
        let field = if self.field.is_empty() { String::new() } else { format!("{}: ", self.field) };
        format!("{file}:{}:{}: {level}{field}{}", self.line, self.col, self.message)
    }
}

/// Every problem of one load, errors and warnings, in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics {
    pub file: String,
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    pub fn error_count(&self) -> usize {
        self.items.iter().filter(|d| d.severity == Severity::Error).count()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.items {
            writeln!(f, "{}", d.render(&self.file))?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}
