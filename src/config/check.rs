//! Reading a configuration file strictly, with the position of every problem: toml's errors
//! turned into ours, and each semantic error or warning placed at its key.

use super::*;

/// Something in a configuration file that is accepted but probably not what its author meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: warning: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// The full result of checking a configuration file: every error and warning found, and the
/// parsed value when there was no error. `prgate policy check` prints each on its own line.
#[derive(Debug, Clone)]
pub struct ConfigCheck<T> {
    /// `Some` exactly when `errors` is empty.
    pub value: Option<T>,
    pub errors: Vec<ConfigError>,
    pub warnings: Vec<ConfigWarning>,
}

impl<T> ConfigCheck<T> {
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// The value, or the first error (the one nearest the top of the file).
    pub(crate) fn into_result(self) -> Result<T, ConfigError> {
        match (self.value, self.errors.into_iter().next()) {
            (Some(v), None) => Ok(v),
            (_, Some(e)) => Err(e),
            // Unreachable by construction; still fail closed with a message rather than panic.
            (None, None) => Err(ConfigError::Other {
                file: String::new(),
                message: "configuration was not parsed".into(),
            }),
        }
    }
}

/// 1-based line and column (in characters) of a byte offset into `text`.
pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    // A span from the parser always lies on char boundaries, but be safe for any caller.
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Turns a toml error into ours, with the position of what it complains about.
pub(crate) fn toml_error(file: &str, text: &str, err: &toml::de::Error) -> ConfigError {
    // toml's messages sometimes end with a newline; ours are one line each.
    let message = err.message().trim().replace('\n', " ");
    match err.span() {
        Some(span) => {
            let (line, column) = line_col(text, span.start);
            ConfigError::Invalid {
                file: file.to_string(),
                line,
                column,
                message,
            }
        }
        None => ConfigError::Other {
            file: file.to_string(),
            message,
        },
    }
}

/// One step of a path into a TOML document: a key, or an index into an array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// Builds a path from keys and indices: `path!["rules", 2, "name"]`.
macro_rules! toml_path {
    ($($seg:expr),* $(,)?) => { vec![$($crate::config::Seg::from($seg)),*] };
}
pub(crate) use toml_path;

impl From<&str> for Seg {
    fn from(s: &str) -> Self {
        Seg::Key(s.to_string())
    }
}
impl From<&String> for Seg {
    fn from(s: &String) -> Self {
        Seg::Key(s.clone())
    }
}
impl From<usize> for Seg {
    fn from(i: usize) -> Self {
        Seg::Index(i)
    }
}

/// A semantic problem found in an already deserialized config, located by its path in the
/// document so that the caller can turn it into a line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub path: Vec<Seg>,
    pub message: String,
}

impl Problem {
    pub(crate) fn new(path: Vec<Seg>, message: impl Into<String>) -> Self {
        Problem {
            path,
            message: message.into(),
        }
    }
}

/// Positions of the values in a TOML document, for messages about what serde accepted but
/// validation refused. Built from toml's own span-keeping parse of the same text.
pub(crate) struct SpanIndex<'a> {
    text: &'a str,
    root: Option<toml::Spanned<toml::de::DeTable<'a>>>,
}

impl<'a> SpanIndex<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        SpanIndex {
            text,
            root: toml::de::DeTable::parse(text).ok(),
        }
    }

    /// The byte offset of the value at `path`, or of its nearest ancestor that exists (a
    /// value left to its default has no position of its own).
    pub(super) fn offset_of(&self, path: &[Seg]) -> usize {
        use toml::de::DeValue;
        let Some(root) = &self.root else { return 0 };
        let mut table: Option<&toml::de::DeTable<'a>> = Some(root.get_ref());
        let mut array: Option<&[toml::Spanned<DeValue<'a>>]> = None;
        let mut best = 0;
        for seg in path {
            let next = match (seg, table, array) {
                (Seg::Key(k), Some(t), _) => t.get(k.as_str()),
                (Seg::Index(i), _, Some(a)) => a.get(*i),
                _ => None,
            };
            let Some(value) = next else { break };
            best = value.span().start;
            table = None;
            array = None;
            match value.get_ref() {
                DeValue::Table(t) => table = Some(t),
                DeValue::Array(a) => array = Some(a),
                _ => {}
            }
        }
        best
    }

    pub(crate) fn error(&self, file: &str, problem: &Problem) -> ConfigError {
        let (line, column) = line_col(self.text, self.offset_of(&problem.path));
        ConfigError::Invalid {
            file: file.to_string(),
            line,
            column,
            message: problem.message.clone(),
        }
    }

    pub(crate) fn warning(&self, file: &str, problem: &Problem) -> ConfigWarning {
        let (line, column) = line_col(self.text, self.offset_of(&problem.path));
        ConfigWarning {
            file: file.to_string(),
            line,
            column,
            message: problem.message.clone(),
        }
    }
}

/// Parses `text` strictly into `T` and runs `validate` on it; every error and warning comes
/// back with the position of the offending value.
pub(crate) fn check_toml<T, F>(file: &str, text: &str, validate: F) -> ConfigCheck<T>
where
    T: serde::de::DeserializeOwned,
    F: FnOnce(&T) -> (Vec<Problem>, Vec<Problem>),
{
    let value: T = match toml::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            return ConfigCheck {
                value: None,
                errors: vec![toml_error(file, text, &e)],
                warnings: vec![],
            };
        }
    };
    let (errors, warnings) = validate(&value);
    let index = SpanIndex::new(text);
    let errors: Vec<ConfigError> = errors.iter().map(|p| index.error(file, p)).collect();
    let warnings = warnings.iter().map(|p| index.warning(file, p)).collect();
    ConfigCheck {
        value: if errors.is_empty() { Some(value) } else { None },
        errors,
        warnings,
    }
}
