//! DynamoDB (to be written).
