//! The checks of a submission, checked.

use super::*;

#[test]
fn names() {
    for name in ["nightly", "a", "0.b_c-d", "slow", &"x".repeat(64)] {
        check_name("lane", name).unwrap();
    }
    for name in ["", "-x", ".x", "a b", "a/b", "é", &"x".repeat(65)] {
        assert!(check_name("schedule", name).is_err(), "{name}");
    }
}

/// The document's pattern says what the check does (the bounds are the same constant).
#[test]
fn the_name_schema_states_the_name_rule() {
    let schema = name_schema();
    assert_eq!(
        schema.pattern.as_deref(),
        Some("^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"),
        "the rule changed: change the pattern with it"
    );
    assert_eq!((schema.min_length, schema.max_length), (Some(1), Some(MAX_LANE_NAME)));
}

#[test]
fn filter_text_counts_characters() {
    check_filter_text("q", &"é".repeat(MAX_FILTER_TEXT)).unwrap();
    assert!(check_filter_text("q", "").is_err());
    assert!(check_filter_text("q", &"x".repeat(MAX_FILTER_TEXT + 1)).is_err());
}
