//! Widths that do not match must not compile. Each case in `compile-fail/` has the compiler's
//! expected message beside it in a `.stderr` file.
//!
//! The messages change between Rust versions. After a toolchain update, rewrite them with
//! `TRYBUILD=overwrite cargo test -p gradwell-tests --test compile_fail` and review the diff:
//! each message must still name the mismatched widths.

#[test]
fn width_mismatches_do_not_compile() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("compile-fail/*.rs");
}
