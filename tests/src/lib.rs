//! Harness for the integration tests: every test gets its own stack (table
//! and queues with a random prefix) on the emulator named by
//! `AWS_ENDPOINT_URL`, so tests run in parallel without sharing state.

pub mod catalogue;
pub mod meter;
pub mod proxy;
pub mod runtime_api;
pub mod soak;
pub mod template;

mod calls;
mod drive;
mod emulator;
mod env;
mod faults;
mod queues;
mod table;

pub use calls::Calls;
pub use drive::{history, states};
pub use emulator::{
    TEST_CREDENTIALS, endpoint, python, run_python, run_python_with_input, sdk_config,
    sdk_config_at, workspace_root,
};
pub use env::{EnvOptions, TestEnv};
pub use faults::Faults;
pub use hangar::client::finished_record as finished;
pub use meter::{Bill, IndexDef, Meter};
pub use table::MeterStart;
