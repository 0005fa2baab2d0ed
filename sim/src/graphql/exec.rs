//! Validation and execution of one GraphQL request against the served schema, with GitHub's
//! rules and messages (GitHub runs graphql-ruby; its messages are quoted below). Validation
//! runs first, on the whole document: an invalid query gets `{"errors": [...]}` and no `data`,
//! as on GitHub. Execution then resolves fields through a [`Resolve`] over the simulator's
//! state, enforcing the schema's types: a null in a non-null field nulls its parent and is
//! reported, an enum value the schema does not know is an error, never passed on.

use std::collections::HashMap;

use graphql_parser::Pos;
use graphql_parser::query::{
    Definition, Document, Field, FragmentDefinition, OperationDefinition, Selection, SelectionSet,
    TypeCondition, Value as QValue, VariableDefinition,
};
use serde_json::{Map, Value, json};

use super::schema::{Kind, Schema, Ty};

/// GitHub's page limit: "Values of `first` and `last` must be within 1-100"
/// (docs.github.com/en/graphql/overview/rate-limits-and-query-limits-for-the-graphql-api).
pub const MAX_PAGE: i64 = 100;

/// What a field resolves to, before the schema's type is applied.
pub enum Out<N> {
    Null,
    Leaf(Value),
    Node(N),
    List(Vec<Out<N>>),
}

/// A resolver failure, reported at the field's path with GitHub's `type` (e.g. `NOT_FOUND`).
pub struct FieldError {
    pub kind: Option<&'static str>,
    pub message: String,
}

pub trait Resolve {
    type Node;
    /// The concrete GraphQL type of a node.
    fn type_name(&self, node: &Self::Node) -> &'static str;
    /// Resolves `field` of `node` with its arguments (defaults applied, variables replaced).
    fn field(
        &mut self,
        node: &Self::Node,
        field: &str,
        args: &Map<String, Value>,
    ) -> Result<Out<Self::Node>, FieldError>;
}

/// One request: the document, the chosen operation and its variables.
pub struct Request<'d> {
    schema: &'static Schema,
    /// The operation's root type: `Query` or `Mutation`.
    root: &'static str,
    op_name: String,
    selection: &'d SelectionSet<'d, String>,
    var_defs: &'d [VariableDefinition<'d, String>],
    fragments: HashMap<&'d str, &'d FragmentDefinition<'d, String>>,
    vars: Map<String, Value>,
}

fn location(p: Pos) -> Value {
    json!([{ "line": p.line, "column": p.column }])
}

fn validation_error(message: String, path: &[String], pos: Pos, code: &str) -> Value {
    json!({
        "path": path,
        "extensions": { "code": code },
        "locations": location(pos),
        "message": message,
    })
}

/// A request-level error without position (graphql-ruby's shape for these).
pub fn request_error(message: impl Into<String>) -> Value {
    json!({ "errors": [{ "message": message.into() }] })
}

impl<'d> Request<'d> {
    /// Picks the operation to run; `Err` is the whole answer (`{"errors": ...}`).
    pub fn new(
        schema: &'static Schema,
        doc: &'d Document<'d, String>,
        operation_name: Option<&str>,
        vars: Map<String, Value>,
    ) -> Result<Self, Value> {
        let mut fragments = HashMap::new();
        let mut ops = Vec::new();
        for d in &doc.definitions {
            match d {
                Definition::Fragment(f) => {
                    fragments.insert(f.name.as_str(), f);
                }
                Definition::Operation(o) => ops.push(o),
            }
        }
        let name_of = |o: &OperationDefinition<'d, String>| -> Option<String> {
            match o {
                OperationDefinition::Query(q) => q.name.clone(),
                OperationDefinition::Mutation(m) => m.name.clone(),
                OperationDefinition::Subscription(s) => s.name.clone(),
                OperationDefinition::SelectionSet(_) => None,
            }
        };
        let op = match operation_name {
            Some(n) => ops
                .iter()
                .find(|o| name_of(o).as_deref() == Some(n))
                .ok_or_else(|| request_error(format!("No operation named \"{n}\"")))?,
            None if ops.len() == 1 => &ops[0],
            None => {
                return Err(request_error(
                    "An operation name is required when the document has more than one operation",
                ));
            }
        };
        let (root, label, selection, var_defs): (
            &'static str,
            String,
            _,
            &[VariableDefinition<'d, String>],
        ) = match op {
            OperationDefinition::SelectionSet(s) => ("Query", "query".to_string(), s, &[]),
            OperationDefinition::Query(q) => (
                "Query",
                match &q.name {
                    Some(n) => format!("query {n}"),
                    None => "query".to_string(),
                },
                &q.selection_set,
                &q.variable_definitions,
            ),
            // The mutations served are the merge queue's (see `schema.graphql`).
            OperationDefinition::Mutation(m) => (
                "Mutation",
                match &m.name {
                    Some(n) => format!("mutation {n}"),
                    None => "mutation".to_string(),
                },
                &m.selection_set,
                &m.variable_definitions,
            ),
            OperationDefinition::Subscription(_) => {
                return Err(request_error(
                    "The simulator serves GraphQL queries and mutations, no subscriptions",
                ));
            }
        };
        Ok(Request {
            schema,
            root,
            op_name: label,
            selection,
            var_defs,
            fragments,
            vars,
        })
    }

