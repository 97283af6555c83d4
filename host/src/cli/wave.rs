//! WAVE, the text form of component values (`wasm-wave`), as `wasmpool call` and `submit
//! --call` take a call and print its result: `square(7)`, `greet("ann")`,
//! `area(circle(2.0))`. The service speaks JSON; this turns a WAVE call into a function name
//! and JSON parameters by the function's types (from `GET /v1/modules/{id}/exports`), and a
//! JSON result back into WAVE.

use std::borrow::Cow;

use wasm_wave::untyped::UntypedFuncCall;
use wasm_wave::value::{Type as WaveType, Value as WaveValue};
use wasm_wave::wasm::WasmValue;

use crate::call::{self, Exports, FuncType, Value, ValueType};

/// A call split into the function's name and its parameters' text: `NAME(PARAMS)`, the name
/// being anything up to the first `(` (so `my:pkg/iface#func(1)` works).
pub fn split(text: &str) -> Result<(&str, &str), String> {
    let text = text.trim();
    let open = text.find('(').ok_or_else(|| {
        format!("`{text}` is not a call: write it as FUNCTION(ARGS…), e.g. 'square(7)'")
    })?;
    let name = text[..open].trim();
    if name.is_empty() || !text.ends_with(')') {
        return Err(format!(
            "`{text}` is not a call: write it as FUNCTION(ARGS…), e.g. 'square(7)'"
        ));
    }
    Ok((name, &text[open..]))
}

/// Parses a WAVE call against the module's exports: the function's name and its parameters
/// as the JSON array the API takes.
pub fn parse_call(text: &str, exports: &Exports) -> Result<(String, serde_json::Value), String> {
    let (name, params) = split(text)?;
    let ty = exports.functions.get(name).ok_or_else(|| {
        format!("the module exports no function `{name}`; it exports: {}", exports.names())
    })?;
    let values = parse_params(name, ty, params)?;
    Ok((name.to_string(), serde_json::Value::Array(values.iter().map(call::to_json).collect())))
}

fn parse_params(name: &str, ty: &FuncType, params: &str) -> Result<Vec<Value>, String> {
    // The function's own name may be one WAVE's call syntax does not take (an interface's):
    // parse the parameters under a stand-in name.
    let stand_in = format!("f{params}");
    let parsed = UntypedFuncCall::parse(&stand_in).map_err(|e| format!("`{params}`: {e}"))?;
    let types = ty
        .params
        .iter()
        .map(|param| wave_type(&param.ty).map_err(|e| format!("parameter `{}`: {e}", param.name)))
        .collect::<Result<Vec<_>, _>>()?;
    let values: Vec<WaveValue> = parsed
        .to_wasm_params(types.iter())
        .map_err(|e| format!("the arguments of `{name}` ({name}: {ty}): {e}"))?;
    ty.params.iter().zip(&values).map(|(param, value)| from_wave(&param.ty, value)).collect()
}

/// A call's JSON result as WAVE, by the function's result types (several, for a core
/// function, separated by commas; none, an empty string).
pub fn format_result(ty: &FuncType, result: &serde_json::Value) -> Result<String, String> {
    let results: Vec<(&ValueType, &serde_json::Value)> = match ty.results.as_slice() {
        [] => Vec::new(),
        [one] => vec![(one, result)],
        many => {
            let items = result.as_array().ok_or("several results come as an array")?;
            many.iter().zip(items).collect()
        }
    };
    let mut texts = Vec::with_capacity(results.len());
    for (ty, json) in results {
        let value = call::from_json(ty, json, "the result")?;
        let wave = to_wave(ty, &value)?;
        texts.push(wasm_wave::to_string(&wave).map_err(|e| e.to_string())?);
    }
    Ok(texts.join(", "))
}

/// The WAVE type of a call's type.
fn wave_type(ty: &ValueType) -> Result<WaveType, String> {
    let empty = || format!("{ty} is empty");
    Ok(match ty {
        ValueType::Bool => WaveType::BOOL,
        ValueType::S8 => WaveType::S8,
        ValueType::U8 => WaveType::U8,
        ValueType::S16 => WaveType::S16,
        ValueType::U16 => WaveType::U16,
        ValueType::S32 => WaveType::S32,
        ValueType::U32 => WaveType::U32,
        ValueType::S64 => WaveType::S64,
        ValueType::U64 => WaveType::U64,
        ValueType::F32 => WaveType::F32,
        ValueType::F64 => WaveType::F64,
        ValueType::Char => WaveType::CHAR,
        ValueType::String => WaveType::STRING,
        ValueType::List { of } => WaveType::list(wave_type(of)?),
        ValueType::Record { fields } => WaveType::record(
            fields
                .iter()
                .map(|field| Ok((field.name.as_str(), wave_type(&field.ty)?)))
                .collect::<Result<Vec<_>, String>>()?,
        )
        .ok_or_else(empty)?,
        ValueType::Tuple { of } => {
            WaveType::tuple(of.iter().map(wave_type).collect::<Result<Vec<_>, _>>()?)
                .ok_or_else(empty)?
        }
        ValueType::Variant { cases } => WaveType::variant(
            cases
                .iter()
                .map(|case| Ok((case.name.as_str(), case.ty.as_ref().map(wave_type).transpose()?)))
                .collect::<Result<Vec<_>, String>>()?,
        )
        .ok_or_else(empty)?,
        ValueType::Enum { cases } => {
            WaveType::enum_ty(cases.iter().map(String::as_str)).ok_or_else(empty)?
        }
        ValueType::Option { of } => WaveType::option(wave_type(of)?),
        ValueType::Result { ok, err } => WaveType::result(
            ok.as_deref().map(wave_type).transpose()?,
            err.as_deref().map(wave_type).transpose()?,
        ),
        ValueType::Flags { names } => {
            WaveType::flags(names.iter().map(String::as_str)).ok_or_else(empty)?
        }
        ValueType::Unsupported { what } => return Err(format!("a call cannot pass a {what}")),
    })
}

