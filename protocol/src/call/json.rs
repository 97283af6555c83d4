//! The mapping between JSON and component values (the table is in the module above and in
//! the README): [`from_json`] reads a parameter by its type, naming the place of a mismatch;
//! [`to_json`] writes a value back.

use serde_json::{Map, Value as Json};

use super::{Case, Named, Value, ValueType};

/// A short rendering of a JSON value for messages (its first 40 characters).
pub(super) fn describe(json: &Json) -> String {
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
            let mut chars = json.as_str().ok_or_else(wrong)?.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Ok(Value::Char(c)),
                _ => Err(wrong()),
            }
        }
        ValueType::String => json.as_str().map(|s| Value::String(s.to_string())).ok_or_else(wrong),
        ValueType::List { of } => {
            let items = json.as_array().ok_or_else(wrong)?;
            Ok(Value::List(each(items.iter().map(|item| (&**of, item)), path)?))
        }
        ValueType::Record { fields } => record(ty, fields, json, path),
        ValueType::Tuple { of } => {
            let items = json.as_array().filter(|items| items.len() == of.len());
            Ok(Value::Tuple(each(of.iter().zip(items.ok_or_else(wrong)?), path)?))
        }
        ValueType::Variant { cases } => variant(ty, cases, json, path),
        ValueType::Enum { cases } => {
            let name = json.as_str().ok_or_else(wrong)?;
            match cases.iter().any(|case| case == name) {
                true => Ok(Value::Enum(name.to_string())),
                false => Err(format!("{}: `{name}` is not a case of {ty}", path)),
            }
        }
        ValueType::Option { of } => option(ty, of, json, path),
        ValueType::Result { ok, err } => result(ty, (ok, err), json, path),
        ValueType::Flags { names } => flags(ty, names, json, path),
        ValueType::Unsupported { what } => Err(format!("{}: a call cannot pass a {what}", path)),
    }
}

/// The items of a list or a tuple, each with its type; a mismatch names its index.
fn each<'a>(
    items: impl Iterator<Item = (&'a ValueType, &'a Json)>,
    path: &str,
) -> Result<Vec<Value>, String> {
    items.enumerate().map(|(i, (ty, item))| from_json(ty, item, &format!("{path}[{i}]"))).collect()
}

fn record(ty: &ValueType, fields: &[Named], json: &Json, path: &str) -> Result<Value, String> {
    let object = json.as_object().ok_or_else(|| mismatch(path, ty, json))?;
    if let Some(unknown) = object.keys().find(|key| !fields.iter().any(|field| &field.name == *key))
    {
        return Err(format!("{}: {ty} has no field `{unknown}`", path));
    }
    let mut values = Vec::with_capacity(fields.len());
    for field in fields {
        let inner = format!("{path}.{}", field.name);
        let value = match (object.get(&field.name), &field.ty) {
            (Some(json), ty) => from_json(ty, json, &inner)?,
            (None, ValueType::Option { .. }) => Value::Option(None),
            (None, ty) => return Err(format!("{inner}: missing (expected {ty})")),
        };
        values.push((field.name.clone(), value));
    }
    Ok(Value::Record(values))
}

fn variant(ty: &ValueType, cases: &[Case], json: &Json, path: &str) -> Result<Value, String> {
    let (name, payload) = one_key(json).ok_or_else(|| mismatch(path, ty, json))?;
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
        (Some(ty), Some(json)) => Some(Box::new(from_json(ty, json, &format!("{path}.{name}"))?)),
        (Some(ty), None) => {
            return Err(format!("{}: case `{name}` needs a payload of {ty}", path));
        }
    };
    Ok(Value::Variant(name, payload))
}

fn option(ty: &ValueType, of: &ValueType, json: &Json, path: &str) -> Result<Value, String> {
    match json {
        Json::Null => Ok(Value::Option(None)),
        // `some` of a nested option is written `{"some": v}`: `null` alone is `none`.
        _ if matches!(of, ValueType::Option { .. }) => {
            let inner = json.as_object().and_then(|o| o.get("some"));
            let inner = inner.ok_or_else(|| mismatch(path, ty, json))?;
            let value = from_json(of, inner, &format!("{path}.some"))?;
            Ok(Value::Option(Some(Box::new(value))))
        }
        _ => Ok(Value::Option(Some(Box::new(from_json(of, json, path)?)))),
    }
}

type Payload = Option<Box<ValueType>>;

fn result(
    ty: &ValueType,
    (ok, err): (&Payload, &Payload),
    json: &Json,
    path: &str,
) -> Result<Value, String> {
    let wrong = || mismatch(path, ty, json);
    let (name, payload) = one_key(json).ok_or_else(wrong)?;
    let payload_of = |ty: &Payload| -> Result<Option<Box<Value>>, String> {
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

fn flags(ty: &ValueType, names: &[String], json: &Json, path: &str) -> Result<Value, String> {
    let wrong = || mismatch(path, ty, json);
    let mut set = Vec::new();
    for item in json.as_array().ok_or_else(wrong)? {
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
