//! The summary: rows of figures per store, printed as a table and written as JSON.

use std::path::Path;

use serde_json::{Map, Value, json};

/// One figure.
#[derive(Clone, Debug)]
pub struct Row {
    pub name: String,
    pub value: String,
    pub goal: String,
}

/// Figures measured on one store (or one external cluster).
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub store: String,
    pub rows: Vec<Row>,
    pub json: Map<String, Value>,
}

impl Report {
    /// An empty report for `store`.
    pub fn new(store: &str) -> Report {
        Report {
            store: store.to_string(),
            ..Report::default()
        }
    }

    /// Adds a figure to the table and its raw value to the JSON (and prints it right away).
    pub fn add(&mut self, key: &str, name: &str, value: String, goal: &str, raw: Value) {
        println!("  [{}] {name}: {value}", self.store);
        self.rows.push(Row {
            name: name.to_string(),
            value,
            goal: goal.to_string(),
        });
        self.json.insert(key.to_string(), raw);
    }

    /// Notes a phase that failed (the run goes on).
    pub fn failed(&mut self, key: &str, name: &str, err: &anyhow::Error) {
        let msg = format!("{err:#}");
        let first_line = msg.lines().next().unwrap_or_default();
        let short: String = first_line.chars().take(160).collect();
        println!("  [{}] {name}: FAILED: {msg}", self.store);
        self.rows.push(Row {
            name: name.to_string(),
            value: format!("FAILED: {short}"),
            goal: String::new(),
        });
        self.json.insert(key.to_string(), json!({ "error": msg }));
    }

    /// The table, one block.
    pub fn table(&self) -> String {
        let w0 = self
            .rows
            .iter()
            .map(|r| r.name.len())
            .max()
            .unwrap_or(0)
            .max(6);
        let w1 = self
            .rows
            .iter()
            .map(|r| r.value.len())
            .max()
            .unwrap_or(0)
            .max(5);
        let mut s = format!("== store: {} ==\n", self.store);
        s.push_str(&format!("{:<w0$}  {:<w1$}  goal\n", "figure", "value"));
        s.push_str(&format!("{}  {}  ----\n", "-".repeat(w0), "-".repeat(w1)));
        for r in &self.rows {
            s.push_str(&format!("{:<w0$}  {:<w1$}  {}\n", r.name, r.value, r.goal));
        }
        s
    }
}

/// Writes all reports as one JSON document.
pub fn write_json(path: &Path, machine: Value, reports: &[Report]) -> anyhow::Result<()> {
    let mut stores = Map::new();
    for r in reports {
        stores.insert(r.store.clone(), Value::Object(r.json.clone()));
    }
    let doc = json!({ "machine": machine, "stores": stores });
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, serde_json::to_vec_pretty(&doc)?)?;
    Ok(())
}

/// Facts about this machine that bear on the figures: CPUs and load average.
pub fn machine() -> Value {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    json!({ "cpus": cpus, "loadavg_at_start": load.join(" ") })
}

/// Bytes as MiB text.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}
