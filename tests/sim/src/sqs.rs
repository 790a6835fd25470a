//! SQS (to be written).
