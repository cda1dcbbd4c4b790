//! A small evaluator for ARM template expressions (`"[format('{0}', parameters('x'))]"`).
//!
//! Supported: string/integer/boolean literals, member access (`.field`), indexing (`[0]`,
//! `['field']`) and the functions `parameters`, `variables` (evaluated recursively), `copyIndex`,
//! `length`, `format`, `concat`, `toLower`, `toUpper`, `replace`, `take`, `skip`, `string`,
//! `int`, `bool`, `if`, `equals`, `not`, `empty`, `coalesce`, `createArray`, `createObject`,
//! `guid` and `uniqueString` (deterministic stand-in hashes), `reference` (of resources planned
//! earlier in the same deployment), `resourceId`, `subscriptionResourceId`, `subscription`,
//! `resourceGroup` and `environment` (Azure public cloud values). Anything else (`listKeys`, …)
//! cannot be evaluated; callers then use the string `"fake:" + expression`.

use serde_json::{Map, Value, json};
use std::cell::RefCell;
use std::collections::BTreeMap;

thread_local! {
    /// What `reference(id)` returns while one deployment is evaluated: the runtime state of the
    /// resources planned so far (lower-cased id → value), as the fake's resource providers
    /// would report it.
    static REFERENCES: RefCell<BTreeMap<String, Value>> = const { RefCell::new(BTreeMap::new()) };
}

/// Makes `reference(id)` answer `state` for the rest of this evaluation.
pub(crate) fn set_reference(id: &str, state: Value) {
    REFERENCES.with(|r| r.borrow_mut().insert(id.to_ascii_lowercase(), state));
}

/// Forgets every `reference` (a new top-level evaluation starts).
pub(crate) fn clear_references() {
    REFERENCES.with(|r| r.borrow_mut().clear());
}

