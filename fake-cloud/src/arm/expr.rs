//! A small evaluator for ARM template expressions (`"[format('{0}', parameters('x'))]"`).
//!
//! Supported: string/integer/boolean literals, member access (`.field`), indexing (`[0]`,
//! `['field']`) and the functions `parameters`, `variables` (evaluated recursively), `copyIndex`,
//! `length`, `format`, `concat`, `toLower`, `toUpper`, `replace`, `take`, `skip`, `string`,
//! `int`, `bool`, `if`, `equals`, `not`, `empty`, `coalesce`, `createArray`, `createObject`,
//! `guid` and `uniqueString` (ARM's own algorithms, so names match real Azure), `reference` (of resources planned
//! earlier in the same deployment), `resourceId`, `subscriptionResourceId`, `subscription`,
//! `resourceGroup`, `deployment` (its location), `environment` (Azure public cloud values), `and`, `or`, `contains`, `split`, `first`,
//! `last`, `union` and `listKeys` (placeholder keys). Anything else cannot be evaluated; callers then use the string `"fake:" + expression`.

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

/// ARM's `guid(a, b, …)`: the RFC 4122 version-5 (SHA-1, name-based) UUID of the arguments
/// joined with `-`, in ARM's fixed namespace `11fb06fb-712d-4ddd-98c7-e71bbd588830`.
fn guid(parts: &[String]) -> String {
    /// `11fb06fb-712d-4ddd-98c7-e71bbd588830` in network (RFC 4122) byte order.
    const ARM_NAMESPACE: [u8; 16] = [
        0x11, 0xfb, 0x06, 0xfb, 0x71, 0x2d, 0x4d, 0xdd, 0x98, 0xc7, 0xe7, 0x1b, 0xbd, 0x58, 0x88,
        0x30,
    ];
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(&ARM_NAMESPACE);
    ctx.update(parts.join("-").as_bytes());
    let digest = ctx.finish();
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest.as_ref()[..16]);
    b[6] = (b[6] & 0x0f) | 0x50; // version 5
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
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

/// ARM's 64-bit hash behind `uniqueString()`: a MurmurHash3-x86-like function over two 32-bit
/// lanes fed 8 bytes at a time (seed 0), as in Microsoft's ARM expression engine.
fn arm_murmur64(data: &[u8]) -> u64 {
    const C1: u32 = 0x239b_961b;
    const C2: u32 = 0xab0e_9789;
    fn le32(bytes: &[u8]) -> u32 {
        bytes
            .iter()
            .rev()
            .fold(0u32, |acc, &b| (acc << 8) | u32::from(b))
    }
    fn mix1(k: u32) -> u32 {
        k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2)
    }
    fn mix2(k: u32) -> u32 {
        k.wrapping_mul(C2).rotate_left(17).wrapping_mul(C1)
    }
    fn fmix(mut h: u32) -> u32 {
        h ^= h >> 16;
        h = h.wrapping_mul(0x85eb_ca6b);
        h ^= h >> 13;
        h = h.wrapping_mul(0xc2b2_ae35);
        h ^ (h >> 16)
    }
    let (mut h1, mut h2) = (0u32, 0u32);
    let mut blocks = data.chunks_exact(8);
    for block in &mut blocks {
        h1 ^= mix1(le32(&block[..4]));
        h1 = h1
            .rotate_left(19)
            .wrapping_add(h2)
            .wrapping_mul(5)
            .wrapping_add(0x561c_cd1b);
        h2 ^= mix2(le32(&block[4..]));
        h2 = h2
            .rotate_left(13)
            .wrapping_add(h1)
            .wrapping_mul(5)
            .wrapping_add(0x0bca_a747);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        let (first, rest) = tail.split_at(tail.len().min(4));
        h1 ^= mix1(le32(first));
        if !rest.is_empty() {
            h2 ^= mix2(le32(rest));
        }
    }
    // ARM hashes the low 32 bits of the length (inputs are far below 4 GiB).
    let len = data.len() as u32;
    h1 ^= len;
    h2 ^= len;
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    h1 = fmix(h1);
    h2 = fmix(h2);
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    (u64::from(h2) << 32) | u64::from(h1)
}

/// ARM's `uniqueString(a, b, …)`: the hash of the arguments joined with `-` (UTF-8), written as
/// 13 characters of `a-z2-7`, five bits at a time from the most significant end.
fn unique_string(parts: &[String]) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut h = arm_murmur64(parts.join("-").as_bytes());
    (0..13)
        .map(|_| {
            let c = char::from(ALPHABET[(h >> 59) as usize]);
            h <<= 5;
            c
        })
        .collect()
}

type R = Result<Value, ()>;

