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
use serde_json::Value as Json;

mod json;
#[cfg(test)]
mod tests;

use json::describe;
pub use json::{from_json, results_json, to_json};

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
    let Some((function, ty)) = function(module, exports, call)? else { return Ok(None) };
    let params: Json = match params {
        Some(text) => serde_json::from_str(text).map_err(|e| format!("params: {e}"))?,
        None => Json::Array(Vec::new()),
    };
    let values = check_params(function, ty, &params)?;
    Ok(Some(Json::Array(values.iter().map(to_json).collect()).to_string()))
}

/// Checks a call whose parameters will be its `parents` parents' results (in order): the
/// function exists and takes that many, those after them being options (left out). Their
/// types are checked when the results are known, as the job is run.
pub fn check_parent_params(
    module: &str,
    exports: Option<&Exports>,
    call: Option<&str>,
    parents: usize,
) -> Result<(), String> {
    let Some((function, ty)) = function(module, exports, call)? else {
        return Err("params_from_parents needs `call`".into());
    };
    if parents > ty.params.len() {
        return Err(format!(
            "`{function}` takes {} parameter(s); params_from_parents would give it {parents} \
             (one per parent): {function}: {ty}",
            ty.params.len()
        ));
    }
    match ty.params[parents..].iter().find(|p| !matches!(p.ty, ValueType::Option { .. })) {
        Some(param) => Err(format!(
            "parameter `{}` of `{function}` would get no value: params_from_parents gives \
             {parents} (one per parent): {function}: {ty}",
            param.name
        )),
        None => Ok(()),
    }
}

/// The function a job calls, with its type; `None` for a command (checked to be one).
fn function<'a, 'b>(
    module: &str,
    exports: Option<&'a Exports>,
    call: Option<&'b str>,
) -> Result<Option<(&'b str, &'a FuncType)>, String> {
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
    match exports.functions.get(function) {
        Some(ty) => Ok(Some((function, ty))),
        None => Err(format!(
            "module `{module}` exports no function `{function}`; it exports: {}",
            exports.names()
        )),
    }
}
