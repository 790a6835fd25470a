//! Tags: a few exact labels a job is found by (`customer:42`,
//! `import:2026-12`), each indexed by a pointer item written with the job
//! (see `store/tags.rs`). A job without tags writes nothing for them.

use crate::error::{Error, Result};

/// Most tags on one job: each costs two write units when the job is
/// created (its pointer item and that item's index entry).
pub const MAX_TAGS: usize = 5;

/// Longest tag, bytes.
pub const MAX_TAG_LEN: usize = 100;

/// Checks a tag: 1 to [`MAX_TAG_LEN`] characters of
/// `A-Z a-z 0-9 . _ : - / = @ +` (exact and case-sensitive, as it is found).
pub fn validate_tag(tag: &str) -> Result<()> {
    let ok = !tag.is_empty()
        && tag.len() <= MAX_TAG_LEN
        && tag.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'.' | b'_' | b':' | b'-' | b'/' | b'=' | b'@' | b'+')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "tag",
            format!("{tag:?} (use 1 to {MAX_TAG_LEN} characters of A-Z a-z 0-9 . _ : - / = @ +)"),
        ))
    }
}

/// Checks a job's tags: each by [`validate_tag`], at most [`MAX_TAGS`].
pub fn validate_tags(tags: &[String]) -> Result<()> {
    if tags.len() > MAX_TAGS {
        return Err(Error::invalid(
            "tags",
            format!("{} tags; at most {MAX_TAGS}", tags.len()),
        ));
    }
    tags.iter().try_for_each(|t| validate_tag(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_short_plain_labels() {
        for ok in [
            "customer:42",
            "import/2026-12",
            "user=a@b.c",
            "x",
            "a+b_c.d",
        ] {
            assert!(validate_tag(ok).is_ok(), "{ok}");
        }
        for bad in ["", "has space", "hash#tag", "ünï", &"x".repeat(101)] {
            let e = validate_tag(bad).unwrap_err().to_string();
            assert!(e.contains("tag"), "{bad}: {e}");
        }
        let six: Vec<String> = (0..6).map(|i| format!("t{i}")).collect();
        assert!(validate_tags(&six[..5]).is_ok());
        assert!(
            validate_tags(&six)
                .unwrap_err()
                .to_string()
                .contains("at most 5")
        );
    }
}
