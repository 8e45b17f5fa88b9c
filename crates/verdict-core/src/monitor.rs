//! pytest-monitor's records: the machine a session ran on (its context), a
//! session (one pytest run), and a resource sample of one test or module.

use serde::{Serialize, Serializer};

/// The machine a session ran on, keyed by the client's hash of it.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorContext {
    pub h: String,
    pub cpu_count: i64,
    /// MHz as the client sends it (a float); shown truncated, as the original server does.
    pub cpu_frequency: f64,
    pub cpu_type: String,
    pub cpu_vendor: String,
    pub ram_total: i64,
    pub machine_node: String,
    pub machine_type: String,
    pub machine_arch: String,
    pub system_info: String,
    pub python_info: String,
}

/// A scalar value of a session description (pytest-monitor sends strings).
#[derive(Debug, Clone, PartialEq)]
pub enum DescriptionValue {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
}

impl DescriptionValue {
    /// The value as the original server shows it: Python's `str()`.
    pub fn python_str(&self) -> Option<String> {
        match self {
            Self::Null => None,
            Self::Bool(true) => Some("True".into()),
            Self::Bool(false) => Some("False".into()),
            Self::Number(n) => Some(n.to_string()),
            Self::String(s) => Some(s.clone()),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }
}

impl Serialize for DescriptionValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Null => s.serialize_none(),
            Self::Bool(b) => s.serialize_bool(*b),
            Self::Number(n) => n.serialize(s),
            Self::String(v) => s.serialize_str(v),
        }
    }
}

/// A session description: its keys in the order they were sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Description(pub Vec<(String, DescriptionValue)>);

impl Description {
    pub fn get(&self, key: &str) -> Option<&DescriptionValue> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

impl Serialize for Description {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// One pytest run. `run_date` is kept in the normalised ISO-8601 form the
/// original server answers with.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorSession {
    pub session_h: String,
    pub run_date: String,
    pub scm_ref: Option<String>,
    pub description: Description,
}

impl MonitorSession {
    /// The CI branch and build number pytest-monitor puts in the description.
    pub fn pipeline(&self) -> (Option<&str>, Option<&str>) {
        let text = |k| self.description.get(k).and_then(DescriptionValue::as_str);
        (text("pipeline_branch"), text("pipeline_build_no"))
    }
}

/// One resource sample: a test (`kind` "function") or a module ("module").
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonitorMetric {
    pub session_h: String,
    pub context_h: String,
    pub item_start_time: String,
    pub item_path: String,
    pub item: String,
    pub item_variant: String,
    pub item_fs_loc: String,
    pub kind: String,
    pub component: String,
    pub total_time: f64,
    pub user_time: f64,
    pub kernel_time: f64,
    pub cpu_usage: f64,
    pub mem_usage: f64,
}

impl MonitorMetric {
    /// The Verdict test a function sample belongs to: scope = module path,
    /// name = the parametrised name. Module samples belong to no test.
    pub fn test_key(&self) -> Option<(&str, &str)> {
        (self.kind == "function" && !self.item_variant.is_empty()).then_some((self.item_path.as_str(), self.item_variant.as_str()))
    }
}

impl<'de> serde::Deserialize<'de> for Description {
    /// From the JSON object, keeping its key order (serde_json's own map would sort it).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Pairs;
        impl<'de> serde::de::Visitor<'de> for Pairs {
            type Value = Description;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of scalar values")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Description, A::Error> {
                let mut pairs = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, serde_json::Value>()? {
                    let value = match v {
                        serde_json::Value::Null => DescriptionValue::Null,
                        serde_json::Value::Bool(b) => DescriptionValue::Bool(b),
                        serde_json::Value::Number(n) => DescriptionValue::Number(n),
                        serde_json::Value::String(s) => DescriptionValue::String(s),
                        _ => return Err(serde::de::Error::custom(format!("description.{k} is not a scalar"))),
                    };
                    pairs.push((k, value));
                }
                Ok(Description(pairs))
            }
        }
        d.deserialize_map(Pairs)
    }
}
