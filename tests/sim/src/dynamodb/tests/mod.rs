//! Tests of the DynamoDB model.