/// `union()` of objects: `from`'s keys over `into`'s, objects under the same key merged.
fn merge_objects(into: &mut Value, from: &Value) {
    let (Value::Object(into), Value::Object(from)) = (into, from) else {
        return;
    };
    for (k, v) in from {
        match into.get_mut(k) {
            Some(existing) if existing.is_object() && v.is_object() => merge_objects(existing, v),
            _ => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
}

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
        "and" | "or" => {
            let bools: Vec<bool> = args
                .iter()
                .map(Value::as_bool)
                .collect::<Option<_>>()
                .ok_or(())?;
            if bools.len() < 2 {
                return Err(());
            }
            Ok(Value::Bool(if name == "and" {
                bools.iter().all(|b| *b)
            } else {
                bools.iter().any(|b| *b)
            }))
        }
        "contains" => match (args.first().ok_or(())?, args.get(1).ok_or(())?) {
            (Value::String(s), Value::String(part)) => Ok(Value::Bool(s.contains(part.as_str()))),
            (Value::Array(a), v) => Ok(Value::Bool(a.contains(v))),
            (Value::Object(m), Value::String(k)) => Ok(Value::Bool(m.contains_key(k))),
            _ => Err(()),
        },
        "split" => {
            let text = str_arg(args, 0)?;
            let parts: Vec<Value> = match args.get(1).ok_or(())? {
                Value::String(d) if !d.is_empty() => text
                    .split(d.as_str())
                    .map(|p| Value::String(p.into()))
                    .collect(),
                _ => return Err(()),
            };
            Ok(Value::Array(parts))
        }
        "first" | "last" => match args.first().ok_or(())? {
            Value::Array(a) => Ok(if name == "first" { a.first() } else { a.last() }
                .cloned()
                .unwrap_or(Value::Null)),
            Value::String(s) => {
                let c = if name == "first" {
                    s.chars().next()
                } else {
                    s.chars().last()
                };
                Ok(Value::String(c.map(String::from).unwrap_or_default()))
            }
            _ => Err(()),
        },
        // Objects merge (later keys win, nested objects merged); arrays concatenate without
        // duplicates.
        "union" => {
            if args.iter().all(Value::is_object) && !args.is_empty() {
                let mut out = Value::Object(serde_json::Map::new());
                for a in args {
                    merge_objects(&mut out, a);
                }
                Ok(out)
            } else if args.iter().all(Value::is_array) && !args.is_empty() {
                let mut out: Vec<Value> = Vec::new();
                for v in args.iter().filter_map(Value::as_array).flatten() {
                    if !out.contains(v) {
                        out.push(v.clone());
                    }
                }
                Ok(Value::Array(out))
            } else {
                Err(())
            }
        }
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
        // Secrets of a resource (a Log Analytics workspace's shared keys, a storage account's
        // keys): placeholders derived from its id.
        "listkeys" => {
            let key = unique_string(&[text(args.first().ok_or(())?)]);
            Ok(json!({
                "primarySharedKey": format!("fake-primary-{key}"),
                "secondarySharedKey": format!("fake-secondary-{key}"),
                "keys": [{"keyName": "key1", "value": format!("fake-key1-{key}")}],
            }))
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
        // The deployment being evaluated: its location (a subscription deployment's own, or
        // the resource group's).
        "deployment" => Ok(json!({
            "location": ctx.location,
            "properties": {"mode": "Incremental"},
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
            assert_eq!(
                eval_str("[uniqueString('hello', 'world')]", c),
                "a7wkljktk6wne"
            );
            assert_eq!(
                eval_str("[guid('a', 'b', 'c')]", c),
                "a98fa280-e03f-5afa-8d8e-92d0a9c201e8"
            );
        });
    }

    #[test]
    fn evaluates_logic_lists_and_unions() {
        with(json!({"id": "/s/1/rg/x/subnets/a"}), json!({}), None, |c| {
            assert_eq!(eval_str("[and(true, equals(1, 1))]", c), json!(true));
            assert_eq!(eval_str("[or(false, false)]", c), json!(false));
            assert_eq!(
                eval_str("[first(split(parameters('id'), '/subnets/'))]", c),
                "/s/1/rg/x"
            );
            assert_eq!(eval_str("[last(split('a/b/c', '/'))]", c), "c");
            assert_eq!(
                eval_str(
                    "[union(createObject('a', 1, 'n', createObject('x', 1)), createObject('b', 2, 'n', createObject('y', 2)))]",
                    c
                ),
                json!({"a": 1, "b": 2, "n": {"x": 1, "y": 2}})
            );
            assert_eq!(
                eval_str("[union(createArray(1, 2), createArray(2, 3))]", c),
                json!([1, 2, 3])
            );
        });
    }

    fn us(parts: &[&str]) -> String {
        unique_string(&parts.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    /// Vectors published with independent ports of ARM's function (one says it was checked
    /// against Bicep; one from a test calling Microsoft's `Azure.Deployments.Expression`).
    /// Their lengths cover tails of 0, 3, 4 and 6 bytes.
    #[test]
    fn unique_string_matches_arm() {
        assert_eq!(us(&["test"]), "rbgf3xv4ufgzg");
        assert_eq!(us(&["hello", "world"]), "a7wkljktk6wne");
        assert_eq!(us(&["abc"]), "cgtzqvhu4i23s");
        assert_eq!(
            us(&["/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/my-rg"]),
            "bmg7c6xu4tw46"
        );
        assert_eq!(us(&["foo", "bar", "baz"]), "xzi4ioaxtmth4");
        assert_eq!(
            us(&[
                "/subscriptions/31e9f9a0-9fd2-4294-a0a3-0101246d9700/resourceGroups/rg-modm201-20230913120256/providers/Microsoft.Compute/virtualMachines/bobjacmodm201"
            ]),
            "yvjxno3je5on2"
        );
        // The arguments are joined with '-', so these collide (as in ARM).
        assert_eq!(us(&["a-b"]), us(&["a", "b"]));
    }

    #[test]
    fn guid_is_uuid_v5_in_arm_namespace() {
        let g = |parts: &[&str]| guid(&parts.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        // = Python uuid.uuid5(UUID('11fb06fb-712d-4ddd-98c7-e71bbd588830'), 'a-b-c')
        assert_eq!(g(&["a", "b", "c"]), "a98fa280-e03f-5afa-8d8e-92d0a9c201e8");
        assert_eq!(g(&["a-b-c"]), g(&["a", "b", "c"]));
        // Version nibble 5, variant bits 10.
        assert_eq!(g(&["x"]), "51c0fe04-91fa-5688-abb4-481ca7437854");
    }
}
