//! Unified diffs of two contents, as `diff -u` and `patch` know them.

/// Lines of context around each change.
pub const CONTEXT: usize = 3;

/// The unified diff from `old` to `new` under the given labels (`a/P@A`,
/// `b/P@B`); empty when the contents are equal. A side that did not exist is
/// passed as empty content. Contents that are not UTF-8 text give one
/// `Binary files ... differ` line, as GNU diff does.
pub fn unified(old: &[u8], new: &[u8], old_label: &str, new_label: &str) -> String {
    if old == new {
        return String::new();
    }
    match (std::str::from_utf8(old), std::str::from_utf8(new)) {
        (Ok(old), Ok(new)) => similar::TextDiff::from_lines(old, new)
            .unified_diff()
            .context_radius(CONTEXT)
            .missing_newline_hint(true)
            .header(old_label, new_label)
            .to_string(),
        _ => format!("Binary files {old_label} and {new_label} differ\n"),
    }
}

/// `a/P@A` / `b/P@B`.
pub fn label(side: char, path: &str, at: &str) -> String {
    format!("{side}/{path}@{at}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_in_the_middle_has_three_lines_of_context() {
        let old = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
        let new = "1\n2\n3\n4\nFIVE\n6\n7\n8\n9\n";
        let d = unified(old.as_bytes(), new.as_bytes(), "a/f@1", "b/f@2");
        assert_eq!(
            d,
            "--- a/f@1\n+++ b/f@2\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+FIVE\n 6\n 7\n 8\n"
        );
    }

    #[test]
    fn distant_changes_give_two_hunks() {
        let old: String = (1..=20).map(|i| format!("{i}\n")).collect();
        let new: String = (1..=20)
            .map(|i| match i {
                2 => "two\n".to_string(),
                19 => "nineteen\n".to_string(),
                _ => format!("{i}\n"),
            })
            .collect();
        let d = unified(old.as_bytes(), new.as_bytes(), "a/f@1", "b/f@2");
        assert_eq!(d.matches("\n@@ ").count(), 2, "{d}");
        assert!(
            d.contains("@@ -1,5 +1,5 @@\n 1\n-2\n+two\n 3\n 4\n 5\n"),
            "{d}"
        );
        assert!(
            d.contains("@@ -16,5 +16,5 @@\n 16\n 17\n 18\n-19\n+nineteen\n 20\n"),
            "{d}"
        );
    }

    #[test]
    fn created_and_deleted_files_diff_against_empty() {
        let d = unified(b"", b"a\nb\n", "a/f@0", "b/f@7");
        assert_eq!(d, "--- a/f@0\n+++ b/f@7\n@@ -0,0 +1,2 @@\n+a\n+b\n");
        let d = unified(b"a\n", b"", "a/f@7", "b/f@9");
        assert_eq!(d, "--- a/f@7\n+++ b/f@9\n@@ -1 +0,0 @@\n-a\n");
    }

    #[test]
    fn missing_newline_is_marked() {
        let d = unified(b"a\nb", b"a\nc\n", "a/f@1", "b/f@2");
        assert_eq!(
            d,
            "--- a/f@1\n+++ b/f@2\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n"
        );
    }

    #[test]
    fn equal_contents_give_nothing_and_binary_one_line() {
        assert_eq!(unified(b"x\n", b"x\n", "a/f@1", "b/f@2"), "");
        assert_eq!(
            unified(b"\xff\x00", b"x", "a/f@1", "b/f@2"),
            "Binary files a/f@1 and b/f@2 differ\n"
        );
        assert_eq!(label('a', "nodes/n1/x", "5"), "a/nodes/n1/x@5");
    }
}
