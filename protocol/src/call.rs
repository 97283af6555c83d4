//! Calls: a job that runs one exported function of a module with typed parameters instead of
//! running it as a command. What a module exports ([`Exports`], worked out when it is
//! compiled and kept with it), the types of those functions ([`ValueType`]), and the mapping
//! between JSON and component values ([`from_json`], [`to_json`]) that lets a submission be
//! checked before anything is queued.
//!
//! The mapping (the README has it as a table):
//!
//! | type | JSON |
//! |---|---|
//! | `bool` | `true` / `false` |
//! | `s8` … `u64` | a number (whole; `7.0` is taken as 7) |
//! | `f32`, `f64` | a number, or `"nan"`, `"inf"`, `"-inf"` |
//! | `char` | a string of one character |
//! | `string` | a string |
//! | `list<T>` | an array |
//! | `record` | an object by field name (option fields may be left out) |
//! | `tuple<…>` | an array of exactly its length |
//! | `option<T>` | `null` for `none`, the value for `some` (`{"some": v}` when `T` is an option) |
//! | `result<T, E>` | `{"ok": v}` or `{"err": e}` (`null` when the case has no payload) |
//! | `enum` | the case name as a string |
//! | `variant` | `{"case": payload}`, or `"case"` for a case without a payload |
//! | `flags` | an array of the names set |

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

/// The type of a parameter or a result, as far as a call can pass it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ValueType {
    /// `bool`.
    Bool,
    /// `s8`.
    S8,
    /// `u8`.
    U8,
    /// `s16`.
    S16,
    /// `u16`.
    U16,
    /// `s32` (also a core module's `i32`).
    S32,
    /// `u32`.
    U32,
    /// `s64` (also a core module's `i64`).
    S64,
    /// `u64`.
    U64,
    /// `f32`.
    F32,
    /// `f64`.
    F64,
    /// `char`.
    Char,
    /// `string`.
    String,
    /// `list<T>`.
    List {
        /// The element type.
        of: Box<ValueType>,
    },
    /// A record.
    Record {
        /// Its fields, in order.
        fields: Vec<Named>,
    },
    /// `tuple<…>`.
    Tuple {
        /// The element types.
        of: Vec<ValueType>,
    },
    /// A variant.
    Variant {
        /// Its cases, each with its payload type if it has one.
        cases: Vec<Case>,
    },
    /// An enum.
    Enum {
        /// Its case names.
        cases: Vec<String>,
    },
    /// `option<T>`.
    Option {
        /// The type of `some`.
        of: Box<ValueType>,
    },
    /// `result<T, E>`.
    Result {
        /// The `ok` payload's type, if it has one.
        ok: Option<Box<ValueType>>,
        /// The `err` payload's type, if it has one.
        err: Option<Box<ValueType>>,
    },
    /// Flags.
    Flags {
        /// The flag names.
        names: Vec<String>,
    },
    /// A type a call cannot pass (a resource, a stream, a future…), named.
    Unsupported {
        /// What it is.
        what: String,
    },
}

/// A named type: a record's field or a function's parameter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Named {
    /// The name.
    pub name: String,
    /// Its type.
    #[serde(rename = "of")]
    pub ty: ValueType,
}

/// A variant's case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    /// The case name.
    pub name: String,
    /// Its payload's type, if it has one.
    #[serde(rename = "of", default, skip_serializing_if = "Option::is_none")]
    pub ty: Option<ValueType>,
}

/// An exported function's type.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FuncType {
    /// Its parameters, in order.
    pub params: Vec<Named>,
    /// Its results: none or one for a component function, any number for a core one.
    pub results: Vec<ValueType>,
}

/// What a module offers: whether it runs as a command, and the functions a call may name
/// (a component's own exports by name, its interfaces' as `ns:pkg/iface#name`; a core
/// module's numeric exports).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exports {
    /// Whether it is a command (`_start`, `wasi:cli/run`): jobs without `call` run it.
    pub command: bool,
    /// The functions, by the name a call gives.
    pub functions: BTreeMap<String, FuncType>,
}

