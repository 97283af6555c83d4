use serde_json::json;

use super::*;

fn record() -> ValueType {
    ValueType::Record {
        fields: vec![
            Named { name: "x".into(), ty: ValueType::S32 },
            Named {
                name: "label".into(),
                ty: ValueType::Option { of: Box::new(ValueType::String) },
            },
        ],
    }
}

#[test]
fn values_round_trip_through_json() {
    let shape = ValueType::Variant {
        cases: vec![
            Case { name: "circle".into(), ty: Some(ValueType::F64) },
            Case { name: "empty".into(), ty: None },
        ],
    };
    let cases = [
        (ValueType::U8, json!(255)),
        (ValueType::S64, json!(-9_000_000_000_i64)),
        (ValueType::F64, json!("nan")),
        (ValueType::Char, json!("é")),
        (ValueType::List { of: Box::new(ValueType::U32) }, json!([1, 2, 3])),
        (record(), json!({"x": 1, "label": "a"})),
        (ValueType::Tuple { of: vec![ValueType::Bool, ValueType::String] }, json!([true, "s"])),
        (shape.clone(), json!({"circle": 1.5})),
        (shape, json!("empty")),
        (ValueType::Enum { cases: vec!["red".into(), "green".into()] }, json!("green")),
        (ValueType::Option { of: Box::new(ValueType::U32) }, json!(null)),
        (
            ValueType::Option { of: Box::new(ValueType::Option { of: Box::new(ValueType::U32) }) },
            json!({"some": null}),
        ),
        (
            ValueType::Result {
                ok: Some(Box::new(ValueType::U32)),
                err: Some(Box::new(ValueType::String)),
            },
            json!({"err": "no"}),
        ),
        (ValueType::Result { ok: None, err: None }, json!({"ok": null})),
        (ValueType::Flags { names: vec!["a".into(), "b".into()] }, json!(["b"])),
    ];
    for (ty, json) in cases {
        let value = from_json(&ty, &json, "p").unwrap_or_else(|e| panic!("{ty}: {e}"));
        assert_eq!(to_json(&value), json, "{ty}");
    }
}

#[test]
fn a_mismatch_names_the_place_and_the_type() {
    let err = from_json(&ValueType::U8, &json!(256), "parameter `n`").unwrap_err();
    assert_eq!(err, "parameter `n`: 256 is out of range for u8");
    let err = from_json(&record(), &json!({"x": "one"}), "parameter `p`").unwrap_err();
    assert_eq!(err, "parameter `p`.x: expected s32, got \"one\"");
    let ty = FuncType {
        params: vec![Named { name: "n".into(), ty: ValueType::S32 }],
        results: vec![ValueType::S32],
    };
    let err = check_params("square", &ty, &json!(["seven"])).unwrap_err();
    assert_eq!(err, "parameter `n` of `square`: expected s32, got \"seven\"");
    assert_eq!(check_params("square", &ty, &json!({"n": 7})).unwrap(), vec![Value::S32(7)]);
    assert!(check_params("square", &ty, &json!([])).unwrap_err().contains("missing"));
    assert_eq!(ty.to_string(), "func(n: s32) -> s32");
}

#[test]
fn parents_as_parameters_must_match_the_functions_arity() {
    let option = ValueType::Option { of: Box::new(ValueType::String) };
    let params = vec![
        Named { name: "a".into(), ty: ValueType::S32 },
        Named { name: "b".into(), ty: ValueType::S32 },
        Named { name: "note".into(), ty: option },
    ];
    let ty = FuncType { params, results: vec![ValueType::S32] };
    let exports =
        Exports { command: false, functions: [("sub".to_string(), ty)].into_iter().collect() };
    let check = |parents| check_parent_params("m", Some(&exports), Some("sub"), parents);
    assert_eq!(check(2), Ok(()), "the trailing option is left out");
    assert_eq!(check(3), Ok(()));
    let short = check(1).unwrap_err();
    assert!(short.starts_with("parameter `b` of `sub` would get no value"), "{short}");
    let long = check(4).unwrap_err();
    assert!(long.starts_with("`sub` takes 3 parameter(s)"), "{long}");
    let missing = check_parent_params("m", Some(&exports), Some("nope"), 1).unwrap_err();
    assert!(missing.contains("exports no function `nope`"), "{missing}");
}
