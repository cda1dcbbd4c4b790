//! Templates: the built-in ARM templates shipped inside the binary, user ARM JSON, and Bicep files
//! compiled by the `bicep` CLI; template parameters.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value, json};

use crate::error::{Error, Result};

/// `builtin:prerequisites`: subscription scope.
pub const PREREQUISITES: &str = include_str!("../templates/prerequisites.json");
/// `builtin:runner-jobs`: resource-group scope.
pub const RUNNER_JOBS: &str = include_str!("../templates/runner-jobs.json");

/// A template ready to deploy.
#[derive(Debug, Clone)]
pub struct Template {
    /// The ARM JSON.
    pub body: Value,
    /// The stem, the default deployment name.
    pub stem: String,
    /// Which built-in it is, if any.
    pub builtin: Option<Builtin>,
}

/// The built-in templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    /// `builtin:prerequisites`.
    Prerequisites,
    /// `builtin:runner-jobs`.
    RunnerJobs,
}

impl Template {
    /// Loads `template`: a built-in name, an ARM JSON path, or a `.bicep` path.
    pub fn load(template: &str) -> Result<Template> {
        let (text, stem, builtin) = match template {
            "builtin:prerequisites" => (
                PREREQUISITES.to_string(),
                "prerequisites".to_string(),
                Some(Builtin::Prerequisites),
            ),
            "builtin:runner-jobs" => (
                RUNNER_JOBS.to_string(),
                "runner-jobs".to_string(),
                Some(Builtin::RunnerJobs),
            ),
            t if t.starts_with("builtin:") => {
                return Err(Error::input(
                    "template",
                    format!(
                        "`{t}` is not a built-in template; use builtin:prerequisites or builtin:runner-jobs"
                    ),
                ));
            }
            path => {
                let p = Path::new(path);
                let stem = p
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "deployment".into());
                let text = if p.extension().is_some_and(|e| e == "bicep") {
                    compile_bicep(p)?
                } else {
                    std::fs::read_to_string(p).map_err(|e| {
                        Error::input(
                            "template",
                            format!(
                                "cannot read `{path}` ({e}); give a path relative to the workspace"
                            ),
                        )
                    })?
                };
                (text, stem, None)
            }
        };
        let body: Value = serde_json::from_str(&text).map_err(|e| {
            Error::input("template", format!("`{template}` is not valid JSON ({e})"))
        })?;
        if !body
            .get("resources")
            .is_some_and(|r| r.is_array() || r.is_object())
        {
            return Err(Error::input(
                "template",
                format!("`{template}` is not an ARM template (no `resources`)"),
            ));
        }
        Ok(Template {
            body,
            stem,
            builtin,
        })
    }

    /// The names of the template's parameters.
    pub fn declared_parameters(&self) -> Vec<String> {
        self.body["parameters"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Whether a parameter is declared.
    pub fn declares(&self, name: &str) -> bool {
        self.body["parameters"].get(name).is_some()
    }

    /// Declared parameters without a default value.
    pub fn required_parameters(&self) -> Vec<String> {
        self.body["parameters"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(_, v)| v.get("defaultValue").is_none())
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether parameter `name` is declared `securestring` or `secureObject`.
    pub fn parameter_is_secure(&self, name: &str) -> bool {
        self.body["parameters"][name]["type"]
            .as_str()
            .is_some_and(|t| t.to_ascii_lowercase().starts_with("secure"))
    }

    /// Whether output `name` is declared secure.
    pub fn output_is_secure(&self, name: &str) -> bool {
        self.body["outputs"][name]["type"]
            .as_str()
            .is_some_and(|t| t.to_ascii_lowercase().starts_with("secure"))
    }
}

fn compile_bicep(path: &Path) -> Result<String> {
    let shown = path.display().to_string();
    let out = std::process::Command::new("bicep")
        .arg("build")
        .arg(path)
        .arg("--stdout")
        .output()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::input(
                    "template",
                    format!("`{shown}` is a Bicep file, and no `bicep` executable is on PATH: install the Bicep CLI (the published image carries it), or compile to ARM JSON (`bicep build`) and pass the .json"),
                )
            } else {
                Error::input("template", format!("cannot run bicep ({e})"))
            }
        })?;
    if !out.status.success() {
        return Err(Error::input(
            "template",
            format!(
                "bicep could not compile `{shown}`:\n{}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// ARM deployment parameters: `{ name: { "value": … } }` (or `{ "reference": … }`, from a
/// parameters file). The one place that knows the shape.
#[derive(Clone, Default)]
pub struct Parameters(Map<String, Value>);

impl std::fmt::Debug for Parameters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only: values may be secure parameters'.
        f.debug_list().entries(self.names()).finish()
    }
}

impl Parameters {
    /// The value of `name`, when it is given as a value.
    pub fn value(&self, name: &str) -> Option<&Value> {
        self.0.get(name).and_then(|p| p.get("value"))
    }

    /// The value of `name` when it is text.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.value(name).and_then(Value::as_str)
    }

    /// The value of `name` when it is a whole number.
    pub fn number(&self, name: &str) -> Option<u64> {
        self.value(name).and_then(Value::as_u64)
    }

    /// Whether `name` is set.
    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// Sets `name` to `value`.
    pub fn set(&mut self, name: &str, value: impl Into<Value>) {
        self.0
            .insert(name.to_string(), json!({ "value": value.into() }));
    }

    /// Sets `name` to `value` unless it is set already (or there is no value).
    pub fn fill(&mut self, name: &str, value: Option<String>) {
        if !self.contains(name)
            && let Some(v) = value
        {
            self.set(name, v);
        }
    }

    /// The names set, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Every text leaf of `name`'s value (what must be masked when it is secure).
    pub fn text_leaves(&self, name: &str) -> Vec<&str> {
        fn walk<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
            match v {
                Value::String(s) => out.push(s),
                Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
                Value::Object(o) => o.values().for_each(|x| walk(x, out)),
                _ => {}
            }
        }
        let mut out = Vec::new();
        if let Some(v) = self.value(name) {
            walk(v, &mut out);
        }
        out
    }

    /// Takes every entry of `other`, replacing those of the same name.
    pub fn extend(&mut self, other: Parameters) {
        self.0.extend(other.0);
    }

    /// The wire form, for the deployment's body.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }
}