impl Exports {
    /// The function names, comma-separated, for messages (`none` when there are none).
    pub fn names(&self) -> String {
        if self.functions.is_empty() {
            return "none".into();
        }
        self.functions.keys().map(|name| format!("`{name}`")).collect::<Vec<_>>().join(", ")
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let simple = match self {
            ValueType::Bool => "bool",
            ValueType::S8 => "s8",
            ValueType::U8 => "u8",
            ValueType::S16 => "s16",
            ValueType::U16 => "u16",
            ValueType::S32 => "s32",
            ValueType::U32 => "u32",
            ValueType::S64 => "s64",
            ValueType::U64 => "u64",
            ValueType::F32 => "f32",
            ValueType::F64 => "f64",
            ValueType::Char => "char",
            ValueType::String => "string",
            _ => "",
        };
        if !simple.is_empty() {
            return f.write_str(simple);
        }
        let list = |items: Vec<String>| items.join(", ");
        match self {
            ValueType::List { of } => write!(f, "list<{of}>"),
            ValueType::Record { fields } => write!(
                f,
                "record {{ {} }}",
                list(fields.iter().map(|field| format!("{}: {}", field.name, field.ty)).collect())
            ),
            ValueType::Tuple { of } => {
                write!(f, "tuple<{}>", list(of.iter().map(ToString::to_string).collect()))
            }
            ValueType::Variant { cases } => write!(
                f,
                "variant {{ {} }}",
                list(
                    cases
                        .iter()
                        .map(|case| match &case.ty {
                            Some(ty) => format!("{}({ty})", case.name),
                            None => case.name.clone(),
                        })
                        .collect()
                )
            ),
            ValueType::Enum { cases } => write!(f, "enum {{ {} }}", cases.join(", ")),
            ValueType::Option { of } => write!(f, "option<{of}>"),
            ValueType::Result { ok, err } => match (ok, err) {
                (None, None) => f.write_str("result"),
                (Some(ok), None) => write!(f, "result<{ok}>"),
                (None, Some(err)) => write!(f, "result<_, {err}>"),
                (Some(ok), Some(err)) => write!(f, "result<{ok}, {err}>"),
            },
            ValueType::Flags { names } => write!(f, "flags {{ {} }}", names.join(", ")),
            ValueType::Unsupported { what } => f.write_str(what),
            _ => unreachable!("simple types are written above"),
        }
    }
}

impl fmt::Display for FuncType {
    /// `func(x: s32) -> s32`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let params: Vec<String> =
            self.params.iter().map(|param| format!("{}: {}", param.name, param.ty)).collect();
        write!(f, "func({})", params.join(", "))?;
        match self.results.as_slice() {
            [] => Ok(()),
            [one] => write!(f, " -> {one}"),
            many => {
                let many: Vec<String> = many.iter().map(ToString::to_string).collect();
                write!(f, " -> ({})", many.join(", "))
            }
        }
    }
}

/// A value of a [`ValueType`]: what a call's parameters become once checked, and what its
/// results are before they are written as JSON. It mirrors wasmtime's component `Val`.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `bool`.
    Bool(bool),
    /// `s8`.
    S8(i8),
    /// `u8`.
    U8(u8),
    /// `s16`.
    S16(i16),
    /// `u16`.
    U16(u16),
    /// `s32`.
    S32(i32),
    /// `u32`.
    U32(u32),
    /// `s64`.
    S64(i64),
    /// `u64`.
    U64(u64),
    /// `f32`.
    F32(f32),
    /// `f64`.
    F64(f64),
    /// `char`.
    Char(char),
    /// `string`.
    String(String),
    /// A list.
    List(Vec<Value>),
    /// A record: every field, in the type's order.
    Record(Vec<(String, Value)>),
    /// A tuple.
    Tuple(Vec<Value>),
    /// A variant's case and payload.
    Variant(String, Option<Box<Value>>),
    /// An enum's case.
    Enum(String),
    /// An option.
    Option(Option<Box<Value>>),
    /// A result.
    Result(Result<Option<Box<Value>>, Option<Box<Value>>>),
    /// The flags set.
    Flags(Vec<String>),
}

fn describe(json: &Json) -> String {
    let text = json.to_string();
    if text.chars().count() > 40 {
        format!("{}…", text.chars().take(40).collect::<String>())
    } else {
        text
    }
}

fn mismatch(path: &str, ty: &ValueType, json: &Json) -> String {
    format!("{}: expected {ty}, got {}", path, describe(json))
}