    /// GitHub's static checks; an empty list means the query may run.
    pub fn validate(&mut self) -> Vec<Value> {
        let mut errors = Vec::new();
        let op_label = self.op_name.clone();
        // Variables: declared ones get their defaults; required ones must be given, with a
        // value of their type.
        for d in self.var_defs {
            let t = qty(&d.var_type);
            let given = self.vars.get(&d.name).cloned();
            let value = match (given, &d.default_value) {
                (Some(v), _) if !v.is_null() => v,
                (_, Some(def)) => constant_value(def),
                (v, None) => v.unwrap_or(Value::Null),
            };
            if !self.value_fits(&value, &t) {
                errors.push(json!({
                    "extensions": { "value": value, "problems": [{ "path": [], "explanation": format!("Expected value to be of type {t}") }] },
                    "locations": location(d.position),
                    "message": format!("Variable ${} of type {t} was provided invalid value", d.name),
                }));
            }
            self.vars.insert(d.name.clone(), value);
        }
        let declared: Vec<&str> = self.var_defs.iter().map(|d| d.name.as_str()).collect();
        let mut path = vec![op_label.clone()];
        self.check_set(self.root, self.selection, &mut path, &declared, &mut errors);
        errors
    }

    /// What the query costs in rate-limit points, as GitHub computes it ("Rate limits and
    /// node limits for the GraphQL API", docs.github.com): each connection needs one request
    /// per parent node it hangs under, every connection assumed full at its `first`/`last`;
    /// the sum divided by 100, rounded, is the cost, at least 1 (mutations cost 1 here too).
    pub fn cost(&self) -> u64 {
        let requests = self.requests_in(self.root, self.selection, 1);
        ((requests as f64 / 100.0).round() as u64).max(1)
    }

    fn requests_in(&self, parent: &str, set: &SelectionSet<'d, String>, parents: u64) -> u64 {
        let mut total = 0u64;
        for sel in &set.items {
            match sel {
                Selection::Field(f) => {
                    let Some(def) = self.schema.field(parent, &f.name) else {
                        continue;
                    };
                    let named = def.ty.named();
                    let mut below = parents;
                    if Schema::is_connection(named) {
                        total = total.saturating_add(parents);
                        let size = ["first", "last"]
                            .iter()
                            .filter_map(|k| {
                                f.arguments
                                    .iter()
                                    .find(|(n, _)| n == k)
                                    .and_then(|(_, v)| self.arg_value(v).as_u64())
                            })
                            .max()
                            .unwrap_or(1);
                        below = parents.saturating_mul(size);
                    }
                    if !self.schema.is_leaf(named) {
                        total =
                            total.saturating_add(self.requests_in(named, &f.selection_set, below));
                    }
                }
                Selection::InlineFragment(i) => {
                    let cond = match &i.type_condition {
                        Some(TypeCondition::On(c)) => c.as_str(),
                        None => parent,
                    };
                    total = total.saturating_add(self.requests_in(cond, &i.selection_set, parents));
                }
                Selection::FragmentSpread(sp) => {
                    if let Some(f) = self.fragments.get(sp.fragment_name.as_str()) {
                        let TypeCondition::On(cond) = &f.type_condition;
                        total =
                            total.saturating_add(self.requests_in(cond, &f.selection_set, parents));
                    }
                }
            }
        }
        total
    }

    /// Whether this request is a mutation.
    pub fn is_mutation(&self) -> bool {
        self.root == "Mutation"
    }

