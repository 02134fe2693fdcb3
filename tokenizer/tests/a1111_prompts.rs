//! The prompt parser against A1111's own, on the table that A1111's `prompt_parser.py`
//! produced (see daemon/engine/tests/data/a1111/README.md for how).

use ra_tokenizer::prompt::ParsedPrompt;
use serde_json::{json, Value};

/// JSON equality, except that numbers may differ in the last bit: serde_json's default
/// float parser is not correctly rounded (it reads 0.9090909090909091 one ulp high).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            x == y || (x - y).abs() <= 2.0 * f64::EPSILON * x.abs().max(y.abs())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

#[test]
fn parser_agrees_with_a1111_on_the_reference_table() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../daemon/engine/tests/data/a1111/prompts.json"
    );
    let cases: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(cases.len() >= 40);
    let mut failures = Vec::new();
    for case in &cases {
        let prompt = case["prompt"].as_str().unwrap();
        let steps = case["steps"].as_u64().unwrap() as u32;
        let expected = &case["expected"];
        let a1111_failed = expected["and"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["schedules"].as_array().unwrap())
            .any(|s| s["attention"].is_null());
        match ParsedPrompt::parse(prompt, steps) {
            Err(e) if a1111_failed => assert!(e.to_string().contains("not a number"), "{e}"),
            Err(e) => failures.push(format!("{prompt:?}: error {e}")),
            Ok(_) if a1111_failed => failures.push(format!("{prompt:?}: A1111 refuses it")),
            Ok(parsed) => {
                let ours = serde_json::to_value(&parsed).unwrap();
                if !same(&ours["and"], &expected["and"]) {
                    failures.push(format!(
                        "{prompt:?} ({steps} steps)\n  ours:  {}\n  a1111: {}",
                        ours["and"], expected["and"]
                    ));
                }
                let nets: Vec<Value> = parsed
                    .extra_networks
                    .iter()
                    .map(|n| json!([n.kind, n.args]))
                    .collect();
                if Value::from(nets.clone()) != case["extra_networks"] {
                    failures.push(format!(
                        "{prompt:?}: extra networks {nets:?} vs {}",
                        case["extra_networks"]
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
