//! Calls into a module's exports: describing what a compiled module exports (kept with the
//! module, so a submission is checked without wasmtime), and turning checked parameters into
//! wasmtime's values and results back.

use wasmtime::component::types::{self as ct, ComponentItem};
use wasmtime::component::{Component, Val};
use wasmtime::{Engine, ExternType, Module, ValType};

use crate::call::{Case, Exports, FuncType, Named, Value, ValueType};

/// The functions a component exports, at the top level and in its exported interfaces
/// (`ns:pkg/iface#name`), and whether it is a command.
pub fn describe_component(engine: &Engine, component: &Component) -> Exports {
    let ty = component.component_type();
    let mut exports = Exports::default();
    for (name, export) in ty.exports(engine) {
        match export.ty {
            ComponentItem::ComponentFunc(func) => {
                exports.functions.insert(name.to_string(), func_type(&func));
            }
            ComponentItem::ComponentInstance(instance) => {
                if name.starts_with("wasi:cli/run@") {
                    exports.command = true;
                }
                for (inner, item) in instance.exports(engine) {
                    if let ComponentItem::ComponentFunc(func) = item.ty {
                        exports.functions.insert(format!("{name}#{inner}"), func_type(&func));
                    }
                }
            }
            _ => {}
        }
    }
    exports
}

/// The numeric functions a core module exports (not `_start`, `_initialize`, nor the
/// toolchain's own `__` names such as `__main_void`), and whether it is a command.
pub fn describe_module(module: &Module) -> Exports {
    let mut exports = Exports::default();
    for export in module.exports() {
        let ExternType::Func(func) = export.ty() else { continue };
        match export.name() {
            "_start" => exports.command = true,
            "_initialize" => {}
            name if name.starts_with("__") => {}
            name => {
                let params = func
                    .params()
                    .enumerate()
                    .map(|(i, ty)| Named { name: format!("p{i}"), ty: core_type(&ty) })
                    .collect();
                let results = func.results().map(|ty| core_type(&ty)).collect();
                exports.functions.insert(name.to_string(), FuncType { params, results });
            }
        }
    }
    exports
}

fn func_type(func: &ct::ComponentFunc) -> FuncType {
    if func.async_() {
        let unsupported = ValueType::Unsupported { what: "async function".into() };
        return FuncType {
            params: vec![Named { name: "async".into(), ty: unsupported }],
            results: Vec::new(),
        };
    }
    FuncType {
        params: func
            .params()
            .map(|(name, ty)| Named { name: name.to_string(), ty: value_type(&ty) })
            .collect(),
        results: func.results().map(|ty| value_type(&ty)).collect(),
    }
}

/// A core value type as a call sees it.
pub fn core_type(ty: &ValType) -> ValueType {
    match ty {
        ValType::I32 => ValueType::S32,
        ValType::I64 => ValueType::S64,
        ValType::F32 => ValueType::F32,
        ValType::F64 => ValueType::F64,
        other => ValueType::Unsupported { what: format!("core `{other}`") },
    }
}

/// A component type as a call sees it.
pub fn value_type(ty: &ct::Type) -> ValueType {
    use ct::Type as T;
    let boxed = |ty: &ct::Type| Box::new(value_type(ty));
    match ty {
        T::Bool => ValueType::Bool,
        T::S8 => ValueType::S8,
        T::U8 => ValueType::U8,
        T::S16 => ValueType::S16,
        T::U16 => ValueType::U16,
        T::S32 => ValueType::S32,
        T::U32 => ValueType::U32,
        T::S64 => ValueType::S64,
        T::U64 => ValueType::U64,
        T::Float32 => ValueType::F32,
        T::Float64 => ValueType::F64,
        T::Char => ValueType::Char,
        T::String => ValueType::String,
        T::List(list) => ValueType::List { of: boxed(&list.ty()) },
        T::Record(record) => ValueType::Record {
            fields: record
                .fields()
                .map(|field| Named { name: field.name.to_string(), ty: value_type(&field.ty) })
                .collect(),
        },
        T::Tuple(tuple) => {
            ValueType::Tuple { of: tuple.types().map(|ty| value_type(&ty)).collect() }
        }
        T::Variant(variant) => ValueType::Variant {
            cases: variant
                .cases()
                .map(|case| Case {
                    name: case.name.to_string(),
                    ty: case.ty.as_ref().map(value_type),
                })
                .collect(),
        },
        T::Enum(names) => ValueType::Enum { cases: names.names().map(str::to_string).collect() },
        T::Option(option) => ValueType::Option { of: boxed(&option.ty()) },
        T::Result(result) => ValueType::Result {
            ok: result.ok().as_ref().map(boxed),
            err: result.err().as_ref().map(boxed),
        },
        T::Flags(flags) => ValueType::Flags { names: flags.names().map(str::to_string).collect() },
        T::Own(_) | T::Borrow(_) => ValueType::Unsupported { what: "resource".into() },
        T::Map(_) => ValueType::Unsupported { what: "map".into() },
        T::Future(_) => ValueType::Unsupported { what: "future".into() },
        T::Stream(_) => ValueType::Unsupported { what: "stream".into() },
        T::ErrorContext => ValueType::Unsupported { what: "error-context".into() },
        T::FixedLengthList(_) => ValueType::Unsupported { what: "fixed-length list".into() },
    }
}

