//! The minisign (ed25519) check that every manifest passes before a byte of it is parsed.
//!
//! The launcher builds its public key in and hands it over as an [`UpdateKey`]; the secret
//! key stays with whoever publishes releases. A signature that names another key and one
//! that does not match the bytes are told apart, because they point at different fixes
//! (a wrong update URL or key, versus a damaged or altered manifest).

use minisign_verify::{Error as MinisignError, PublicKey, Signature};

use crate::error::{LibraryError, Result};

/// The public half of the release signing key.
#[derive(Debug, Clone)]
pub struct UpdateKey(PublicKey);

impl UpdateKey {
    /// Either the bare base64 key (the second line of a `minisign.pub`, what a launcher
    /// keeps as a const) or the whole two-line `minisign.pub` file.
    pub fn parse(text: &str) -> Result<UpdateKey> {
        let text = text.trim();
        let key = if text.contains('\n') { PublicKey::decode(text) } else { PublicKey::from_base64(text) };
        key.map(UpdateKey).map_err(|e| LibraryError::UpdateKey { problem: e.to_string() })
    }
}

/// Checks `signature` (the text of a `.minisig` file) over exactly `bytes`.
pub(crate) fn verify(key: &UpdateKey, bytes: &[u8], signature: &str) -> Result<()> {
    let unreadable = |problem: String| LibraryError::UpdateSignatureUnreadable { problem };
    let signature = Signature::decode(signature).map_err(|e| unreadable(e.to_string()))?;
    // Legacy (non-prehashed) signatures are refused: current minisign never makes them,
    // and accepting one more format buys nothing.
    key.0.verify(bytes, &signature, false).map_err(|e| match e {
        MinisignError::UnexpectedKeyId => LibraryError::UpdateWrongKey,
        MinisignError::InvalidSignature => LibraryError::UpdateTampered,
        MinisignError::UnexpectedAlgorithm => {
            unreadable("it is in minisign's legacy format; sign again with a current minisign, without -l".into())
        }
        other => unreadable(other.to_string()),
    })
}
