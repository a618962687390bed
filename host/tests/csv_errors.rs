//! CSV loading errors: each names the file, the 1-based line, the column and the value.

use std::path::PathBuf;

use gradwell_host::data::{DataError, Table};

/// Writes `text` to a fresh file in the system temporary folder and returns its path.
fn write_csv(name: &str, text: &str) -> PathBuf {
    let folder = std::env::temp_dir().join(format!("gradwell-csv-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    let path = folder.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn missing_column_names_file_and_column() {
    let path = write_csv("missing-column.csv", "date,temp_max\n2012-01-01,12.8\n");
    let table = Table::read(&path).unwrap();
    let error = table.column("temp_min").unwrap_err();
    assert!(
        matches!(&error, DataError::MissingColumn { column, .. } if column == "temp_min"),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "{}: missing column \"temp_min\"; the header has: date, temp_max",
            path.display()
        )
    );
}

#[test]
fn text_in_number_column_names_line_column_value() {
    let path = write_csv(
        "text.csv",
        "date,temp_max\n2012-01-01,12.8\n2012-01-02,warm\n",
    );
    let table = Table::read(&path).unwrap();
    let column = table.column("temp_max").unwrap();
    let rows: Vec<_> = table.rows().collect();
    assert_eq!(rows[0].number(column).unwrap(), Some(12.8));
    let error = rows[1].number(column).unwrap_err();
    match &error {
        DataError::InvalidValue {
            line,
            column,
            value,
            ..
        } => {
            assert_eq!(*line, 3);
            assert_eq!(column, "temp_max");
            assert_eq!(value, "warm");
        }
        other => panic!("expected InvalidValue, got {other:?}"),
    }
    assert_eq!(
        error.to_string(),
        format!(
            "{}:3: column \"temp_max\": expected a finite number, found \"warm\"",
            path.display()
        )
    );
}

#[test]
fn short_row_names_line_and_counts() {
    let path = write_csv("short.csv", "a,b,c\n1,2,3\n4,5\n");
    let error = Table::read(&path).unwrap_err();
    assert!(
        matches!(
            error,
            DataError::WrongFieldCount {
                line: 3,
                expected: 3,
                found: 2,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "{}:3: expected 3 fields as in the header, found 2",
            path.display()
        )
    );
}

#[test]
fn missing_file_names_path() {
    let path = std::env::temp_dir().join("gradwell-no-such-file.csv");
    let error = Table::read(&path).unwrap_err();
    assert!(matches!(error, DataError::Io { .. }), "{error:?}");
    assert!(error
        .to_string()
        .starts_with(&format!("{}: cannot read the file", path.display())));
}

#[test]
fn na_and_empty_rows_are_dropped_and_counted() {
    let path = write_csv(
        "missing.csv",
        "x,y,label\n1,2,a\nNA,3,b\n4,,c\n5,6,NA\n,NA,d\n7,8,e\n",
    );
    let table = Table::read(&path).unwrap();
    let (x, y, label) = (
        table.column("x").unwrap(),
        table.column("y").unwrap(),
        table.column("label").unwrap(),
    );
    let (rows, report) = table.complete_rows(&[x, y]);
    let lines: Vec<u64> = rows.iter().map(|r| r.line()).collect();
    assert_eq!(lines, [2, 5, 7]);
    assert_eq!(report.rows, 6);
    assert_eq!(report.dropped, 3);
    assert_eq!(
        report.by_column,
        vec![("x".to_string(), 2), ("y".to_string(), 1)]
    );
    // A missing value in a column the caller did not list keeps the row, read as `None`.
    assert_eq!(rows[1].text(label), None);
    assert_eq!(rows[1].number(y).unwrap(), Some(6.0));
}

#[test]
fn seattle_loader_reports_bad_date() {
    let path = write_csv(
        "bad-date.csv",
        "date,precipitation,temp_max,temp_min,wind,weather\n\
         2012-01-01,0.0,12.8,5.0,4.7,drizzle\n\
         2012-02-30,0.0,12.8,5.0,4.7,drizzle\n",
    );
    let error = gradwell_host::seattle::load_days(&path).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{}:3: column \"date\": expected a date as YYYY-MM-DD, found \"2012-02-30\"",
            path.display()
        )
    );
}
