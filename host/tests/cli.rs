//! The `gradwell` binary: failures print one line on standard error and exit non-zero.

use std::process::Command;

fn gradwell(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gradwell"))
        .args(args)
        .output()
        .expect("failed to start gradwell")
}

#[test]
fn bad_file_gives_one_line_and_failure() {
    let folder = std::env::temp_dir().join(format!("gradwell-cli-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    let path = folder.join("weather.csv");
    std::fs::write(
        &path,
        "date,precipitation,temp_max,temp_min,wind,weather\n2012-01-01,0.0,hot,5.0,4.7,sun\n",
    )
    .unwrap();
    let out = folder.join("out");
    let output = gradwell(&[
        "demo",
        "seattle",
        "--data",
        path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);

    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(
        stderr,
        format!(
            "error: {}:2: column \"temp_max\": expected a finite number, found \"hot\"\n",
            path.display()
        )
    );
    assert!(output.stdout.is_empty());
    assert!(!out.exists(), "no plots for a failed run");
}

#[test]
fn missing_file_gives_one_line_and_failure() {
    let output = gradwell(&["demo", "penguins", "--data", "no/such/penguins.csv"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: no/such/penguins.csv: cannot read the file"),
        "{stderr}"
    );
}

#[test]
fn unknown_demo_is_a_usage_error() {
    let output = gradwell(&["demo", "iris"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8(output.stderr).unwrap().contains("iris"));
}
