//! The cost table (docs/architecture.md, "Costs per job", measured by the
//! cost meter on the emulator from the table's stream) against the
//! DynamoDB model's billing of the same scenarios in the simulation: two
//! ways of counting DynamoDB's units must agree on every row's write
//! units and SQS requests.

use hangar_sim::cost::{Scenario, measure};

/// The cost table's row for a scenario: (write units, SQS requests).
fn row(scenario: Scenario) -> (f64, f64) {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/architecture.md"
    ))
    .expect("docs/architecture.md");
    let line = doc
        .lines()
        .find(|l| l.starts_with(&format!("| {} |", scenario.row())))
        .unwrap_or_else(|| panic!("no row for {scenario:?} in the cost table"));
    let cells: Vec<&str> = line.split('|').map(str::trim).collect();
    let number = |cell: &str| -> f64 {
        cell.trim_start_matches("**")
            .split([' ', '*'])
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("a number in {cell:?} of {line:?}"))
    };
    (number(cells[2]), number(cells[4]))
}

#[test]
fn the_model_bills_each_scenario_as_the_cost_table_says() {
    for scenario in Scenario::ALL {
        let (write_units, sqs) = row(scenario);
        let cost = measure(scenario);
        // A rate-limited job's window item is new when a window starts:
        // the table's row is a job with room in a window already open.
        let extra = if scenario == Scenario::RateLimited {
            0.25
        } else {
            0.0
        };
        assert!(
            cost.write_units >= write_units && cost.write_units <= write_units + extra,
            "{scenario:?}: the model bills {} write units a job, the table says {write_units}",
            cost.write_units
        );
        assert!(
            (cost.sqs_requests - sqs).abs() < 0.01,
            "{scenario:?}: {} SQS requests a job, the table says {sqs}",
            cost.sqs_requests
        );
    }
}