    fn value_fits(&self, v: &Value, t: &Ty) -> bool {
        match t {
            Ty::NonNull(inner) => !v.is_null() && self.value_fits(v, inner),
            _ if v.is_null() => true,
            Ty::List(inner) => match v {
                Value::Array(items) => items.iter().all(|i| self.value_fits(i, inner)),
                // A single value is coerced to a list of one, per the GraphQL spec.
                other => self.value_fits(other, inner),
            },
            Ty::Named(n) => match n.as_str() {
                "Int" => v.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
                "Float" => v.is_number(),
                "Boolean" => v.is_boolean(),
                "String" | "ID" | "URI" | "DateTime" | "GitObjectID" | "BigInt" => v.is_string(),
                other => match self.schema.types.get(other) {
                    Some(Kind::Enum { values }) => {
                        v.as_str().is_some_and(|s| values.iter().any(|x| x == s))
                    }
                    // An input object: known fields only, each of its type, the required
                    // ones present.
                    Some(Kind::InputObject { fields }) => match v {
                        Value::Object(o) => {
                            o.keys().all(|k| fields.iter().any(|(n, _)| n == k))
                                && fields.iter().all(|(n, a)| {
                                    let given = o.get(n).cloned().unwrap_or(Value::Null);
                                    if given.is_null() && a.default.is_some() {
                                        return true;
                                    }
                                    self.value_fits(&given, &a.ty)
                                })
                        }
                        _ => false,
                    },
                    _ => false,
                },
            },
        }
    }

    fn check_set(
        &self,
        parent: &str,
        set: &SelectionSet<'d, String>,
        path: &mut Vec<String>,
        declared: &[&str],
        errors: &mut Vec<Value>,
    ) {
        for sel in &set.items {
            match sel {
                Selection::Field(f) => self.check_field(parent, f, path, declared, errors),
                Selection::InlineFragment(i) => {
                    let cond = match &i.type_condition {
                        Some(TypeCondition::On(c)) => c.as_str(),
                        None => parent,
                    };
                    path.push(format!("... on {cond}"));
                    if !self.schema.types.contains_key(cond) {
                        errors.push(validation_error(
                            format!("No such type {cond}, so it can't be a fragment condition"),
                            path,
                            i.position,
                            "undefinedType",
                        ));
                    } else if !self.schema.can_spread(cond, parent) {
                        errors.push(validation_error(
                            format!("Fragment on {cond} can't be spread inside {parent}"),
                            path,
                            i.position,
                            "cannotSpreadFragment",
                        ));
                    } else {
                        self.check_set(cond, &i.selection_set, path, declared, errors);
                    }
                    path.pop();
                }
                Selection::FragmentSpread(s) => {
                    path.push(format!("... {}", s.fragment_name));
                    match self.fragments.get(s.fragment_name.as_str()) {
                        None => errors.push(validation_error(
                            format!("Fragment {} was used, but not defined", s.fragment_name),
                            path,
                            s.position,
                            "useAndDefineFragment",
                        )),
                        Some(f) => {
                            let TypeCondition::On(cond) = &f.type_condition;
                            if !self.schema.can_spread(cond, parent) {
                                errors.push(validation_error(
                                    format!(
                                        "Fragment {} on {cond} can't be spread inside {parent}",
                                        s.fragment_name
                                    ),
                                    path,
                                    s.position,
                                    "cannotSpreadFragment",
                                ));
                            } else {
                                self.check_set(cond, &f.selection_set, path, declared, errors);
                            }
                        }
                    }
                    path.pop();
                }
            }
        }
    }

