//! A bulk requeue of a large Failed state in the model: every job
//! requeued once, none refused, none throttled at the default rate, each
//! at the cost table's figure, and each then run once more to success.

#[test]
fn a_bulk_requeue_reaches_every_failed_job_at_its_cost() {
    let r = hangar_sim::bulk::run(2_500, 100.0);
    assert_eq!((r.changed, r.refused, r.throttled), (2_500, 0, 0), "{r:?}");
    assert_eq!(r.succeeded, 2_500, "{r:?}");
    let per = |x: f64| x / r.changed as f64;
    // The cost table's row: 3 write units (1 table + 2 index), a
    // GetItem and an UpdateItem each, a tenth of a SendMessageBatch.
    assert_eq!(
        (per(r.table_write_units), per(r.index_write_units)),
        (1.0, 2.0),
        "{r:?}"
    );
    assert_eq!(r.requests["UpdateItem"], 2_500, "{r:?}");
    assert_eq!(r.requests["SendMessageBatch"], 250, "{r:?}");
    // The pace: 100 jobs a second take at least 25 s.
    assert!(r.simulated.as_secs() >= 24, "{r:?}");
}
