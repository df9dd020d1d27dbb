//! Message templates (MiniJinja), compiled once at load and rendered per event without I/O.
//!
//! Strings are rendered as text. Structured bodies (Slack `blocks`, an http `body` written as YAML)
//! are kept as a tree of [`Shape`]s and built field by field, so the JSON sent is always valid
//! whatever the payload holds. A leaf that is exactly one `{{ expression }}` keeps the expression's
//! JSON type (`id: "{{ payload.id }}"` sends the number 9001, not the string "9001").

use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value, context};

/// How much work one render may do before it is stopped (a loop over a huge payload, say).
const FUEL: u64 = 200_000;

/// The filter a one-expression leaf renders through: `tojson`, except that an undefined value is an
/// error (`tojson` would send `null` for `{{ payload.nope }}`).
const JSON_LEAF: &str = "hookroute_json_leaf";

fn json_leaf(value: &Value) -> Result<String, minijinja::Error> {
    use minijinja::{Error, ErrorKind};
    if value.is_undefined() {
        return Err(Error::new(ErrorKind::UndefinedError, "is undefined"));
    }
    serde_json::to_string(value).map_err(|e| Error::new(ErrorKind::BadSerialization, e.to_string()))
}

/// A text field: literal or a compiled template.
#[derive(Clone, Debug, PartialEq)]
pub enum Text {
    Literal(String),
    Template(String),
}

/// A structured value whose string leaves are templates.
#[derive(Clone, Debug, PartialEq)]
pub enum Shape {
    Literal(serde_json::Value),
    Text(Text),
    /// A leaf made of one expression; renders to the expression's JSON value.
    Json(String),
    List(Vec<Shape>),
    Object(Vec<(String, Shape)>),
}

/// A render failure: the template's field path and MiniJinja's reason.
#[derive(Debug, thiserror::Error)]
#[error("{template}: {reason}")]
pub struct RenderError {
    pub template: String,
    pub reason: String,
}

/// The compiled templates of one rules-file version.
pub struct Templates {
    env: Environment<'static>,
    /// Template source → the name it was compiled under. Rules files repeat the same template in
    /// many rules (`Order {{ payload.id }}: {{ type }}`); each distinct source is compiled once.
    by_source: std::collections::HashMap<String, String>,
    /// Field name → the name its (repeated) source was compiled under.
    aliases: std::collections::HashMap<String, String>,
    /// Filters and tests already found in the environment.
    known_names: std::collections::HashSet<(Kind, String)>,
}

/// What a template looks up by name in the environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Filter,
    Test,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Self::Filter => "filter",
            Self::Test => "test",
        }
    }
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Templates({} compiled, {} repeats)", self.env.templates().count(), self.aliases.len())
    }
}

impl Default for Templates {
    fn default() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| AutoEscape::None);
        env.set_fuel(Some(FUEL));
        env.set_recursion_limit(64);
        env.add_filter(JSON_LEAF, |v: Value| json_leaf(&v));
        Self {
            env,
            by_source: Default::default(),
            aliases: Default::default(),
            known_names: Default::default(),
        }
    }
}

impl Templates {
    /// Compiles `source` (a text field at `name`); a syntax error names the line in the template.
    pub fn text(&mut self, name: &str, source: &str) -> Result<Text, String> {
        if !is_template(source) {
            return Ok(Text::Literal(source.to_owned()));
        }
        self.add(name, source.to_owned())?;
        Ok(Text::Template(name.to_owned()))
    }

    /// Compiles a string leaf of a structured value.
    pub fn leaf(&mut self, name: &str, source: &str) -> Result<Shape, String> {
        if let Some(expr) = single_expression(source) {
            self.add(name, format!("{{{{ ({expr}) | {JSON_LEAF} }}}}"))?;
            return Ok(Shape::Json(name.to_owned()));
        }
        self.text(name, source).map(Shape::Text)
    }

    fn add(&mut self, name: &str, source: String) -> Result<(), String> {
        if let Some(first) = self.by_source.get(&source) {
            self.aliases.insert(name.to_owned(), first.clone());
            return Ok(());
        }
        self.env.add_template_owned(name.to_owned(), source.clone()).map_err(|e| describe(&e))?;
        if let Err(e) = self.check_names(name) {
            self.env.remove_template(name);
            return Err(e);
        }
        self.by_source.insert(source, name.to_owned());
        Ok(())
    }