    fn check_field(
        &self,
        parent: &str,
        f: &Field<'d, String>,
        path: &mut Vec<String>,
        declared: &[&str],
        errors: &mut Vec<Value>,
    ) {
        path.push(f.alias.clone().unwrap_or_else(|| f.name.clone()));
        (|| {
            if f.name == "__typename" {
                return;
            }
            let Some(def) = self.schema.field(parent, &f.name) else {
                let mut e = validation_error(
                    format!("Field '{}' doesn't exist on type '{parent}'", f.name),
                    path,
                    f.position,
                    "undefinedField",
                );
                e["extensions"]["typeName"] = json!(parent);
                e["extensions"]["fieldName"] = json!(f.name);
                errors.push(e);
                return;
            };
            for (name, value) in &f.arguments {
                for v in variables_in(value) {
                    if !declared.contains(&v) {
                        errors.push(validation_error(
                            format!("Variable ${v} is used by {} but not declared", self.op_name),
                            path,
                            f.position,
                            "variableNotDefined",
                        ));
                    }
                }
                match def.args.iter().find(|(n, _)| n == name) {
                    None => errors.push(validation_error(
                        format!("Field '{}' doesn't accept argument '{name}'", f.name),
                        path,
                        f.position,
                        "argumentNotAccepted",
                    )),
                    Some((_, arg)) => {
                        if let Some(unknown) = self.unknown_input_field(value, &arg.ty) {
                            // graphql-ruby's words, as GitHub answers a field an input object
                            // lacks (OmniNode-ai/omnibase_core#895: "InputObject
                            // 'EnqueuePullRequestInput' doesn't accept argument
                            // 'mergeMethod'").
                            errors.push(validation_error(
                                format!(
                                    "InputObject '{}' doesn't accept argument '{unknown}'",
                                    arg.ty.named()
                                ),
                                path,
                                f.position,
                                "argumentNotAccepted",
                            ));
                        } else if !matches!(value, QValue::Variable(_))
                            && !self.value_fits(&self.arg_value(value), &arg.ty)
                        {
                            errors.push(validation_error(
                                format!(
                                    "Argument '{name}' on Field '{}' has an invalid value ({}). Expected type '{}'.",
                                    f.name, value, arg.ty
                                ),
                                path,
                                f.position,
                                "argumentLiteralsIncompatible",
                            ));
                        }
                    }
                }
            }
            let missing: Vec<&str> = def
                .args
                .iter()
                .filter(|(n, a)| {
                    matches!(a.ty, Ty::NonNull(_))
                        && a.default.is_none()
                        && !f.arguments.iter().any(|(g, _)| g == n)
                })
                .map(|(n, _)| n.as_str())
                .collect();
            if !missing.is_empty() {
                errors.push(validation_error(
                    format!(
                        "Field '{}' is missing required arguments: {}",
                        f.name,
                        missing.join(", ")
                    ),
                    path,
                    f.position,
                    "missingRequiredArguments",
                ));
            }
            let named = def.ty.named();
            if Schema::is_connection(named)
                && let Some(e) = self.pagination_error(f, path)
            {
                errors.push(e);
            }
            let leaf = self.schema.is_leaf(named);
            let has_selections = !f.selection_set.items.is_empty();
            if leaf && has_selections {
                errors.push(validation_error(
                    format!(
                        "Selections can't be made on scalars (field '{}' returns {named} but has selections)",
                        f.name
                    ),
                    path,
                    f.position,
                    "selectionMismatch",
                ));
            } else if !leaf && !has_selections {
                errors.push(validation_error(
                    format!(
                        "Field must have selections (field '{}' returns {named} but has no selections. Did you mean '{} {{ ... }}'?)",
                        f.name, f.name
                    ),
                    path,
                    f.position,
                    "selectionMismatch",
                ));
            } else if !leaf {
                self.check_set(named, &f.selection_set, path, declared, errors);
            }
        })();
        path.pop();
    }

    /// A field of an input object literal that its type does not have.
    fn unknown_input_field(&self, value: &QValue<'d, String>, ty: &Ty) -> Option<String> {
        let QValue::Object(o) = value else {
            return None;
        };
        let Some(Kind::InputObject { fields }) = self.schema.types.get(ty.named()) else {
            return None;
        };
        o.keys()
            .find(|k| !fields.iter().any(|(n, _)| n == *k))
            .cloned()
    }

