//! Removing a recurring job when the answer to its delete is lost: the
//! SDK tries the delete again, which finds nothing. The removal must still
//! stop the occurrences the job fired ahead, and say the job existed.

use std::str::FromStr;
use std::time::Duration;

use hangar::{NewJob, RecurringOptions, State, Timer};
use hangar_sim::dynamodb::value::Av;
use hangar_sim::net::{Faults, Network, sdk_config};
use hangar_sim::stack::{Stack, block_on, sim_client};
use serde_json::json;

#[test]
fn a_removal_whose_delete_answer_is_lost_stops_the_fired_occurrence() {
    block_on(async {
        let stack = Stack::new("rec", 1, Faults::none()).await;
        let (client, _) = stack.client("client");
        client
            .recurring()
            .add_or_update(
                "minutely",
                NewJob::new("rec.noop", json!({})),
                "0 * * * * *",
                RecurringOptions::default(),
            )
            .await
            .expect("a recurring job");
        // The timer fires the next occurrence ahead of its time (once the
        // index shows the recurring job).
        tokio::time::sleep(Duration::from_secs(5)).await;
        let tick = Timer::new(&client)
            .tick(Duration::from_secs(50))
            .await
            .expect("a tick");
        assert!(!tick.fired.is_empty(), "occurrences fired ahead: {tick:?}");
        // A client whose first DeleteItem is applied and its answer lost.
        let losing = sdk_config(
            Network::new(stack.world.clone(), stack.clock, Faults::none()).losing("DeleteItem", 1),
            stack.clock,
        );
        let (remover, _) = sim_client(
            &losing,
            stack.config.clone(),
            std::sync::Arc::new(stack.clock),
            "rec-remover",
        );
        let existed = remover
            .recurring()
            .remove("minutely")
            .await
            .expect("a removal");
        assert!(existed, "the recurring job existed");
        let w = stack.world.lock().unwrap();
        for occurrence in &tick.fired {
            let state = w
                .dynamodb
                .peek(&stack.config.table, &format!("job#{occurrence}"))
                .and_then(|i| match i.get("state") {
                    Some(Av::S(s)) => State::from_str(s).ok(),
                    _ => None,
                });
            assert_eq!(
                state,
                Some(State::Deleted),
                "{occurrence}, fired ahead, is stopped"
            );
        }
    });
}