    /// MiniJinja looks filters and tests up only when it renders: an unknown one (`{{ x | nofilter }}`)
    /// would fail every event. The compiled instructions name each one used, on every branch.
    fn check_names(&mut self, name: &str) -> Result<(), String> {
        use minijinja::machinery::{Instruction, get_compiled_template};
        let mut used = Vec::new();
        {
            let template = self.env.get_template(name).map_err(|e| describe(&e))?;
            let compiled = get_compiled_template(&template);
            for instructions in std::iter::once(&compiled.instructions).chain(compiled.blocks.values()) {
                for pc in 0.. {
                    let (kind, used_name) = match instructions.get(pc) {
                        None => break,
                        Some(Instruction::ApplyFilter(f, ..)) => (Kind::Filter, *f),
                        Some(Instruction::PerformTest(t, ..)) => (Kind::Test, *t),
                        Some(_) => continue,
                    };
                    used.push((kind, used_name.to_owned(), instructions.get_line(pc)));
                }
            }
        }
        for (kind, used_name, line) in used {
            if !self.exists(kind, &used_name) {
                let line = line.map(|l| format!(" (template line {l})")).unwrap_or_default();
                return Err(format!("unknown {} `{used_name}`{line}", kind.word()));
            }
        }
        Ok(())
    }

    /// Whether the environment has this filter or test: a probe render fails with
    /// `UnknownFilter`/`UnknownTest` only when it does not (other failures are bad arguments).
    /// Known names are remembered: a rules file uses the same few filters many times.
    fn exists(&mut self, kind: Kind, name: &str) -> bool {
        if self.known_names.contains(&(kind, name.to_owned())) {
            return true;
        }
        let probe = match kind {
            Kind::Filter => format!("{{{{ 0 | {name} }}}}"),
            Kind::Test => format!("{{{{ 0 is {name} }}}}"),
        };
        let found = match self.env.render_str(&probe, ()) {
            Ok(_) => true,
            Err(e) => {
                !matches!(e.kind(), minijinja::ErrorKind::UnknownFilter | minijinja::ErrorKind::UnknownTest)
            }
        };
        if found {
            self.known_names.insert((kind, name.to_owned()));
        }
        found
    }

    pub fn render_text(&self, text: &Text, ctx: &RenderContext) -> Result<String, RenderError> {
        match text {
            Text::Literal(s) => Ok(s.clone()),
            Text::Template(name) => self.render(name, ctx),
        }
    }

    pub fn render_shape(&self, shape: &Shape, ctx: &RenderContext) -> Result<serde_json::Value, RenderError> {
        use serde_json::Value as J;
        Ok(match shape {
            Shape::Literal(v) => v.clone(),
            Shape::Text(t) => J::String(self.render_text(t, ctx)?),
            Shape::Json(name) => {
                let text = self.render(name, ctx)?;
                serde_json::from_str(&text).map_err(|e| RenderError {
                    template: name.clone(),
                    reason: format!("expression did not give a JSON value: {e}"),
                })?
            }
            Shape::List(items) => {
                J::Array(items.iter().map(|s| self.render_shape(s, ctx)).collect::<Result<_, _>>()?)
            }
            Shape::Object(fields) => J::Object(
                fields.iter().map(|(k, s)| Ok((k.clone(), self.render_shape(s, ctx)?))).collect::<Result<
                    _,
                    RenderError,
                >>(
                )?,
            ),
        })
    }

    fn render(&self, name: &str, ctx: &RenderContext) -> Result<String, RenderError> {
        let fail = |e: minijinja::Error| RenderError { template: name.to_owned(), reason: describe(&e) };
        let compiled = self.aliases.get(name).map_or(name, String::as_str);
        let template = self.env.get_template(compiled).map_err(fail)?;
        template.render(&ctx.0).map_err(|e| match leaf_expression(template.source()) {
            // The leaf filter's own error: name the expression, as MiniJinja does for text.
            Some(expr)
                if e.kind() == minijinja::ErrorKind::UndefinedError && e.detail() == Some("is undefined") =>
            {
                RenderError {
                    template: name.to_owned(),
                    reason: format!("undefined value: `{expr}` is undefined"),
                }
            }
            _ => fail(e),
        })
    }
}