    /// GitHub's node limit: every connection needs `first` or `last`, each within 1-100.
    /// Its errors carry a `type` (as seen in GitHub's answers: `MISSING_PAGINATION_BOUNDARIES`,
    /// `EXCESSIVE_PAGINATION`).
    fn pagination_error(&self, f: &Field<'d, String>, path: &[String]) -> Option<Value> {
        let get = |name: &str| {
            f.arguments
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| self.arg_value(v))
                .filter(|v| !v.is_null())
        };
        let (first, last) = (get("first"), get("last"));
        let error = |kind: &str, message: String| {
            json!({
                "type": kind,
                "path": &path[1..],
                "locations": location(f.position),
                "message": message,
            })
        };
        if first.is_none() && last.is_none() {
            return Some(error(
                "MISSING_PAGINATION_BOUNDARIES",
                format!(
                    "You must provide a `first` or `last` value to properly paginate the `{}` connection.",
                    f.name
                ),
            ));
        }
        for (which, v) in [("first", first), ("last", last)] {
            let Some(n) = v.and_then(|v| v.as_i64()) else {
                continue;
            };
            if n > MAX_PAGE {
                return Some(error(
                    "EXCESSIVE_PAGINATION",
                    format!(
                        "Requesting {n} records on the `{}` connection exceeds the `{which}` limit of {MAX_PAGE} records.",
                        f.name
                    ),
                ));
            }
            if n < 1 {
                return Some(error(
                    "INVALID_PAGINATION",
                    format!(
                        "`{which}` on the `{}` connection must be within 1-{MAX_PAGE}.",
                        f.name
                    ),
                ));
            }
        }
        None
    }

    fn arg_value(&self, v: &QValue<'d, String>) -> Value {
        match v {
            QValue::Variable(name) => self.vars.get(name).cloned().unwrap_or(Value::Null),
            QValue::List(items) => Value::Array(items.iter().map(|i| self.arg_value(i)).collect()),
            QValue::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, v)| (k.clone(), self.arg_value(v)))
                    .collect(),
            ),
            other => constant_value(other),
        }
    }

    /// Runs the (validated) operation: `{"data": ..., "errors": [...]}`.
    pub fn execute<R: Resolve>(&self, resolver: &mut R, root: R::Node) -> Value {
        let mut errors = Vec::new();
        let data = self
            .select(
                resolver,
                &root,
                self.root,
                self.selection,
                &mut Vec::new(),
                &mut errors,
            )
            .unwrap_or(Value::Null);
        let mut answer = json!({ "data": data });
        if !errors.is_empty() {
            answer["errors"] = Value::Array(errors);
        }
        answer
    }

    /// The fields of `set` that apply to an object of type `concrete`, grouped by response
    /// key in order (the spec's CollectFields).
    fn collect<'s>(
        &'s self,
        concrete: &str,
        set: &'s SelectionSet<'d, String>,
        out: &mut Vec<(String, Vec<&'s Field<'d, String>>)>,
    ) {
        for sel in &set.items {
            match sel {
                Selection::Field(f) => {
                    let key = f.alias.clone().unwrap_or_else(|| f.name.clone());
                    match out.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, fs)) => fs.push(f),
                        None => out.push((key, vec![f])),
                    }
                }
                Selection::InlineFragment(i) => {
                    let applies = match &i.type_condition {
                        Some(TypeCondition::On(c)) => self.schema.is_subtype(concrete, c),
                        None => true,
                    };
                    if applies {
                        self.collect(concrete, &i.selection_set, out);
                    }
                }
                Selection::FragmentSpread(s) => {
                    if let Some(f) = self.fragments.get(s.fragment_name.as_str()) {
                        let TypeCondition::On(c) = &f.type_condition;
                        if self.schema.is_subtype(concrete, c) {
                            self.collect(concrete, &f.selection_set, out);
                        }
                    }
                }
            }
        }
    }

    /// `Err(())`: a non-null field came out null, so this object is null too.
    fn select<R: Resolve>(
        &self,
        r: &mut R,
        node: &R::Node,
        concrete: &str,
        set: &SelectionSet<'d, String>,
        path: &mut Vec<Value>,
        errors: &mut Vec<Value>,
    ) -> Result<Value, ()> {
        let mut grouped = Vec::new();
        self.collect(concrete, set, &mut grouped);
        let mut obj = Map::new();
        for (key, fields) in grouped {
            let f = fields[0];
            path.push(json!(key));
            let value = if f.name == "__typename" {
                Ok(json!(concrete))
            } else {
                self.resolve_field(r, node, concrete, &fields, path, errors)
            };
            path.pop();
            obj.insert(key, value?);
        }
        Ok(Value::Object(obj))
    }

    fn resolve_field<R: Resolve>(
        &self,
        r: &mut R,
        node: &R::Node,
        concrete: &str,
        fields: &[&Field<'d, String>],
        path: &mut Vec<Value>,
        errors: &mut Vec<Value>,
    ) -> Result<Value, ()> {
        let f = fields[0];
        let Some(def) = self.schema.field(concrete, &f.name) else {
            // Validation looked at the declared type; the concrete one must agree.
            errors.push(json!({ "message": format!("Field '{}' doesn't exist on type '{concrete}'", f.name), "path": path, "locations": location(f.position) }));
            return Ok(Value::Null);
        };
        let mut args = Map::new();
        for (name, arg) in &def.args {
            let given = f
                .arguments
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| self.arg_value(v))
                .filter(|v| !v.is_null());
            if let Some(v) = given.or_else(|| arg.default.clone()) {
                args.insert(name.clone(), v);
            }
        }
        let out = match r.field(node, &f.name, &args) {
            Ok(o) => o,
            Err(e) => {
                let mut err = json!({ "path": path, "locations": location(f.position), "message": e.message });
                if let Some(k) = e.kind {
                    err["type"] = json!(k);
                }
                errors.push(err);
                Out::Null
            }
        };
        // Sub-selections of every field with this key, merged.
        let merged = SelectionSet {
            span: f.selection_set.span,
            items: fields
                .iter()
                .flat_map(|f| f.selection_set.items.iter().cloned())
                .collect(),
        };
        let where_ = format!("{concrete}.{}", f.name);
        self.complete(r, &def.ty, out, &merged, &where_, f.position, path, errors)
    }

    #[allow(clippy::too_many_arguments)]
    fn complete<R: Resolve>(
        &self,
        r: &mut R,
        ty: &Ty,
        out: Out<R::Node>,
        set: &SelectionSet<'d, String>,
        field: &str,
        pos: Pos,
        path: &mut Vec<Value>,
        errors: &mut Vec<Value>,
    ) -> Result<Value, ()> {
        match ty {
            Ty::NonNull(inner) => {
                let v = self.complete(r, inner, out, set, field, pos, path, errors)?;
                if v.is_null() {
                    errors.push(json!({
                        "message": format!("Cannot return null for non-nullable field {field}"),
                        "path": path,
                        "locations": location(pos),
                    }));
                    return Err(());
                }
                Ok(v)
            }
            _ if matches!(out, Out::Null) => Ok(Value::Null),
            Ty::List(inner) => {
                let Out::List(items) = out else {
                    return self.internal(field, "a list", pos, path, errors);
                };
                let mut list = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    path.push(json!(i));
                    let v = self.complete(r, inner, item, set, field, pos, path, errors);
                    path.pop();
                    list.push(v?);
                }
                Ok(Value::Array(list))
            }
            Ty::Named(name) => match (self.schema.types.get(name), out) {
                (Some(Kind::Enum { values }), Out::Leaf(v)) => {
                    if v.as_str().is_some_and(|s| values.iter().any(|x| x == s)) {
                        Ok(v)
                    } else {
                        self.internal(
                            field,
                            &format!("a {name} value, not {v}"),
                            pos,
                            path,
                            errors,
                        )
                    }
                }
                (Some(Kind::Scalar), Out::Leaf(v)) => Ok(v),
                (Some(_), Out::Node(n)) => {
                    let concrete = r.type_name(&n);
                    if !self.schema.is_subtype(concrete, name) {
                        return self.internal(
                            field,
                            &format!("a {name}, not a {concrete}"),
                            pos,
                            path,
                            errors,
                        );
                    }
                    self.select(r, &n, concrete, set, path, errors)
                }
                _ => self.internal(field, &format!("a {name}"), pos, path, errors),
            },
        }
    }

    fn internal(
        &self,
        field: &str,
        expected: &str,
        pos: Pos,
        path: &[Value],
        errors: &mut Vec<Value>,
    ) -> Result<Value, ()> {
        errors.push(json!({
            "message": format!("simulator: {field} did not resolve to {expected}"),
            "path": path,
            "locations": location(pos),
        }));
        // Reported; the field is null and, through its parents, so is what needs it.
        Err(())
    }
}

