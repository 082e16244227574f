//! The attribute guards at compile time: misuse is a clear compile error, and correct uses on
//! axum and actix-web handlers compile.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/fail/*.rs");
    cases.pass("tests/ui/pass/*.rs");
}