/// What templates see: `type`, `payload`, `event` (the whole body), `source`, `received_at`, and
/// `prev`, the previous event's body of the same entity key (`none` when there is none).
pub struct RenderContext(Value);

impl RenderContext {
    pub fn new(event_type: &str, body: &serde_json::Value, source: &str, received_at: &str) -> Self {
        Self::with_prev(event_type, body, source, received_at, None)
    }

    /// [`RenderContext::new`] with the previous event of the key.
    pub fn with_prev(
        event_type: &str,
        body: &serde_json::Value,
        source: &str,
        received_at: &str,
        prev: Option<&serde_json::Value>,
    ) -> Self {
        let event = Value::from(minijinja::value::Serde(body));
        let payload = event.get_attr("payload").unwrap_or_default();
        let prev = prev.map_or(Value::from(()), |p| Value::from(minijinja::value::Serde(p)));
        Self(context! {
            type => event_type,
            payload => payload,
            event => event,
            source => source,
            received_at => received_at,
            prev => prev,
        })
    }
}

fn is_template(source: &str) -> bool {
    source.contains("{{") || source.contains("{%") || source.contains("{#")
}

/// `"{{ payload.id }}"` → `Some("payload.id")`; anything with text around it → `None`.
fn single_expression(source: &str) -> Option<&str> {
    let inner = source.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    let clean = !inner.contains("{{") && !inner.contains("}}") && !inner.contains("{%");
    (clean && !inner.trim().is_empty()).then(|| inner.trim())
}

/// The expression of a compiled one-expression leaf (`{{ (EXPR) | hookroute_json_leaf }}`).
fn leaf_expression(source: &str) -> Option<&str> {
    source.strip_prefix("{{ (")?.strip_suffix(&format!(") | {JSON_LEAF} }}}}")).map(str::trim)
}