/// A parsed WAVE value as a call's value of `ty`.
fn from_wave(ty: &ValueType, value: &WaveValue) -> Result<Value, String> {
    let payload = |ty: Option<&ValueType>, value: Option<Cow<'_, WaveValue>>| match (ty, value) {
        (Some(ty), Some(value)) => from_wave(ty, &value).map(|v| Some(Box::new(v))),
        _ => Ok(None),
    };
    Ok(match ty {
        ValueType::Bool => Value::Bool(value.unwrap_bool()),
        ValueType::S8 => Value::S8(value.unwrap_s8()),
        ValueType::U8 => Value::U8(value.unwrap_u8()),
        ValueType::S16 => Value::S16(value.unwrap_s16()),
        ValueType::U16 => Value::U16(value.unwrap_u16()),
        ValueType::S32 => Value::S32(value.unwrap_s32()),
        ValueType::U32 => Value::U32(value.unwrap_u32()),
        ValueType::S64 => Value::S64(value.unwrap_s64()),
        ValueType::U64 => Value::U64(value.unwrap_u64()),
        ValueType::F32 => Value::F32(value.unwrap_f32()),
        ValueType::F64 => Value::F64(value.unwrap_f64()),
        ValueType::Char => Value::Char(value.unwrap_char()),
        ValueType::String => Value::String(value.unwrap_string().into_owned()),
        ValueType::List { of } => Value::List(
            value.unwrap_list().map(|item| from_wave(of, &item)).collect::<Result<_, _>>()?,
        ),
        ValueType::Record { fields } => {
            let given: Vec<(String, WaveValue)> = value
                .unwrap_record()
                .map(|(name, value)| (name.into_owned(), value.into_owned()))
                .collect();
            let mut values = Vec::with_capacity(fields.len());
            for field in fields {
                let found = given.iter().find(|(name, _)| *name == field.name);
                let found = found.ok_or_else(|| format!("no field `{}`", field.name))?;
                values.push((field.name.clone(), from_wave(&field.ty, &found.1)?));
            }
            Value::Record(values)
        }
        ValueType::Tuple { of } => Value::Tuple(
            of.iter()
                .zip(value.unwrap_tuple())
                .map(|(ty, item)| from_wave(ty, &item))
                .collect::<Result<_, _>>()?,
        ),
        ValueType::Variant { cases } => {
            let (name, inner) = value.unwrap_variant();
            let case = cases.iter().find(|case| case.name == name);
            let case = case.ok_or_else(|| format!("no case `{name}`"))?;
            Value::Variant(name.into_owned(), payload(case.ty.as_ref(), inner)?)
        }
        ValueType::Enum { .. } => Value::Enum(value.unwrap_enum().into_owned()),
        ValueType::Option { of } => Value::Option(payload(Some(of), value.unwrap_option())?),
        ValueType::Result { ok, err } => Value::Result(match value.unwrap_result() {
            Ok(inner) => Ok(payload(ok.as_deref(), inner)?),
            Err(inner) => Err(payload(err.as_deref(), inner)?),
        }),
        ValueType::Flags { .. } => {
            Value::Flags(value.unwrap_flags().map(Cow::into_owned).collect())
        }
        ValueType::Unsupported { what } => return Err(format!("a call cannot pass a {what}")),
    })
}

