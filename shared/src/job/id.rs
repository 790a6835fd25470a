//! The job id. Its rule (what [`JobId::parse`] accepts) is in the parent
//! module, beside the other names' rules.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A job id: a UUIDv7 (time-ordered) for jobs Hangar creates, or a
/// deterministic id derived from a recurring job or an intake message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub(super) String);

impl JobId {
    /// A new time-ordered id.
    pub fn generate() -> Self {
        JobId(crate::entropy::uuid_v7().to_string())
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
