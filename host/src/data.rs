//! CSV loading with errors that point at the file, line, column and value.
//!
//! A [`Table`] is a CSV file with a header line, read whole into memory. Every row must have as
//! many fields as the header ([`DataError::WrongFieldCount`] otherwise). Fields are parsed only
//! when asked for, so a table can hold text columns that a demo never reads.
//!
//! # Missing values
//!
//! A field is missing when it is empty or `NA` (as R writes it), after trimming spaces; see
//! [`is_missing`]. The policy is explicit at each call site:
//!
//! - [`Table::complete_rows`] keeps only the rows with a value in every column a caller needs.
//!   Its [`DropReport`] counts the dropped rows by their first missing column, so the tool can
//!   print how many rows it dropped and why.
//! - A caller that can use a row without some value (a task label that is simply absent) reads
//!   that field with [`Row::number`] or [`Row::text`], which return `None` for a missing value.
//!
//! Line numbers are 1-based and count the header as line 1, as an editor shows them.
//!
//! ```no_run
//! use gradwell_host::data::Table;
//! let table = Table::read("data/penguins.csv")?;
//! let mass = table.column("body_mass_g")?;
//! let (rows, dropped) = table.complete_rows(&[mass]);
//! for row in &rows {
//!     let grams: f32 = row.required_number(mass)?;
//! }
//! println!("{dropped}");
//! # Ok::<(), gradwell_host::data::DataError>(())
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

/// Error reading a CSV file or one of its fields.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("{file}: cannot read the file", file = .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The CSV syntax is invalid (for example, a field is not UTF-8).
    #[error("{file}:{line}: invalid CSV: {message}", file = .path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// The CSV reader's message.
        message: String,
    },
    /// The file has no header line.
    #[error("{file}: the file is empty; expected a header line", file = .path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// A column the caller needs is not in the header.
    #[error(
        "{file}: missing column \"{column}\"; the header has: {available}",
        file = .path.display()
    )]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The column that was requested.
        column: String,
        /// The header's column names, comma-separated.
        available: String,
    },
    /// A row has more or fewer fields than the header.
    #[error(
        "{file}:{line}: expected {expected} fields as in the header, found {found}",
        file = .path.display()
    )]
    WrongFieldCount {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// Number of columns in the header.
        expected: usize,
        /// Number of fields in the row.
        found: usize,
    },
    /// A field does not hold the kind of value its column needs.
    #[error(
        "{file}:{line}: column \"{column}\": expected {expected}, found \"{value}\"",
        file = .path.display()
    )]
    InvalidValue {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// The column name.
        column: String,
        /// The field as written in the file.
        value: String,
        /// Description of the expected value, such as "a finite number".
        expected: String,
    },
}

/// A column of a [`Table`], found by name with [`Table::column`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    index: usize,
}

/// A CSV file with a header line, read into memory.
#[derive(Clone, Debug)]
pub struct Table {
    path: PathBuf,
    headers: Vec<String>,
    records: Vec<csv::StringRecord>,
}

/// One row of a [`Table`].
#[derive(Clone, Copy, Debug)]
pub struct Row<'a> {
    table: &'a Table,
    record: &'a csv::StringRecord,
}

/// The rows [`Table::complete_rows`] dropped for a missing value.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct DropReport {
    /// Number of data rows in the file.
    pub rows: usize,
    /// Number of rows dropped.
    pub dropped: usize,
    /// Dropped rows per column, in the order the caller listed the columns. Each row counts
    /// once, at its first missing column, and columns that dropped nothing are left out.
    pub by_column: Vec<(String, usize)>,
}

/// Returns `true` when a field counts as a missing value: empty or `NA` after trimming spaces.
pub fn is_missing(field: &str) -> bool {
    let field = field.trim();
    field.is_empty() || field == "NA"
}

impl Table {
    /// Reads a CSV file with a header line.
    ///
    /// # Errors
    /// [`DataError::Io`] when the file cannot be read, [`DataError::Empty`] without a header,
    /// [`DataError::WrongFieldCount`] for a row whose length differs from the header's, and
    /// [`DataError::Syntax`] for invalid CSV.
    pub fn read(path: impl AsRef<Path>) -> Result<Self, DataError> {
        let path = path.as_ref();
        let file = std::fs::File::open(path).map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_reader(path, file)
    }

