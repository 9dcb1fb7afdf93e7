//! `imgpipe models [--json]`: the models the API serves (`GET /models`), and how images that name none
//! are split between them.

use std::io::Write;

use serde_json::Value;

use crate::api::{ApiClient, ApiError};
use crate::exit;

pub async fn models(client: &ApiClient, json: bool) -> Result<u8, ApiError> {
    let answer = client.models().await?;
    let mut out = std::io::stdout().lock();
    if json {
        let _ = writeln!(out, "{answer}");
    } else {
        let _ = write!(out, "{}", table(&answer));
    }
    Ok(exit::OK)
}

/// The human form: one row per model, then the default split.
pub fn table(answer: &Value) -> String {
    let header = ["NAME", "VERSION", "VARIANT", "INPUT", "CLASSES", "DEFAULT %"].map(str::to_owned);
    let text = |value: &Value| match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    };
    let mut rows = vec![header];
    for model in answer["models"].as_array().map(Vec::as_slice).unwrap_or_default() {
        rows.push([
            text(&model["name"]),
            text(&model["version"]),
            text(&model["variant"]),
            format!("{}x{}", text(&model["input"]["width"]), text(&model["input"]["height"])),
            text(&model["num_classes"]),
            text(&model["default_weight"]),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|column| rows.iter().map(|row| row[column].chars().count()).max().unwrap_or(0))
        .collect();
    let mut table = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        table.push_str(cells.join("  ").trim_end());
        table.push('\n');
    }
    if let Some(default) = answer["default"].as_str() {
        table.push_str(&format!("\nimages that name no model: {default} (percent)\n"));
    }
    table
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_table_has_a_row_per_model_and_the_default_split() {
        let answer = json!({
            "models": [
                {"name": "efficientnet-lite0", "version": "0.1.0", "variant": "fp32",
                 "input": {"width": 224, "height": 224}, "num_classes": 1000, "default_weight": 90},
                {"name": "tiny", "version": "2", "variant": null,
                 "input": {"width": 32, "height": 32}, "num_classes": 10, "default_weight": 10}
            ],
            "default": "efficientnet-lite0=90,tiny=10"
        });
        let table = table(&answer);
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[0].starts_with("NAME") && lines[0].ends_with("DEFAULT %"),
            "{table}"
        );
        assert!(lines[1].starts_with("efficientnet-lite0  0.1.0"), "{table}");
        assert!(lines[1].contains("224x224") && lines[1].contains("1000") && lines[1].ends_with("90"));
        assert!(lines[2].starts_with("tiny") && lines[2].contains(" - "), "{table}");
        assert_eq!(
            lines[4],
            "images that name no model: efficientnet-lite0=90,tiny=10 (percent)"
        );
    }
}
