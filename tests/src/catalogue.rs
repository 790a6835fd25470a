//! The bad-input catalogue, `docs/bad-input.md`, as the tests read it.
//!
//! Each case is a table row whose first cell is its id (`I01`, `C07`...);
//! every `code span` in its last cell ("what the user sees") is text the
//! user must see. A test feeds each case of one section to Hangar and hands
//! what came back to [`check`], which fails on a case whose texts are
//! missing, a case in the catalogue the test did not run, or one the test
//! ran that the catalogue does not list.

use std::collections::BTreeMap;

/// The catalogue's cases whose ids start with `prefix`: id → the texts the
/// user must see.
pub fn cases(prefix: &str) -> BTreeMap<String, Vec<String>> {
    let path = crate::workspace_root().join("docs/bad-input.md");
    let text = std::fs::read_to_string(&path).expect("docs/bad-input.md");
    parse(&text, prefix)
}

fn parse(text: &str, prefix: &str) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some(row) = line.trim().strip_prefix('|') else {
            continue;
        };
        let cells: Vec<&str> = row.trim_end_matches('|').split(" | ").collect();
        let id = cells[0].trim();
        let is_case =
            id.len() == 3 && id.starts_with(prefix) && id[1..].chars().all(|c| c.is_ascii_digit());
        if !is_case {
            continue;
        }
        let sees = cells.last().expect("a row has cells");
        let texts: Vec<String> = sees
            .split('`')
            .skip(1)
            .step_by(2)
            .map(|s| s.replace("\\|", "|"))
            .collect();
        assert!(!texts.is_empty(), "case {id}: no `text` the user sees");
        assert!(
            out.insert(id.to_owned(), texts).is_none(),
            "case {id} is listed twice"
        );
    }
    out
}

/// Checks what the user saw for each case of section `prefix` (case id →
/// the error, job reason or response they got) against the catalogue.
pub fn check(prefix: &str, seen: &BTreeMap<String, String>) {
    let cases = cases(prefix);
    assert!(!cases.is_empty(), "no {prefix} cases in docs/bad-input.md");
    let mut problems = Vec::new();
    for (id, texts) in &cases {
        match seen.get(id) {
            None => problems.push(format!("{id}: in the catalogue, not run by the test")),
            Some(got) => {
                for t in texts {
                    if !got.contains(t.as_str()) {
                        problems.push(format!("{id}: {t:?} not in what the user saw: {got:?}"));
                    }
                }
            }
        }
    }
    for id in seen.keys().filter(|id| !cases.contains_key(*id)) {
        problems.push(format!("{id}: run by the test, not in the catalogue"));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn reads_rows_and_their_code_spans() {
        let doc = "\
| Case | Input | What the user sees |
|---|---|---|
| I01 | `not json` | a Failed job: `not JSON` and `raw_body` |
| I02 | pipe | `a \\| b` |
| C01 | other | `x` |
";
        let cases = parse(doc, "I");
        assert_eq!(cases.len(), 2);
        assert_eq!(cases["I01"], ["not JSON", "raw_body"]);
        assert_eq!(cases["I02"], ["a | b"]);
    }

    #[test]
    #[should_panic(expected = "no `text`")]
    fn a_case_without_text_is_refused() {
        parse("| A01 | input | nothing quoted |", "A");
    }
}