    /// Reads CSV text from `reader`; `path` only names the source in errors.
    ///
    /// # Errors
    /// As [`Table::read`].
    pub fn from_reader(
        path: impl AsRef<Path>,
        reader: impl std::io::Read,
    ) -> Result<Self, DataError> {
        let path = path.as_ref().to_path_buf();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(reader);

        let mut records = Vec::new();
        for record in reader.records() {
            records.push(record.map_err(|error| csv_error(&path, &error))?);
        }
        if records.is_empty() {
            return Err(DataError::Empty { path });
        }
        let header = records.remove(0);
        let headers: Vec<String> = header.iter().map(|h| h.trim().to_string()).collect();

        for record in &records {
            if record.len() != headers.len() {
                return Err(DataError::WrongFieldCount {
                    path,
                    line: line_of(record),
                    expected: headers.len(),
                    found: record.len(),
                });
            }
        }
        Ok(Self {
            path,
            headers,
            records,
        })
    }

    /// Returns the file the table was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Returns the column names of the header.
    pub fn headers(&self) -> &[String] {
        &self.headers
    }

    /// Returns the number of data rows, without the header.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Returns `true` when the file has a header but no data rows.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Finds a column by its name in the header.
    ///
    /// # Errors
    /// [`DataError::MissingColumn`] when no column has that name.
    pub fn column(&self, name: &str) -> Result<Column, DataError> {
        match self.headers.iter().position(|h| h == name) {
            Some(index) => Ok(Column { index }),
            None => Err(DataError::MissingColumn {
                path: self.path.clone(),
                column: name.to_string(),
                available: self.headers.join(", "),
            }),
        }
    }

    /// Returns every data row, in file order.
    pub fn rows(&self) -> impl Iterator<Item = Row<'_>> {
        self.records.iter().map(move |record| Row {
            table: self,
            record,
        })
    }

    /// Returns the rows with a value in every one of `columns`, and a report of the rows
    /// dropped because a value was missing (see [`is_missing`]).
    pub fn complete_rows(&self, columns: &[Column]) -> (Vec<Row<'_>>, DropReport) {
        let mut kept = Vec::with_capacity(self.len());
        let mut dropped_by = vec![0usize; columns.len()];
        for row in self.rows() {
            match columns.iter().position(|&c| is_missing(row.field(c))) {
                Some(first_missing) => dropped_by[first_missing] += 1,
                None => kept.push(row),
            }
        }
        let by_column = columns
            .iter()
            .zip(&dropped_by)
            .filter(|(_, &count)| count > 0)
            .map(|(&c, &count)| (self.headers[c.index].clone(), count))
            .collect();
        let report = DropReport {
            rows: self.len(),
            dropped: dropped_by.iter().sum(),
            by_column,
        };
        (kept, report)
    }

    fn invalid(&self, record: &csv::StringRecord, column: Column, expected: &str) -> DataError {
        DataError::InvalidValue {
            path: self.path.clone(),
            line: line_of(record),
            column: self.headers[column.index].clone(),
            value: record.get(column.index).unwrap_or_default().to_string(),
            expected: expected.to_string(),
        }
    }
}

impl<'a> Row<'a> {
    /// Returns the 1-based line number of the row in its file.
    pub fn line(&self) -> u64 {
        line_of(self.record)
    }