fn qty(t: &graphql_parser::query::Type<'_, String>) -> Ty {
    use graphql_parser::query::Type as T;
    match t {
        T::NamedType(n) => Ty::Named(n.clone()),
        T::ListType(t) => Ty::List(Box::new(qty(t))),
        T::NonNullType(t) => Ty::NonNull(Box::new(qty(t))),
    }
}

fn constant_value(v: &QValue<'_, String>) -> Value {
    match v {
        QValue::Int(n) => n.as_i64().map_or(Value::Null, Value::from),
        QValue::Float(f) => Value::from(*f),
        QValue::String(s) | QValue::Enum(s) => Value::from(s.clone()),
        QValue::Boolean(b) => Value::from(*b),
        QValue::List(l) => Value::Array(l.iter().map(constant_value).collect()),
        QValue::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), constant_value(v)))
                .collect(),
        ),
        QValue::Null | QValue::Variable(_) => Value::Null,
    }
}

fn variables_in<'a>(v: &'a QValue<'_, String>) -> Vec<&'a str> {
    match v {
        QValue::Variable(n) => vec![n.as_str()],
        QValue::List(l) => l.iter().flat_map(variables_in).collect(),
        QValue::Object(o) => o.values().flat_map(variables_in).collect(),
        _ => vec![],
    }
}