/// One entry of the `parameters` input.
#[derive(Debug, Clone, PartialEq)]
enum Given {
    /// A value.
    Value(Value),
    /// `{ output: NAME }`: the output of an earlier command of the step.
    Output(String),
}

/// The `parameters` input, read and checked before any request: values, and references to
/// outputs that earlier commands of the step produce. `Debug` shows the names only: a value
/// may be a secure parameter's, masked only once the template says so.
#[derive(Clone, Default)]
pub struct ParameterInput(Vec<(String, Given)>);

impl std::fmt::Debug for ParameterInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl ParameterInput {
    /// Reads the `parameters` YAML map.
    pub fn parse(text: &str) -> Result<ParameterInput> {
        let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(text)
            .map_err(|e| Error::input("parameters", format!("is not a YAML map ({e})")))?;
        let Some(map) = yaml.as_mapping() else {
            return Err(Error::input(
                "parameters",
                "must be a YAML map of parameter names to values",
            ));
        };
        let mut out = Vec::new();
        for (k, v) in map {
            let Some(name) = k.as_str() else {
                return Err(Error::input(
                    "parameters",
                    "parameter names must be strings",
                ));
            };
            let value: Value = serde_json::to_value(v).map_err(|e| {
                Error::input(
                    "parameters",
                    format!("parameter `{name}` cannot be an ARM value ({e})"),
                )
            })?;
            let given = match value.as_object() {
                Some(o) if o.len() == 1 && o.contains_key("output") => {
                    let Some(output) = o["output"].as_str() else {
                        return Err(Error::input(
                            "parameters",
                            format!("parameter `{name}`: `output` must name an output"),
                        ));
                    };
                    Given::Output(output.to_string())
                }
                _ => Given::Value(value),
            };
            out.push((name.to_string(), given));
        }
        Ok(ParameterInput(out))
    }