    /// Returns the field of `column` as written, with surrounding spaces trimmed.
    pub fn field(&self, column: Column) -> &'a str {
        // Every record has the header's length, checked in `Table::from_reader`.
        self.record.get(column.index).unwrap_or_default().trim()
    }

    /// Returns the text of `column`, or `None` for a missing value.
    pub fn text(&self, column: Column) -> Option<&'a str> {
        let field = self.field(column);
        (!is_missing(field)).then_some(field)
    }

    /// Parses `column` as a finite `f32`, or returns `None` for a missing value.
    ///
    /// The decimal text is rounded to the nearest `f32`, as Rust's `str::parse` does.
    ///
    /// # Errors
    /// [`DataError::InvalidValue`] when the field is text, or a number that is not finite.
    pub fn number(&self, column: Column) -> Result<Option<f32>, DataError> {
        let Some(text) = self.text(column) else {
            return Ok(None);
        };
        match text.parse::<f32>() {
            Ok(value) if value.is_finite() => Ok(Some(value)),
            _ => Err(self.invalid(column, "a finite number")),
        }
    }

    /// Parses `column` as a finite `f32` that must be present.
    ///
    /// # Errors
    /// [`DataError::InvalidValue`] for a missing value, text, or a number that is not finite.
    pub fn required_number(&self, column: Column) -> Result<f32, DataError> {
        self.number(column)?
            .ok_or_else(|| self.invalid(column, "a finite number"))
    }

    /// Returns the index of the field of `column` in `choices`, or `None` for a missing value.
    ///
    /// # Errors
    /// [`DataError::InvalidValue`] when the field is present but not one of `choices`.
    pub fn choice(&self, column: Column, choices: &[&str]) -> Result<Option<usize>, DataError> {
        let Some(text) = self.text(column) else {
            return Ok(None);
        };
        match choices.iter().position(|&c| c == text) {
            Some(index) => Ok(Some(index)),
            None => Err(self.invalid(column, &format!("one of {}", choices.join(", ")))),
        }
    }

    /// Builds a [`DataError::InvalidValue`] for `column` of this row.
    pub fn invalid(&self, column: Column, expected: &str) -> DataError {
        self.table.invalid(self.record, column, expected)
    }
}

impl fmt::Display for DropReport {
    /// Writes, for example, "kept 342 of 344 rows; dropped 2 with a missing value
    /// (bill_length_mm: 2)".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "kept {} of {} rows; dropped {} with a missing value",
            self.rows - self.dropped,
            self.rows,
            self.dropped
        )?;
        if !self.by_column.is_empty() {
            let parts: Vec<String> = self
                .by_column
                .iter()
                .map(|(column, count)| format!("{column}: {count}"))
                .collect();
            write!(f, " ({})", parts.join(", "))?;
        }
        Ok(())
    }
}

fn line_of(record: &csv::StringRecord) -> u64 {
    record.position().map_or(0, |p| p.line())
}

fn csv_error(path: &Path, error: &csv::Error) -> DataError {
    if let csv::ErrorKind::Io(e) = error.kind() {
        return DataError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(e.kind(), e.to_string()),
        };
    }
    DataError::Syntax {
        path: path.to_path_buf(),
        line: error.position().map_or(0, |p| p.line()),
        message: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Result<Table, DataError> {
        Table::from_reader("test.csv", text.as_bytes())
    }

    #[test]
    fn missing_values() {
        assert!(is_missing(""));
        assert!(is_missing(" NA "));
        assert!(!is_missing("na"));
        assert!(!is_missing("0"));
    }

    #[test]
    fn complete_rows_counts_first_missing_column() {
        let t = table("a,b,c\n1,2,x\nNA,NA,y\n3,,z\n4,5,NA\n").unwrap();
        let (a, b) = (t.column("a").unwrap(), t.column("b").unwrap());
        let (rows, report) = t.complete_rows(&[a, b]);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].line(), 2);
        assert_eq!(rows[1].line(), 5);
        assert_eq!(report.rows, 4);
        assert_eq!(report.dropped, 2);
        assert_eq!(
            report.by_column,
            vec![("a".to_string(), 1), ("b".to_string(), 1)]
        );
        assert_eq!(
            report.to_string(),
            "kept 2 of 4 rows; dropped 2 with a missing value (a: 1, b: 1)"
        );
    }

    #[test]
    fn numbers_and_choices() {
        let t = table("x,kind\n 2.5 ,cat\ninf,dog\n").unwrap();
        let (x, kind) = (t.column("x").unwrap(), t.column("kind").unwrap());
        let rows: Vec<Row<'_>> = t.rows().collect();
        assert_eq!(rows[0].number(x).unwrap(), Some(2.5));
        assert_eq!(rows[0].choice(kind, &["dog", "cat"]).unwrap(), Some(1));
        let error = rows[1].number(x).unwrap_err().to_string();
        assert_eq!(
            error,
            "test.csv:3: column \"x\": expected a finite number, found \"inf\""
        );
        let error = rows[1].choice(kind, &["cat"]).unwrap_err().to_string();
        assert_eq!(
            error,
            "test.csv:3: column \"kind\": expected one of cat, found \"dog\""
        );
    }

    #[test]
    fn empty_file() {
        assert!(matches!(table(""), Err(DataError::Empty { .. })));
        assert!(table("a,b\n").unwrap().is_empty());
    }
}
