//! Integration tests: Hangar against the AWS API emulator through the real
//! AWS SDK. Run them with `bash tests/run.sh`, which starts the emulator.

mod bad_input;
mod batches;
mod continuations;
mod cost;
mod docs;
mod emf;
mod faults;
mod filters;
mod idempotency;
mod infra;
mod intake;
mod latency;
mod lifecycle;
mod limits;
mod logs;
mod metrics;
mod model;
mod pause;
mod progress;
mod recurring;
mod results;
mod support;
mod tags;
mod timer;
mod traces;
mod unique;
mod waiting;
mod worker;