/// A call's value as a WAVE value of `ty`, to print.
fn to_wave(ty: &ValueType, value: &Value) -> Result<WaveValue, String> {
    let wave = wave_type(ty)?;
    let fail = |e: wasm_wave::wasm::WasmValueError| e.to_string();
    let mismatch = || format!("the result does not fit its type {ty}");
    let payload = |ty: Option<&ValueType>, value: &Option<Box<Value>>| match (ty, value) {
        (Some(ty), Some(value)) => to_wave(ty, value).map(Some),
        _ => Ok(None),
    };
    Ok(match (ty, value) {
        (_, Value::Bool(b)) => WaveValue::make_bool(*b),
        (_, Value::S8(n)) => WaveValue::make_s8(*n),
        (_, Value::U8(n)) => WaveValue::make_u8(*n),
        (_, Value::S16(n)) => WaveValue::make_s16(*n),
        (_, Value::U16(n)) => WaveValue::make_u16(*n),
        (_, Value::S32(n)) => WaveValue::make_s32(*n),
        (_, Value::U32(n)) => WaveValue::make_u32(*n),
        (_, Value::S64(n)) => WaveValue::make_s64(*n),
        (_, Value::U64(n)) => WaveValue::make_u64(*n),
        (_, Value::F32(f)) => WaveValue::make_f32(*f),
        (_, Value::F64(f)) => WaveValue::make_f64(*f),
        (_, Value::Char(c)) => WaveValue::make_char(*c),
        (_, Value::String(s)) => WaveValue::make_string(Cow::Borrowed(s)),
        (ValueType::List { of }, Value::List(items)) => WaveValue::make_list(
            &wave,
            items.iter().map(|item| to_wave(of, item)).collect::<Result<Vec<_>, _>>()?,
        )
        .map_err(fail)?,
        (ValueType::Record { fields }, Value::Record(values)) => {
            let values = fields
                .iter()
                .zip(values)
                .map(|(field, (_, value))| Ok((field.name.as_str(), to_wave(&field.ty, value)?)))
                .collect::<Result<Vec<_>, String>>()?;
            WaveValue::make_record(&wave, values).map_err(fail)?
        }
        (ValueType::Tuple { of }, Value::Tuple(items)) => WaveValue::make_tuple(
            &wave,
            of.iter()
                .zip(items)
                .map(|(ty, item)| to_wave(ty, item))
                .collect::<Result<Vec<_>, _>>()?,
        )
        .map_err(fail)?,
        (ValueType::Variant { cases }, Value::Variant(name, inner)) => {
            let case = cases.iter().find(|case| &case.name == name).ok_or_else(mismatch)?;
            WaveValue::make_variant(&wave, name, payload(case.ty.as_ref(), inner)?).map_err(fail)?
        }
        (ValueType::Enum { .. }, Value::Enum(name)) => {
            WaveValue::make_enum(&wave, name).map_err(fail)?
        }
        (ValueType::Option { of }, Value::Option(inner)) => {
            WaveValue::make_option(&wave, payload(Some(of), inner)?).map_err(fail)?
        }
        (ValueType::Result { ok, err }, Value::Result(result)) => {
            let result = match result {
                Ok(inner) => Ok(payload(ok.as_deref(), inner)?),
                Err(inner) => Err(payload(err.as_deref(), inner)?),
            };
            WaveValue::make_result(&wave, result).map_err(fail)?
        }
        (ValueType::Flags { .. }, Value::Flags(names)) => {
            WaveValue::make_flags(&wave, names.iter().map(String::as_str)).map_err(fail)?
        }
        _ => return Err(mismatch()),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::call::{Case, Named};

    fn exports() -> Exports {
        let shape = ValueType::Variant {
            cases: vec![
                Case { name: "circle".into(), ty: Some(ValueType::F64) },
                Case { name: "empty".into(), ty: None },
            ],
        };
        let mut exports = Exports::default();
        exports.functions.insert(
            "square".into(),
            FuncType {
                params: vec![Named { name: "n".into(), ty: ValueType::S32 }],
                results: vec![ValueType::S32],
            },
        );
        exports.functions.insert(
            "my:pkg/shapes#area".into(),
            FuncType {
                params: vec![
                    Named { name: "s".into(), ty: shape },
                    Named {
                        name: "label".into(),
                        ty: ValueType::Option { of: Box::new(ValueType::String) },
                    },
                ],
                results: vec![ValueType::Result {
                    ok: Some(Box::new(ValueType::F64)),
                    err: Some(Box::new(ValueType::String)),
                }],
            },
        );
        exports
    }

    #[test]
    fn calls_parse_by_the_functions_types() {
        let exports = exports();
        assert_eq!(parse_call("square(7)", &exports).unwrap(), ("square".into(), json!([7])));
        let (name, params) =
            parse_call(r#"my:pkg/shapes#area(circle(2.0), some("a"))"#, &exports).unwrap();
        assert_eq!(name, "my:pkg/shapes#area");
        assert_eq!(params, json!([{"circle": 2.0}, "a"]));
        assert!(parse_call("square(\"x\")", &exports).is_err());
        assert!(parse_call("cube(2)", &exports).unwrap_err().contains("`square`"));
    }

    #[test]
    fn results_print_as_wave() {
        let exports = exports();
        let area = &exports.functions["my:pkg/shapes#area"];
        assert_eq!(format_result(area, &json!({"ok": 12.5})).unwrap(), "ok(12.5)");
        assert_eq!(format_result(area, &json!({"err": "no"})).unwrap(), "err(\"no\")");
        assert_eq!(format_result(&exports.functions["square"], &json!(49)).unwrap(), "49");
    }
}
