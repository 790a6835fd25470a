//! The admin Lambda's JSON API and pages in-process against the emulator,
//! one module per concept; one test binary, so the crate links once.

#[path = "../common/mod.rs"]
mod common;

mod auth;
mod bad_input;
mod batches;
mod bulk;
mod cost;
mod jobs;
mod keys;
mod logs;
mod openapi;
mod pages;
mod policy;
mod queues;
mod recurring;
mod search;
mod stats;
mod tags;
