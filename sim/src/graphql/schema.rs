//! The served subset of GitHub's GraphQL schema (`schema.graphql` beside this file), parsed
//! once into lookup tables for validation and execution.

use std::collections::HashMap;
use std::sync::OnceLock;

use graphql_parser::schema::{self as s, Definition, TypeDefinition};
use serde_json::Value;

/// The schema the simulator serves, as GitHub's SDL (public for the schema test).
pub const SDL: &str = include_str!("schema.graphql");

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ty {
    Named(String),
    List(Box<Ty>),
    NonNull(Box<Ty>),
}

impl Ty {
    pub fn named(&self) -> &str {
        match self {
            Ty::Named(n) => n,
            Ty::List(t) | Ty::NonNull(t) => t.named(),
        }
    }
}

impl std::fmt::Display for Ty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ty::Named(n) => write!(f, "{n}"),
            Ty::List(t) => write!(f, "[{t}]"),
            Ty::NonNull(t) => write!(f, "{t}!"),
        }
    }
}

fn ty(t: &s::Type<'_, String>) -> Ty {
    match t {
        s::Type::NamedType(n) => Ty::Named(n.clone()),
        s::Type::ListType(t) => Ty::List(Box::new(ty(t))),
        s::Type::NonNullType(t) => Ty::NonNull(Box::new(ty(t))),
    }
}

#[derive(Debug)]
pub struct Arg {
    pub ty: Ty,
    pub default: Option<Value>,
}

#[derive(Debug)]
pub struct Field {
    pub args: Vec<(String, Arg)>,
    pub ty: Ty,
}

#[derive(Debug)]
pub enum Kind {
    Object {
        fields: HashMap<String, Field>,
        interfaces: Vec<String>,
    },
    Interface {
        fields: HashMap<String, Field>,
    },
    Union {
        members: Vec<String>,
    },
    Enum {
        values: Vec<String>,
    },
    Scalar,
    /// An input object: its fields, as arguments are.
    InputObject {
        fields: Vec<(String, Arg)>,
    },
}

#[derive(Debug)]
pub struct Schema {
    pub types: HashMap<String, Kind>,
}

/// A constant of the schema file as JSON (defaults only use scalars and enums).
fn constant(v: &s::Value<'_, String>) -> Value {
    use graphql_parser::query::Value as V;
    match v {
        V::Int(n) => n.as_i64().map_or(Value::Null, Value::from),
        V::Float(f) => Value::from(*f),
        V::String(s) | V::Enum(s) => Value::from(s.clone()),
        V::Boolean(b) => Value::from(*b),
        V::List(l) => Value::Array(l.iter().map(constant).collect()),
        V::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), constant(v))).collect()),
        V::Null | V::Variable(_) => Value::Null,
    }
}

fn fields(fs: &[s::Field<'_, String>]) -> HashMap<String, Field> {
    fs.iter()
        .map(|f| {
            let args = f
                .arguments
                .iter()
                .map(|a| {
                    (
                        a.name.clone(),
                        Arg {
                            ty: ty(&a.value_type),
                            default: a.default_value.as_ref().map(constant),
                        },
                    )
                })
                .collect();
            (
                f.name.clone(),
                Field {
                    args,
                    ty: ty(&f.field_type),
                },
            )
        })
        .collect()
}

impl Schema {
    fn parse() -> Result<Schema, String> {
        let doc = graphql_parser::parse_schema::<String>(SDL).map_err(|e| e.to_string())?;
        let mut types = HashMap::new();
        for d in &doc.definitions {
            let Definition::TypeDefinition(t) = d else {
                continue;
            };
            let (name, kind) = match t {
                TypeDefinition::Object(o) => (
                    o.name.clone(),
                    Kind::Object {
                        fields: fields(&o.fields),
                        interfaces: o.implements_interfaces.clone(),
                    },
                ),
                TypeDefinition::Interface(i) => (
                    i.name.clone(),
                    Kind::Interface {
                        fields: fields(&i.fields),
                    },
                ),
                TypeDefinition::Union(u) => (
                    u.name.clone(),
                    Kind::Union {
                        members: u.types.clone(),
                    },
                ),
                TypeDefinition::Enum(e) => (
                    e.name.clone(),
                    Kind::Enum {
                        values: e.values.iter().map(|v| v.name.clone()).collect(),
                    },
                ),
                TypeDefinition::Scalar(sc) => (sc.name.clone(), Kind::Scalar),
                TypeDefinition::InputObject(i) => (
                    i.name.clone(),
                    Kind::InputObject {
                        fields: i
                            .fields
                            .iter()
                            .map(|f| {
                                (
                                    f.name.clone(),
                                    Arg {
                                        ty: ty(&f.value_type),
                                        default: f.default_value.as_ref().map(constant),
                                    },
                                )
                            })
                            .collect(),
                    },
                ),
            };
            types.insert(name, kind);
        }
        for builtin in ["String", "Int", "Boolean", "ID", "Float"] {
            types.insert(builtin.to_string(), Kind::Scalar);
        }
        Ok(Schema { types })
    }

    /// The schema, parsed once; `Err` only if the file beside this module is broken.
    pub fn get() -> Result<&'static Schema, &'static str> {
        static SCHEMA: OnceLock<Result<Schema, String>> = OnceLock::new();
        SCHEMA
            .get_or_init(Schema::parse)
            .as_ref()
            .map_err(String::as_str)
    }

    pub fn field(&self, type_name: &str, field: &str) -> Option<&Field> {
        match self.types.get(type_name)? {
            Kind::Object { fields, .. } | Kind::Interface { fields } => fields.get(field),
            _ => None,
        }
    }

    /// Whether an object of type `concrete` is of type `abstract_or_same`.
    pub fn is_subtype(&self, concrete: &str, of: &str) -> bool {
        if concrete == of {
            return true;
        }
        match self.types.get(of) {
            Some(Kind::Union { members }) => members.iter().any(|m| m == concrete),
            Some(Kind::Interface { .. }) => matches!(
                self.types.get(concrete),
                Some(Kind::Object { interfaces, .. }) if interfaces.iter().any(|i| i == of)
            ),
            _ => false,
        }
    }

    /// Whether a fragment on `cond` can apply inside a selection on `parent` (the two
    /// types' possible objects overlap).
    pub fn can_spread(&self, cond: &str, parent: &str) -> bool {
        let possible = |t: &str| -> Vec<String> {
            match self.types.get(t) {
                Some(Kind::Object { .. }) => vec![t.to_string()],
                Some(Kind::Union { members }) => members.clone(),
                Some(Kind::Interface { .. }) => self
                    .types
                    .iter()
                    .filter(|(n, _)| self.is_subtype(n, t) && n.as_str() != t)
                    .map(|(n, _)| n.clone())
                    .collect(),
                _ => vec![],
            }
        };
        let a = possible(cond);
        possible(parent).iter().any(|p| a.contains(p))
    }

    pub fn is_leaf(&self, type_name: &str) -> bool {
        matches!(
            self.types.get(type_name),
            Some(Kind::Scalar | Kind::Enum { .. })
        )
    }

    /// Connections follow GitHub's naming: a type whose name ends in `Connection`.
    pub fn is_connection(type_name: &str) -> bool {
        type_name.ends_with("Connection")
    }
}