/// A checked value as wasmtime's component value.
pub fn to_val(value: Value) -> Val {
    let boxed = |value: Option<Box<Value>>| value.map(|value| Box::new(to_val(*value)));
    match value {
        Value::Bool(b) => Val::Bool(b),
        Value::S8(n) => Val::S8(n),
        Value::U8(n) => Val::U8(n),
        Value::S16(n) => Val::S16(n),
        Value::U16(n) => Val::U16(n),
        Value::S32(n) => Val::S32(n),
        Value::U32(n) => Val::U32(n),
        Value::S64(n) => Val::S64(n),
        Value::U64(n) => Val::U64(n),
        Value::F32(f) => Val::Float32(f),
        Value::F64(f) => Val::Float64(f),
        Value::Char(c) => Val::Char(c),
        Value::String(s) => Val::String(s),
        Value::List(items) => Val::List(items.into_iter().map(to_val).collect()),
        Value::Record(fields) => {
            Val::Record(fields.into_iter().map(|(name, value)| (name, to_val(value))).collect())
        }
        Value::Tuple(items) => Val::Tuple(items.into_iter().map(to_val).collect()),
        Value::Variant(name, payload) => Val::Variant(name, boxed(payload)),
        Value::Enum(name) => Val::Enum(name),
        Value::Option(inner) => Val::Option(boxed(inner)),
        Value::Result(Ok(ok)) => Val::Result(Ok(boxed(ok))),
        Value::Result(Err(err)) => Val::Result(Err(boxed(err))),
        Value::Flags(names) => Val::Flags(names),
    }
}

/// A component value a call returned; `Err` for one a call cannot pass back.
pub fn from_val(val: &Val) -> Result<Value, String> {
    let boxed = |val: &Option<Box<Val>>| -> Result<Option<Box<Value>>, String> {
        val.as_deref().map(|val| from_val(val).map(Box::new)).transpose()
    };
    let all = |vals: &[Val]| vals.iter().map(from_val).collect::<Result<Vec<_>, _>>();
    Ok(match val {
        Val::Bool(b) => Value::Bool(*b),
        Val::S8(n) => Value::S8(*n),
        Val::U8(n) => Value::U8(*n),
        Val::S16(n) => Value::S16(*n),
        Val::U16(n) => Value::U16(*n),
        Val::S32(n) => Value::S32(*n),
        Val::U32(n) => Value::U32(*n),
        Val::S64(n) => Value::S64(*n),
        Val::U64(n) => Value::U64(*n),
        Val::Float32(f) => Value::F32(*f),
        Val::Float64(f) => Value::F64(*f),
        Val::Char(c) => Value::Char(*c),
        Val::String(s) => Value::String(s.clone()),
        Val::List(items) => Value::List(all(items)?),
        Val::Record(fields) => Value::Record(
            fields
                .iter()
                .map(|(name, val)| Ok((name.clone(), from_val(val)?)))
                .collect::<Result<_, String>>()?,
        ),
        Val::Tuple(items) => Value::Tuple(all(items)?),
        Val::Variant(name, payload) => Value::Variant(name.clone(), boxed(payload)?),
        Val::Enum(name) => Value::Enum(name.clone()),
        Val::Option(inner) => Value::Option(boxed(inner)?),
        Val::Result(Ok(ok)) => Value::Result(Ok(boxed(ok)?)),
        Val::Result(Err(err)) => Value::Result(Err(boxed(err)?)),
        Val::Flags(names) => Value::Flags(names.clone()),
        other => return Err(format!("the call returned a value it cannot pass back: {other:?}")),
    })
}

/// A checked value as a core WebAssembly value (the call's types are numeric).
pub fn to_core(value: Value) -> Result<wasmtime::Val, String> {
    match value {
        Value::S32(n) => Ok(wasmtime::Val::I32(n)),
        Value::S64(n) => Ok(wasmtime::Val::I64(n)),
        Value::F32(f) => Ok(wasmtime::Val::F32(f.to_bits())),
        Value::F64(f) => Ok(wasmtime::Val::F64(f.to_bits())),
        other => Err(format!("a core function cannot take {other:?}")),
    }
}

/// A core value a call returned.
pub fn from_core(val: &wasmtime::Val) -> Result<Value, String> {
    match val {
        wasmtime::Val::I32(n) => Ok(Value::S32(*n)),
        wasmtime::Val::I64(n) => Ok(Value::S64(*n)),
        wasmtime::Val::F32(bits) => Ok(Value::F32(f32::from_bits(*bits))),
        wasmtime::Val::F64(bits) => Ok(Value::F64(f64::from_bits(*bits))),
        other => Err(format!("the call returned a value it cannot pass back: {other:?}")),
    }
}
