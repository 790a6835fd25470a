//! Cursors handed to the browser: the listing they continue and where, as
//! base64url JSON, and an HMAC-SHA256 over it, so a cursor that was cut,
//! edited or made up is refused with a clear error instead of reading
//! from wherever it points.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hangar::{Cursor, ListQuery};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// What a cursor carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// The listing.
    pub query: ListQuery,
    /// Where it goes on.
    pub cursor: Cursor,
}

/// Signs and checks cursors with one key.
#[derive(Clone)]
pub struct Cursors {
    key: Vec<u8>,
}

impl std::fmt::Debug for Cursors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cursors")
    }
}

/// Why a cursor was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CursorError {
    /// Not of the form `<data>.<signature>` in base64url.
    #[error("the cursor is malformed; start the listing again")]
    Malformed,
    /// The signature does not match: edited, or from another deployment.
    #[error(
        "the cursor was not issued by this dashboard (edited, or from another stack); start the listing again"
    )]
    Forged,
}

impl Cursors {
    /// Cursors signed with `key`.
    pub fn new(key: impl Into<Vec<u8>>) -> Self {
        Cursors { key: key.into() }
    }

    fn mac(&self) -> Hmac<Sha256> {
        <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key).expect("HMAC takes any key length")
    }

    /// The text of a cursor.
    pub fn encode(&self, position: &Position) -> String {
        let data = B64.encode(serde_json::to_vec(position).expect("a position serializes"));
        let mut mac = self.mac();
        mac.update(data.as_bytes());
        format!("{data}.{}", B64.encode(mac.finalize().into_bytes()))
    }

    /// Checks and reads a cursor.
    pub fn decode(&self, text: &str) -> Result<Position, CursorError> {
        let (data, signature) = text.split_once('.').ok_or(CursorError::Malformed)?;
        let signature = B64.decode(signature).map_err(|_| CursorError::Malformed)?;
        let mut mac = self.mac();
        mac.update(data.as_bytes());
        mac.verify_slice(&signature)
            .map_err(|_| CursorError::Forged)?;
        let json = B64.decode(data).map_err(|_| CursorError::Malformed)?;
        serde_json::from_slice(&json).map_err(|_| CursorError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hangar::State;
    use proptest::prelude::*;

    #[test]
    fn cursors_round_trip_and_refuse_tampering() {
        let cursors = Cursors::new(b"k".to_vec());
        let position: Position = serde_json::from_value(serde_json::json!({
            "query": {"state": "Failed"},
            "cursor": {"lanes": ["Done", {"After": {"at": 5, "pk": "job#a"}}]}
        }))
        .unwrap();
        assert_eq!(position.query.state, State::Failed);
        let text = cursors.encode(&position);
        assert_eq!(cursors.decode(&text), Ok(position.clone()));

        let (data, sig) = text.split_once('.').unwrap();
        let mut edited = B64.decode(data).unwrap();
        let i = edited.iter().position(|b| *b == b'5').unwrap();
        edited[i] = b'6';
        let edited = format!("{}.{sig}", B64.encode(edited));
        assert_eq!(cursors.decode(&edited), Err(CursorError::Forged));
        assert_eq!(
            Cursors::new(b"other".to_vec()).decode(&text),
            Err(CursorError::Forged)
        );
        assert_eq!(cursors.decode("nonsense"), Err(CursorError::Malformed));
        assert_eq!(cursors.decode("a.b!"), Err(CursorError::Malformed));
    }

    proptest::proptest! {
        /// Any text is refused or decoded, never a panic; any position a
        /// dashboard issues reads back the same, and no other key's
        /// cursor is accepted.
        #[test]
        fn cursors_from_anywhere(text in "\\PC{0,120}", noise in "[A-Za-z0-9_-]{0,60}\\.[A-Za-z0-9_-]{0,60}") {
            let cursors = Cursors::new(b"k".to_vec());
            let _ = cursors.decode(&text);
            proptest::prop_assert!(cursors.decode(&noise).is_err());
        }

        #[test]
        fn positions_round_trip(
            state in proptest::sample::select(hangar::State::ALL.to_vec()),
            queue in proptest::option::of("[a-z0-9_-]{1,64}"),
            lanes in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just(serde_json::json!("Start")),
                    proptest::strategy::Just(serde_json::json!("Done")),
                    (proptest::prelude::any::<i64>(), "\\PC{0,40}").prop_map(|(at, pk)| serde_json::json!({"After": {"at": at, "pk": pk}})),
                ],
                0..9,
            ),
        ) {
            let position: Position = serde_json::from_value(serde_json::json!({
                "query": {"state": state, "queue": queue},
                "cursor": {"lanes": lanes}
            }))
            .unwrap();
            let cursors = Cursors::new(b"key".to_vec());
            let text = cursors.encode(&position);
            proptest::prop_assert_eq!(cursors.decode(&text), Ok(position));
            proptest::prop_assert_eq!(Cursors::new(b"other".to_vec()).decode(&text), Err(CursorError::Forged));
        }
    }
}