    /// The names given.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(n, _)| n.as_str())
    }

    /// `name`'s value when it is literal text.
    pub fn literal_text(&self, name: &str) -> Option<&str> {
        self.0.iter().find_map(|(n, g)| match g {
            Given::Value(Value::String(s)) if n == name => Some(s.as_str()),
            _ => None,
        })
    }

    /// The parameters, with each `{ output: NAME }` taken from `outputs`.
    pub fn resolve(&self, outputs: &BTreeMap<String, String>) -> Result<Parameters> {
        let mut out = Parameters::default();
        for (name, given) in &self.0 {
            let value = match given {
                Given::Value(v) => v.clone(),
                Given::Output(output) => match outputs.get(output) {
                    Some(found) => Value::String(found.clone()),
                    None => {
                        return Err(Error::input(
                            "parameters",
                            format!(
                                "parameter `{name}` takes output `{output}`, which no earlier command of this step produced; add the command that produces it to `command` (e.g. `command: rotate-key deploy` for secret-uri)"
                            ),
                        ));
                    }
                },
            };
            out.set(name, value);
        }
        Ok(out)
    }
}

/// Reads a `parameters-file` (ARM deployment parameters JSON).
pub fn parameters_file(path: &str) -> Result<Parameters> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::input("parameters-file", format!("cannot read `{path}` ({e})")))?;
    let json: Value = serde_json::from_str(&text)
        .map_err(|e| Error::input("parameters-file", format!("`{path}` is not JSON ({e})")))?;
    let params = json.get("parameters").unwrap_or(&json);
    let Some(map) = params.as_object() else {
        return Err(Error::input(
            "parameters-file",
            format!("`{path}` has no `parameters` object"),
        ));
    };
    for (name, v) in map {
        if v.get("value").is_none() && v.get("reference").is_none() {
            return Err(Error::input(
                "parameters-file",
                format!("parameter `{name}` has neither `value` nor `reference`"),
            ));
        }
    }
    Ok(Parameters(map.clone()))
}

/// A deployment output as step-output text: strings as is, bools `true`/`false`, numbers as
/// text, objects and arrays as compact JSON.
pub fn output_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_templates_parse() {
        let p = Template::load("builtin:prerequisites").unwrap();
        assert!(p.declares("deployerObjectId"));
        let r = Template::load("builtin:runner-jobs").unwrap();
        assert!(r.declares("pools"));
        assert!(Template::load("builtin:nope").is_err());
    }

    #[test]
    fn yaml_parameters_keep_types_and_take_outputs() {
        let mut outputs = BTreeMap::new();
        outputs.insert("secret-uri".to_string(), "https://kv/secrets/k".to_string());
        let p = ParameterInput::parse(
            "count: 3\nflag: true\nname: x\nlist: [1, a]\nmap: {k: v}\nuri: { output: secret-uri }\n",
        )
        .and_then(|p| p.resolve(&outputs))
        .unwrap();
        let m = p.as_map();
        assert_eq!(m["count"], json!({"value": 3}));
        assert_eq!(m["flag"], json!({"value": true}));
        assert_eq!(m["list"], json!({"value": [1, "a"]}));
        assert_eq!(m["map"], json!({"value": {"k": "v"}}));
        assert_eq!(m["uri"], json!({"value": "https://kv/secrets/k"}));
        let later = ParameterInput::parse("uri: { output: nope }").unwrap();
        let err = later.resolve(&outputs).unwrap_err();
        assert!(
            err.to_string()
                .contains("parameter `uri` takes output `nope`")
        );
    }

    #[test]
    fn outputs_render_as_the_spec_says() {
        assert_eq!(output_text(&json!("s")), "s");
        assert_eq!(output_text(&json!(true)), "true");
        assert_eq!(output_text(&json!(42)), "42");
        assert_eq!(output_text(&json!({"a": [1, 2]})), r#"{"a":[1,2]}"#);
    }
}