/// A deterministic `guid()`: a UUID-shaped hash of the arguments.
fn guid(parts: &[String]) -> String {
    let mut a: u64 = 0xcbf2_9ce4_8422_2325;
    let mut b: u64 = 0x8422_2325_cbf2_9ce4;
    for byte in parts.join("|").bytes() {
        a ^= u64::from(byte);
        a = a.wrapping_mul(0x0100_0000_01b3);
        b = b.rotate_left(5) ^ u64::from(byte);
        b = b.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    let hex = format!("{a:016x}{b:016x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// What expressions can see.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'a> {
    /// Final parameter values.
    pub params: &'a Map<String, Value>,
    /// The template's raw `variables`.
    pub variables: &'a Map<String, Value>,
    /// The current `copyIndex()`, inside a copy loop.
    pub copy_index: Option<i64>,
    pub subscription_id: &'a str,
    pub tenant_id: &'a str,
    /// `None` at subscription scope.
    pub resource_group: Option<&'a str>,
    /// Location of the resource group (or the deployment).
    pub location: &'a str,
    /// Recursion depth (variables referring to variables).
    pub depth: usize,
}

/// Case-insensitive object lookup.
pub(crate) fn get_ci<'v>(m: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    m.get(key).or_else(|| {
        m.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// Whether a template string is an expression (`[...]`, not the `[[` escape).
fn is_expression(s: &str) -> bool {
    s.starts_with('[') && s.ends_with(']') && !s.starts_with("[[")
}

/// Evaluates a template string: `Some(value)` for literals and evaluable expressions, `None`
/// for expressions this evaluator does not support.
pub(crate) fn try_eval(s: &str, ctx: &Ctx<'_>) -> Option<Value> {
    if let Some(rest) = s.strip_prefix("[[") {
        return Some(Value::String(format!("[{rest}")));
    }
    if !is_expression(s) {
        return Some(Value::String(s.to_string()));
    }
    if ctx.depth > 32 {
        return None;
    }
    let chars: Vec<char> = s[1..s.len() - 1].chars().collect();
    let mut p = Parser {
        s: &chars,
        pos: 0,
        ctx,
    };
    let v = p.expr().ok()?;
    p.ws();
    (p.pos == chars.len()).then_some(v)
}

/// Evaluates a template string, falling back to `"fake:" + s`.
pub(crate) fn eval_str(s: &str, ctx: &Ctx<'_>) -> Value {
    try_eval(s, ctx).unwrap_or_else(|| Value::String(format!("fake:{s}")))
}

/// Evaluates every string (and object key) inside a JSON value.
pub(crate) fn eval_value(v: &Value, ctx: &Ctx<'_>) -> Value {
    match v {
        Value::String(s) => eval_str(s, ctx),
        Value::Array(a) => Value::Array(a.iter().map(|x| eval_value(x, ctx)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (text(&eval_str(k, ctx)), eval_value(x, ctx)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The text form of a value, as `format()`/`concat()` render it.
pub(crate) fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        other => other.to_string(),
    }
}

/// `/providers/NS/t1/n1/t2/n2` for a type `NS/t1/t2` and names `n1/n2`.
pub(crate) fn provider_path(rtype: &str, names: &[String]) -> String {
    let mut tsegs = rtype.split('/');
    let ns = tsegs.next().unwrap_or_default();
    let tsegs: Vec<&str> = tsegs.collect();
    let mut out = format!("/providers/{ns}");
    if tsegs.len() == names.len() {
        for (t, n) in tsegs.iter().zip(names) {
            out.push_str(&format!("/{t}/{n}"));
        }
    } else {
        out.push_str(&format!("/{}/{}", tsegs.join("/"), names.join("/")));
    }
    out
}

/// A deterministic 13-character stand-in for `uniqueString()`.
fn unique_string(parts: &[String]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in parts.join("|").bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    (0..13)
        .map(|i| char::from(ALPHABET[((h >> (i * 5 % 60)) & 31) as usize]))
        .collect()
}

type R = Result<Value, ()>;

struct Parser<'p, 'c> {
    s: &'p [char],
    pos: usize,
    ctx: &'p Ctx<'c>,
}

impl Parser<'_, '_> {
    fn ws(&mut self) {
        while self.s.get(self.pos).is_some_and(|c| c.is_whitespace()) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<char> {
        self.s.get(self.pos).copied()
    }

    fn eat(&mut self, c: char) -> Result<(), ()> {
        self.ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(())
        }
    }

    fn ident(&mut self) -> Result<String, ()> {
        self.ws();
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            self.pos += 1;
        }
        if start == self.pos {
            return Err(());
        }
        Ok(self.s[start..self.pos].iter().collect())
    }

    fn expr(&mut self) -> R {
        let mut v = self.primary()?;
        loop {
            self.ws();
            match self.peek() {
                Some('.') => {
                    self.pos += 1;
                    let id = self.ident()?;
                    v = match &v {
                        Value::Object(m) => get_ci(m, &id).cloned().ok_or(())?,
                        _ => return Err(()),
                    };
                }
                Some('[') => {
                    self.pos += 1;
                    let idx = self.expr()?;
                    self.eat(']')?;
                    v = match (&v, &idx) {
                        (Value::Array(a), Value::Number(n)) => n
                            .as_u64()
                            .and_then(|i| a.get(usize::try_from(i).ok()?))
                            .cloned()
                            .ok_or(())?,
                        (Value::Object(m), Value::String(k)) => get_ci(m, k).cloned().ok_or(())?,
                        _ => return Err(()),
                    };
                }
                _ => return Ok(v),
            }
        }
    }

    fn primary(&mut self) -> R {
        self.ws();
        match self.peek().ok_or(())? {
            '\'' => {
                self.pos += 1;
                let mut out = String::new();
                loop {
                    let c = self.peek().ok_or(())?;
                    self.pos += 1;
                    if c == '\'' {
                        if self.peek() == Some('\'') {
                            self.pos += 1;
                            out.push('\'');
                        } else {
                            return Ok(Value::String(out));
                        }
                    } else {
                        out.push(c);
                    }
                }
            }
            c if c.is_ascii_digit() || c == '-' => {
                let start = self.pos;
                self.pos += 1;
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.pos += 1;
                }
                let t: String = self.s[start..self.pos].iter().collect();
                t.parse::<i64>().map(Value::from).map_err(|_| ())
            }
            _ => {
                let name = self.ident()?;
                self.ws();
                if self.peek() != Some('(') {
                    return match name.to_ascii_lowercase().as_str() {
                        "true" => Ok(Value::Bool(true)),
                        "false" => Ok(Value::Bool(false)),
                        "null" => Ok(Value::Null),
                        _ => Err(()),
                    };
                }
                self.pos += 1;
                let mut args = Vec::new();
                self.ws();
                if self.peek() == Some(')') {
                    self.pos += 1;
                } else {
                    loop {
                        args.push(self.expr()?);
                        self.ws();
                        match self.peek() {
                            Some(',') => self.pos += 1,
                            Some(')') => {
                                self.pos += 1;
                                break;
                            }
                            _ => return Err(()),
                        }
                    }
                }
                call(self.ctx, &name.to_ascii_lowercase(), &args)
            }
        }
    }
}

fn str_arg(args: &[Value], i: usize) -> Result<&str, ()> {
    args.get(i).and_then(Value::as_str).ok_or(())
}

fn int_arg(args: &[Value], i: usize) -> Result<i64, ()> {
    match args.get(i) {
        Some(Value::Number(n)) => n.as_i64().ok_or(()),
        Some(Value::String(s)) => s.trim().parse().map_err(|_| ()),
        _ => Err(()),
    }
}

fn call(ctx: &Ctx<'_>, name: &str, args: &[Value]) -> R {
    match name {
        "parameters" => get_ci(ctx.params, str_arg(args, 0)?).cloned().ok_or(()),
        "variables" => {
            let raw = get_ci(ctx.variables, str_arg(args, 0)?).ok_or(())?;
            let inner = Ctx {
                depth: ctx.depth + 1,
                ..*ctx
            };
            if inner.depth > 32 {
                return Err(());
            }
            match raw {
                Value::String(s) => try_eval(s, &inner).ok_or(()),
                other => Ok(eval_value(other, &inner)),
            }
        }
        "copyindex" => {
            let base = ctx.copy_index.ok_or(())?;
            let offset = match args.last() {
                Some(Value::Number(n)) => n.as_i64().ok_or(())?,
                _ => 0,
            };
            Ok(Value::from(base + offset))
        }
        "length" => match args.first().ok_or(())? {
            Value::Array(a) => Ok(Value::from(a.len())),
            Value::String(s) => Ok(Value::from(s.chars().count())),
            Value::Object(m) => Ok(Value::from(m.len())),
            _ => Err(()),
        },
        "format" => {
            let fmt = str_arg(args, 0)?;
            let mut out = fmt.to_string();
            for (i, a) in args.iter().enumerate().skip(1) {
                out = out.replace(&format!("{{{}}}", i - 1), &text(a));
            }
            Ok(Value::String(out))
        }
        "concat" => {
            if !args.is_empty() && args.iter().all(Value::is_array) {
                Ok(Value::Array(
                    args.iter()
                        .filter_map(Value::as_array)
                        .flatten()
                        .cloned()
                        .collect(),
                ))
            } else {
                Ok(Value::String(args.iter().map(text).collect()))
            }
        }
        "tolower" => Ok(Value::String(str_arg(args, 0)?.to_lowercase())),
        "toupper" => Ok(Value::String(str_arg(args, 0)?.to_uppercase())),
        "replace" => Ok(Value::String(
            str_arg(args, 0)?.replace(str_arg(args, 1)?, str_arg(args, 2)?),
        )),
        "take" | "skip" => {
            let n = usize::try_from(int_arg(args, 1)?.max(0)).map_err(|_| ())?;
            let take = name == "take";
            match args.first().ok_or(())? {
                Value::String(s) => Ok(Value::String(if take {
                    s.chars().take(n).collect()
                } else {
                    s.chars().skip(n).collect()
                })),
                Value::Array(a) => Ok(Value::Array(if take {
                    a.iter().take(n).cloned().collect()
                } else {
                    a.iter().skip(n).cloned().collect()
                })),
                _ => Err(()),
            }
        }
        "string" => Ok(Value::String(text(args.first().ok_or(())?))),
        "int" => Ok(Value::from(int_arg(args, 0)?)),
        "bool" => match args.first().ok_or(())? {
            Value::Bool(b) => Ok(Value::Bool(*b)),
            Value::String(s) => Ok(Value::Bool(s.eq_ignore_ascii_case("true"))),
            Value::Number(n) => Ok(Value::Bool(n.as_i64() != Some(0))),
            _ => Err(()),
        },
        "if" => match args.first().ok_or(())? {
            Value::Bool(true) => args.get(1).cloned().ok_or(()),
            Value::Bool(false) => args.get(2).cloned().ok_or(()),
            _ => Err(()),
        },
        "equals" => Ok(Value::Bool(
            args.first().ok_or(())? == args.get(1).ok_or(())?,
        )),
        "not" => Ok(Value::Bool(
            !args.first().and_then(Value::as_bool).ok_or(())?,
        )),
        "empty" => Ok(Value::Bool(match args.first().ok_or(())? {
            Value::Null => true,
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Object(m) => m.is_empty(),
            _ => false,
        })),
        "coalesce" => Ok(args
            .iter()
            .find(|a| !a.is_null())
            .cloned()
            .unwrap_or(Value::Null)),
        "createarray" => Ok(Value::Array(args.to_vec())),
        "createobject" => {
            if !args.len().is_multiple_of(2) {
                return Err(());
            }
            let mut map = serde_json::Map::new();
            for pair in args.chunks(2) {
                let Value::String(key) = &pair[0] else {
                    return Err(());
                };
                map.insert(key.clone(), pair[1].clone());
            }
            Ok(Value::Object(map))
        }
        "guid" => Ok(Value::String(guid(
            &args.iter().map(text).collect::<Vec<_>>(),
        ))),
        "reference" => {
            let id = text(args.first().ok_or(())?).to_ascii_lowercase();
            REFERENCES.with(|r| r.borrow().get(&id).cloned()).ok_or(())
        }
        "uniquestring" => Ok(Value::String(unique_string(
            &args.iter().map(text).collect::<Vec<_>>(),
        ))),
        "resourceid" | "subscriptionresourceid" => {
            let args: Vec<String> = args.iter().map(text).collect();
            let type_at = args.iter().position(|a| a.contains('/')).ok_or(())?;
            let names = &args[type_at + 1..];
            let (sub, rg) = match (name, &args[..type_at]) {
                ("subscriptionresourceid", []) => (ctx.subscription_id.to_string(), None),
                ("subscriptionresourceid", [s]) => (s.clone(), None),
                (_, []) => (
                    ctx.subscription_id.to_string(),
                    ctx.resource_group.map(str::to_string),
                ),
                (_, [rg]) => (ctx.subscription_id.to_string(), Some(rg.clone())),
                (_, [s, rg]) => (s.clone(), Some(rg.clone())),
                _ => return Err(()),
            };
            let scope = match rg {
                Some(rg) => format!("/subscriptions/{sub}/resourceGroups/{rg}"),
                None => format!("/subscriptions/{sub}"),
            };
            Ok(Value::String(format!(
                "{scope}{}",
                provider_path(&args[type_at], names)
            )))
        }
        "subscription" => Ok(json!({
            "id": format!("/subscriptions/{}", ctx.subscription_id),
            "subscriptionId": ctx.subscription_id,
            "tenantId": ctx.tenant_id,
            "displayName": "fake-cloud subscription",
        })),
        "resourcegroup" => {
            let rg = ctx.resource_group.ok_or(())?;
            Ok(json!({
                "id": format!("/subscriptions/{}/resourceGroups/{rg}", ctx.subscription_id),
                "name": rg,
                "type": "Microsoft.Resources/resourceGroups",
                "location": ctx.location,
                "properties": {"provisioningState": "Succeeded"},
            }))
        }
        "environment" => Ok(json!({
            "name": "AzureCloud",
            "gallery": "https://gallery.azure.com/",
            "graph": "https://graph.windows.net/",
            "portal": "https://portal.azure.com",
            "resourceManager": "https://management.azure.com/",
            "authentication": {
                "loginEndpoint": "https://login.microsoftonline.com/",
                "audiences": ["https://management.core.windows.net/", "https://management.azure.com/"],
            },
            "suffixes": {
                "acrLoginServer": ".azurecr.io",
                "keyvaultDns": ".vault.azure.net",
                "storage": "core.windows.net",
                "sqlServerHostname": ".database.windows.net",
            },
        })),
        _ => Err(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with<T>(params: Value, vars: Value, idx: Option<i64>, f: impl FnOnce(&Ctx<'_>) -> T) -> T {
        let params = params.as_object().cloned().unwrap_or_default();
        let vars = vars.as_object().cloned().unwrap_or_default();
        let ctx = Ctx {
            params: &params,
            variables: &vars,
            copy_index: idx,
            subscription_id: "sub",
            tenant_id: "tid",
            resource_group: Some("rg"),
            location: "westus",
            depth: 0,
        };
        f(&ctx)
    }

    #[test]
    fn evaluates_supported_forms() {
        let p = json!({"pools": [{"jobName": "a", "cpu": 0.5}, {"jobName": "b", "cpu": 1}], "project": "My-Proj", "name": "x"});
        let v = json!({"rg": "[format('rg-{0}', parameters('project'))]", "lit": 5, "env": "[variables('rg')]"});
        with(p, v, Some(1), |c| {
            assert_eq!(
                eval_str("[parameters('pools')[copyIndex()].jobName]", c),
                "b"
            );
            assert_eq!(
                eval_str("[parameters('pools')[copyIndex()]['cpu']]", c),
                json!(1)
            );
            assert_eq!(eval_str("[length(parameters('pools'))]", c), json!(2));
            assert_eq!(eval_str("[variables('env')]", c), "rg-My-Proj");
            assert_eq!(eval_str("[variables('lit')]", c), json!(5));
            assert_eq!(eval_str("literal", c), "literal");
            assert_eq!(eval_str("[[escaped]", c), "[escaped]");
            assert_eq!(
                eval_str("[toLower(replace(parameters('project'), '-', ''))]", c),
                "myproj"
            );
            assert_eq!(
                eval_str("[resourceId('Microsoft.App/managedEnvironments', 'e')]", c),
                "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.App/managedEnvironments/e"
            );
            assert_eq!(
                eval_str(
                    "[format('{0}{1}', 'acr', environment().suffixes.acrLoginServer)]",
                    c
                ),
                "acr.azurecr.io"
            );
            assert_eq!(
                eval_str("[reference('x').outputs.y.value]", c),
                "fake:[reference('x').outputs.y.value]"
            );
            assert_eq!(
                eval_str("[parameters('missing')]", c),
                "fake:[parameters('missing')]"
            );
            assert_eq!(unique_string(&["a".into()]).len(), 13);
        });
    }
}
