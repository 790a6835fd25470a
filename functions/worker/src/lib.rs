//! The example worker's jobs, shared by its binary and by `hangar dev`.

pub mod jobs;