/// MiniJinja's message without the template-name prefix noise, plus the line when it has one.
fn describe(e: &minijinja::Error) -> String {
    let mut text = e.detail().map_or_else(|| e.kind().to_string(), |d| format!("{}: {d}", e.kind()));
    if let Some(line) = e.line() {
        text.push_str(&format!(" (template line {line})"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> RenderContext {
        let body = json!({"type": "order.updated", "payload": {"id": 9001, "status": "to schedule",
            "note": "quote \" and <b> and\nnewline", "tags": ["a", "b"]}});
        RenderContext::new("order.updated", &body, "house-check", "2026-11-29T00:00:00Z")
    }

    fn text(source: &str) -> Result<String, String> {
        let mut t = Templates::default();
        let compiled = t.text("t", source)?;
        t.render_text(&compiled, &ctx()).map_err(|e| e.to_string())
    }

    #[test]
    fn text_cases() {
        assert_eq!(text("plain").as_deref(), Ok("plain"));
        assert_eq!(
            text("Order {{ payload.id }} is {{ payload.status }}").as_deref(),
            Ok("Order 9001 is to schedule")
        );
        assert_eq!(text("{{ type }} from {{ source }}").as_deref(), Ok("order.updated from house-check"));
        assert_eq!(text("{{ event.payload.tags | join(',') }}").as_deref(), Ok("a,b"));
        assert_eq!(
            text("{{ payload.note }}").as_deref(),
            Ok("quote \" and <b> and\nnewline"),
            "no HTML escaping"
        );
        assert_eq!(text("{{ received_at }}").as_deref(), Ok("2026-11-29T00:00:00Z"));
        assert_eq!(text("was {{ prev.payload.status if prev else 'new' }}").as_deref(), Ok("was new"));
    }

    #[test]
    fn a_repeated_source_is_compiled_once_and_errors_name_each_field() {
        let mut t = Templates::default();
        let a = t.text("rules[0].text", "Order {{ payload.id }}").expect("a");
        let b = t.text("rules[1].text", "Order {{ payload.id }}").expect("b");
        let c = t.text("rules[2].text", "Order {{ payload.missing }}").expect("c");
        let d = t.text("rules[3].text", "Order {{ payload.missing }}").expect("d");
        assert_eq!(t.env.templates().count(), 2);
        assert_eq!(t.render_text(&b, &ctx()).expect("render"), "Order 9001");
        assert_eq!(t.render_text(&a, &ctx()).expect("render"), "Order 9001");
        assert!(t.render_text(&c, &ctx()).expect_err("undefined").template == "rules[2].text");
        assert!(t.render_text(&d, &ctx()).expect_err("undefined").template == "rules[3].text");
    }

    #[test]
    fn undefined_variables_are_errors_not_empty_strings() {
        let err = text("Order {{ payload.missing }}").expect_err("undefined");
        assert!(err.contains("undefined"), "{err}");
        assert!(text("{{ nope }}").is_err());
    }

    #[test]
    fn an_undefined_value_names_the_expression_in_text_and_in_json_leaves() {
        let err = text("Order {{ payload.nope }}").expect_err("undefined");
        assert_eq!(err, "t: undefined value: `payload.nope` is undefined (template line 1)");
        let mut t = Templates::default();
        let leaf = t.leaf("body.id", "{{ payload.nope }}").expect("compiles");
        let err = t.render_shape(&leaf, &ctx()).expect_err("undefined, not null").to_string();
        assert_eq!(err, "body.id: undefined value: `payload.nope` is undefined");
        let leaf = t.leaf("body.n", "{{ payload.nope | default(none) }}").expect("compiles");
        assert_eq!(t.render_shape(&leaf, &ctx()).expect("a default is fine"), json!(null));
    }

    #[test]
    fn unknown_filters_and_tests_are_compile_errors() {
        let compile = |source: &str| Templates::default().text("t", source).map(|_| ());
        assert_eq!(
            compile("{{ payload.id | nofilter }}"),
            Err("unknown filter `nofilter` (template line 1)".into())
        );
        assert_eq!(
            compile("a\n{% if payload.id is notatest %}x{% endif %}"),
            Err("unknown test `notatest` (template line 2)".into())
        );
        assert_eq!(
            compile("{% if false %}{{ payload.id | upper | nofilter2(1) }}{% endif %}"),
            Err("unknown filter `nofilter2` (template line 1)".into()),
            "a branch that would not run is checked too"
        );
        assert_eq!(
            compile("{% filter nofilter3 %}x{% endfilter %}"),
            Err("unknown filter `nofilter3` (template line 1)".into())
        );
        assert_eq!(
            compile("{% macro m(x) %}{{ x | nofilter4 }}{% endmacro %}{{ m(1) }}"),
            Err("unknown filter `nofilter4` (template line 1)".into())
        );
        for fine in [
            "{{ payload.id | upper | default('x') | tojson }}",
            "{{ payload.tags | join(',') }}",
            "{% if payload.id is defined and payload.id is number %}{{ payload.id | round(2) }}{% endif %}",
        ] {
            assert_eq!(compile(fine), Ok(()), "{fine}");
        }
        let mut t = Templates::default();
        assert!(t.leaf("b", "{{ payload.id | nofilter }}").is_err(), "one-expression leaves too");
    }

    #[test]
    fn syntax_errors_are_reported_at_compile() {
        let err = text("Order {{ payload.id ").expect_err("syntax");
        assert!(err.contains("syntax error"), "{err}");
    }

    #[test]
    fn runaway_templates_run_out_of_fuel() {
        let err = text("{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}");
        assert!(err.is_err());
    }

    #[test]
    fn structured_shapes_keep_types_and_stay_valid_json() {
        let mut t = Templates::default();
        let shape = Shape::Object(vec![
            ("id".into(), t.leaf("a", "{{ payload.id }}").expect("ok")),
            ("note".into(), t.leaf("b", "{{ payload.note }}").expect("ok")),
            ("label".into(), t.leaf("c", "Order {{ payload.id }}").expect("ok")),
            ("tags".into(), t.leaf("d", "{{ payload.tags }}").expect("ok")),
            ("fixed".into(), Shape::Literal(json!(true))),
        ]);
        let v = t.render_shape(&shape, &ctx()).expect("renders");
        assert_eq!(
            v,
            json!({"id": 9001, "note": "quote \" and <b> and\nnewline", "label": "Order 9001",
                   "tags": ["a", "b"], "fixed": true})
        );
    }

    #[test]
    fn single_expression_detection() {
        assert_eq!(single_expression("{{ a.b }}"), Some("a.b"));
        assert_eq!(single_expression(" {{a}} "), Some("a"));
        assert_eq!(single_expression("x {{ a }}"), None);
        assert_eq!(single_expression("{{ a }} {{ b }}"), None);
        assert_eq!(single_expression("{{ }}"), None);
    }
}
