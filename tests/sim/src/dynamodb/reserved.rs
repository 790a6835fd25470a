//! Reserved words: "Reserved words in DynamoDB" (ReservedWords.html).
//! An expression may not use one as an attribute name without a `#`
//! placeholder ("Attribute name is a reserved keyword"). This is a subset of
//! the documented list (which has 573 words): the ones an attribute is
//! likely to be called; a word missing here is accepted where DynamoDB
//! would refuse it.

#[rustfmt::skip]
pub const RESERVED: &[&str] = &[
    "ABORT", "ACTION", "ADD", "ALL", "AND", "ANY", "AS", "ASC", "ATTRIBUTE", "BETWEEN",
    "BINARY", "BOOLEAN", "BY", "CASE", "COMMENT", "COUNT", "CREATE", "DATA", "DATE", "DAY",
    "DELETE", "DESC", "DURATION", "END", "EXISTS", "FALSE", "FILTER", "FIRST", "FROM", "GROUP",
    "HASH", "HOUR", "IN", "INDEX", "ITEM", "ITEMS", "KEY", "KEYS", "LAST", "LIMIT", "LIST",
    "MAP", "MAX", "MIN", "NAME", "NEXT", "NO", "NOT", "NULL", "NUMBER", "OF", "OR", "ORDER",
    "PARENT", "PARTITION", "PERCENT", "RANGE", "READ", "REMOVE", "RETRY", "RETURN", "SET",
    "SIZE", "STATE", "STATUS", "STRING", "TABLE", "TIME", "TIMESTAMP", "TIMEOUT", "TO",
    "TOTAL", "TRUE", "TTL", "TYPE", "UPDATE", "USER", "VALUE", "VALUES", "VERSION", "VIEW",
    "WHERE", "WITH", "WRITE", "YEAR", "ZONE",
];