/// A whole number from JSON (an integral float counts), if it is one.
fn whole(json: &Json) -> Option<i128> {
    if let Some(n) = json.as_i64() {
        return Some(n.into());
    }
    if let Some(n) = json.as_u64() {
        return Some(n.into());
    }
    let f = json.as_f64()?;
    // Beyond 2^53 a float no longer names one integer.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    (f.fract() == 0.0 && (-EXACT..=EXACT).contains(&f)).then_some(f as i128)
}

fn float(json: &Json) -> Option<f64> {
    match json {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => match s.as_str() {
            "nan" => Some(f64::NAN),
            "inf" => Some(f64::INFINITY),
            "-inf" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

/// Converts JSON to a value of `ty`; a mismatch names `path` (e.g. ``parameter `x` ``), the
/// place inside it, and the expected type.
pub fn from_json(ty: &ValueType, json: &Json, path: &str) -> Result<Value, String> {
    let wrong = || mismatch(path, ty, json);
    macro_rules! int {
        ($variant:ident, $t:ty) => {{
            let n = whole(json).ok_or_else(wrong)?;
            <$t>::try_from(n)
                .map(Value::$variant)
                .map_err(|_| format!("{}: {} is out of range for {ty}", path, describe(json)))
        }};
    }
    match ty {
        ValueType::Bool => json.as_bool().map(Value::Bool).ok_or_else(wrong),
        ValueType::S8 => int!(S8, i8),
        ValueType::U8 => int!(U8, u8),
        ValueType::S16 => int!(S16, i16),
        ValueType::U16 => int!(U16, u16),
        ValueType::S32 => int!(S32, i32),
        ValueType::U32 => int!(U32, u32),
        ValueType::S64 => int!(S64, i64),
        ValueType::U64 => int!(U64, u64),
        ValueType::F32 => float(json).map(|f| Value::F32(f as f32)).ok_or_else(wrong),
        ValueType::F64 => float(json).map(Value::F64).ok_or_else(wrong),
        ValueType::Char => {
            let text = json.as_str().ok_or_else(wrong)?;
            let mut chars = text.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Ok(Value::Char(c)),
                _ => Err(wrong()),
            }
        }
        ValueType::String => json.as_str().map(|s| Value::String(s.to_string())).ok_or_else(wrong),
        ValueType::List { of } => {
            let items = json.as_array().ok_or_else(wrong)?;
            let items = items
                .iter()
                .enumerate()
                .map(|(i, item)| from_json(of, item, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?;
            Ok(Value::List(items))
        }
        ValueType::Record { fields } => {
            let object = json.as_object().ok_or_else(wrong)?;
            if let Some(unknown) =
                object.keys().find(|key| !fields.iter().any(|field| &field.name == *key))
            {
                return Err(format!("{}: {ty} has no field `{unknown}`", path));
            }
            let mut values = Vec::with_capacity(fields.len());
            for field in fields {
                let inner = format!("{path}.{}", field.name);
                let value = match (object.get(&field.name), &field.ty) {
                    (Some(json), ty) => from_json(ty, json, &inner)?,
                    (None, ValueType::Option { .. }) => Value::Option(None),
                    (None, ty) => {
                        return Err(format!("{inner}: missing (expected {ty})"));
                    }
                };
                values.push((field.name.clone(), value));
            }
            Ok(Value::Record(values))
        }
        ValueType::Tuple { of } => {
            let items = json.as_array().filter(|items| items.len() == of.len());
            let items = items.ok_or_else(wrong)?;
            let values = of
                .iter()
                .zip(items)
                .enumerate()
                .map(|(i, (ty, item))| from_json(ty, item, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?;
            Ok(Value::Tuple(values))
        }
        ValueType::Variant { cases } => {
            let (name, payload) = one_key(json).ok_or_else(wrong)?;
            let case = cases
                .iter()
                .find(|case| case.name == name)
                .ok_or_else(|| format!("{}: `{name}` is not a case of {ty}", path))?;
            let payload = match (&case.ty, payload) {
                (None, None | Some(Json::Null)) => None,
                (None, Some(other)) => {
                    return Err(format!(
                        "{}: case `{name}` of {ty} has no payload, got {}",
                        path,
                        describe(other)
                    ));
                }
                (Some(ty), Some(json)) => {
                    Some(Box::new(from_json(ty, json, &format!("{path}.{name}"))?))
                }
                (Some(ty), None) => {
                    return Err(format!("{}: case `{name}` needs a payload of {ty}", path));
                }
            };
            Ok(Value::Variant(name, payload))
        }
        ValueType::Enum { cases } => {
            let name = json.as_str().ok_or_else(wrong)?;
            match cases.iter().any(|case| case == name) {
                true => Ok(Value::Enum(name.to_string())),
                false => Err(format!("{}: `{name}` is not a case of {ty}", path)),
            }
        }
        ValueType::Option { of } => match json {
            Json::Null => Ok(Value::Option(None)),
            // `some` of a nested option is written `{"some": v}`: `null` alone is `none`.
            _ if matches!(**of, ValueType::Option { .. }) => {
                let inner = json.as_object().and_then(|o| o.get("some")).ok_or_else(wrong)?;
                let value = from_json(of, inner, &format!("{path}.some"))?;
                Ok(Value::Option(Some(Box::new(value))))
            }
            _ => Ok(Value::Option(Some(Box::new(from_json(of, json, path)?)))),
        },
        ValueType::Result { ok, err } => {
            let (name, payload) = one_key(json).ok_or_else(wrong)?;
            let payload_of = |ty: &Option<Box<ValueType>>| -> Result<Option<Box<Value>>, String> {
                match (ty, payload) {
                    (None, None | Some(Json::Null)) => Ok(None),
                    (Some(ty), Some(json)) => {
                        Ok(Some(Box::new(from_json(ty, json, &format!("{path}.{name}"))?)))
                    }
                    _ => Err(wrong()),
                }
            };
            match name.as_str() {
                "ok" => Ok(Value::Result(Ok(payload_of(ok)?))),
                "err" => Ok(Value::Result(Err(payload_of(err)?))),
                _ => Err(wrong()),
            }
        }
        ValueType::Flags { names } => {
            let items = json.as_array().ok_or_else(wrong)?;
            let mut set = Vec::new();
            for item in items {
                let name = item.as_str().ok_or_else(wrong)?;
                if !names.iter().any(|known| known == name) {
                    return Err(format!("{}: `{name}` is not a flag of {ty}", path));
                }
                if !set.iter().any(|known| known == name) {
                    set.push(name.to_string());
                }
            }
            Ok(Value::Flags(set))
        }
        ValueType::Unsupported { what } => Err(format!("{}: a call cannot pass a {what}", path)),
    }
}

/// `{"name": payload}` (one key) or `"name"` (no payload).
fn one_key(json: &Json) -> Option<(String, Option<&Json>)> {
    match json {
        Json::String(name) => Some((name.clone(), None)),
        Json::Object(object) if object.len() == 1 => {
            object.iter().next().map(|(name, payload)| (name.clone(), Some(payload)))
        }
        _ => None,
    }
}

fn float_json(f: f64) -> Json {
    if f.is_nan() {
        Json::from("nan")
    } else if f.is_infinite() {
        Json::from(if f > 0.0 { "inf" } else { "-inf" })
    } else {
        serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number)
    }
}

/// Writes a value as JSON, by the mapping [`from_json`] reads.
pub fn to_json(value: &Value) -> Json {
    let payload = |payload: &Option<Box<Value>>| payload.as_deref().map_or(Json::Null, to_json);
    let keyed = |name: &str, payload: Json| {
        let mut object = Map::new();
        object.insert(name.to_string(), payload);
        Json::Object(object)
    };
    match value {
        Value::Bool(b) => Json::from(*b),
        Value::S8(n) => Json::from(*n),
        Value::U8(n) => Json::from(*n),
        Value::S16(n) => Json::from(*n),
        Value::U16(n) => Json::from(*n),
        Value::S32(n) => Json::from(*n),
        Value::U32(n) => Json::from(*n),
        Value::S64(n) => Json::from(*n),
        Value::U64(n) => Json::from(*n),
        Value::F32(f) => float_json(f64::from(*f)),
        Value::F64(f) => float_json(*f),
        Value::Char(c) => Json::from(c.to_string()),
        Value::String(s) => Json::from(s.as_str()),
        Value::List(items) | Value::Tuple(items) => {
            Json::Array(items.iter().map(to_json).collect())
        }
        Value::Record(fields) => Json::Object(
            fields.iter().map(|(name, value)| (name.clone(), to_json(value))).collect(),
        ),
        Value::Variant(name, None) => Json::from(name.as_str()),
        Value::Variant(name, Some(payload)) => keyed(name, to_json(payload)),
        Value::Enum(name) => Json::from(name.as_str()),
        Value::Option(None) => Json::Null,
        Value::Option(Some(inner)) => match **inner {
            Value::Option(_) => keyed("some", to_json(inner)),
            _ => to_json(inner),
        },
        Value::Result(Ok(ok)) => keyed("ok", payload(ok)),
        Value::Result(Err(err)) => keyed("err", payload(err)),
        Value::Flags(names) => Json::Array(names.iter().map(|n| Json::from(n.as_str())).collect()),
    }
}

/// A call's results as the job's `result`: `null` for none, the value for one, an array for
/// several (core functions only).
pub fn results_json(results: &[Value]) -> Json {
    match results {
        [] => Json::Null,
        [one] => to_json(one),
        many => Json::Array(many.iter().map(to_json).collect()),
    }
}

/// Checks a call's parameters (a JSON array, or an object by parameter name) against the
/// function's type; trailing option parameters may be left out. Returns the values, or a
/// sentence naming the function, the parameter and the expected type.
pub fn check_params(function: &str, ty: &FuncType, params: &Json) -> Result<Vec<Value>, String> {
    let given: Vec<Option<&Json>> = match params {
        Json::Array(items) => {
            if items.len() > ty.params.len() {
                return Err(format!(
                    "`{function}` takes {} parameter(s), {} given: {function}: {ty}",
                    ty.params.len(),
                    items.len()
                ));
            }
            (0..ty.params.len()).map(|i| items.get(i)).collect()
        }
        Json::Object(object) => {
            if let Some(unknown) =
                object.keys().find(|key| !ty.params.iter().any(|param| &param.name == *key))
            {
                return Err(format!("`{function}` has no parameter `{unknown}`: {function}: {ty}"));
            }
            ty.params.iter().map(|param| object.get(&param.name)).collect()
        }
        other => {
            return Err(format!(
                "params must be an array (or an object by parameter name), got {}",
                describe(other)
            ));
        }
    };
    let mut values = Vec::with_capacity(ty.params.len());
    for (param, json) in ty.params.iter().zip(given) {
        let path = format!("parameter `{}` of `{function}`", param.name);
        values.push(match (json, &param.ty) {
            (Some(json), ty) => from_json(ty, json, &path)?,
            (None, ValueType::Option { .. }) => Value::Option(None),
            (None, ty) => return Err(format!("{path}: missing (expected {ty})")),
        });
    }
    Ok(values)
}

/// Checks a job against what its module exports, before it is queued: a call must name an
/// exported function and fit its parameters (returned as the JSON array to store); a job
/// without a call needs a command. `exports` is `None` for a module stored before wasmpool
/// kept its exports (it was a command). `module` names the module in messages.
pub fn check_job(
    module: &str,
    exports: Option<&Exports>,
    call: Option<&str>,
    params: Option<&str>,
) -> Result<Option<String>, String> {
    let (Some(exports), Some(function)) = (exports, call) else {
        return match (exports, call) {
            (Some(exports), None) if !exports.command => Err(format!(
                "module `{module}` is not a WASI command: give `call` to call one of its \
                 functions ({})",
                exports.names()
            )),
            (None, Some(_)) => Err(format!(
                "module `{module}` was uploaded before wasmpool kept what modules export: \
                 upload it again to call its functions"
            )),
            _ => Ok(None),
        };
    };
    let Some(ty) = exports.functions.get(function) else {
        return Err(format!(
            "module `{module}` exports no function `{function}`; it exports: {}",
            exports.names()
        ));
    };
    let params: Json = match params {
        Some(text) => serde_json::from_str(text).map_err(|e| format!("params: {e}"))?,
        None => Json::Array(Vec::new()),
    };
    let values = check_params(function, ty, &params)?;
    Ok(Some(Json::Array(values.iter().map(to_json).collect()).to_string()))
}

#[cfg(test)]
mod tests {
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
                ValueType::Option {
                    of: Box::new(ValueType::Option { of: Box::new(ValueType::U32) }),
                },
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
}
