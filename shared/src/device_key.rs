//! The device key's rotation: the message a phone's current key signs to
//! vouch for its next key, and the server's check of it.
//!
//! The server asks (the manifest's `rotate_device_key`); the phone draws a
//! new Ed25519 key and sends its public half with a proof, the current
//! key's signature over [`rotation_message`]. The message is
//! domain-separated (no acceptance's binding message can be taken for it,
//! nor it for one) and names the server's id of the device, so a proof made
//! for one device is worth nothing for another.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

/// Hex digits of an Ed25519 public key.
pub const PUBLIC_KEY_HEX_LEN: usize = 64;
/// Hex digits of an Ed25519 signature.
pub const SIGNATURE_HEX_LEN: usize = 128;

/// The bytes the current device key signs to vouch for `new_public_key`
/// (lowercase hex) as the next key of the device the server knows as
/// `device_id`.
pub fn rotation_message(device_id: &str, new_public_key: &str) -> Vec<u8> {
    format!("posfield-device-key-rotation-v1\n{device_id}\n{new_public_key}\n").into_bytes()
}

/// The proof, hex: `current`'s signature over [`rotation_message`].
pub fn sign_rotation(current: &SigningKey, device_id: &str, new_public_key: &str) -> String {
    hex::encode(current.sign(&rotation_message(device_id, new_public_key)).to_bytes())
}

/// The Ed25519 public key `hex` names: exactly 64 hex digits that decode to
/// a point on the curve, else `None`.
pub fn parse_public_key(hex_key: &str) -> Option<VerifyingKey> {
    if hex_key.len() != PUBLIC_KEY_HEX_LEN {
        return None;
    }
    let bytes: [u8; 32] = hex::decode(hex_key).ok()?.try_into().ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}

/// Whether `proof` (hex) is `signer`'s (a public key, hex) signature over
/// the rotation of device `device_id` to `new_public_key`. A malformed key
/// or proof is `false`.
pub fn rotation_verifies(signer: &str, device_id: &str, new_public_key: &str, proof: &str) -> bool {
    let verified = || -> Option<()> {
        let key = parse_public_key(signer)?;
        if proof.len() != SIGNATURE_HEX_LEN {
            return None;
        }
        let signature: [u8; 64] = hex::decode(proof).ok()?.try_into().ok()?;
        let message = rotation_message(device_id, new_public_key);
        key.verify_strict(&message, &Signature::from_bytes(&signature)).ok()
    };
    verified().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn public(seed: u8) -> String {
        hex::encode(key(seed).verifying_key().to_bytes())
    }

    /// One proof, checked against a signer, a device and a new key.
    fn check(signer: &str, device: &str, new_key: &str, proof: &str) -> bool {
        rotation_verifies(signer, device, new_key, proof)
    }

    #[test]
    fn a_proof_verifies_only_for_its_signer_device_and_new_key() {
        let proof = sign_rotation(&key(1), "dev-1", &public(2));
        assert!(check(&public(1), "dev-1", &public(2), &proof));
        let refused: &[(&str, String, &str, String, String)] = &[
            ("another key signed it", public(3), "dev-1", public(2), proof.clone()),
            ("another device", public(1), "dev-2", public(2), proof.clone()),
            ("another new key", public(1), "dev-1", public(3), proof.clone()),
            ("a proof cut short", public(1), "dev-1", public(2), proof[..126].to_owned()),
            ("a proof not hex", public(1), "dev-1", public(2), "zz".repeat(64)),
            ("a signer not hex", "zz".repeat(32), "dev-1", public(2), proof.clone()),
            ("a signer too long", format!("{}00", public(1)), "dev-1", public(2), proof.clone()),
        ];
        for (case, signer, device, new_key, proof) in refused {
            assert!(!check(signer, device, new_key, proof), "{case}");
        }
    }

    #[test]
    fn the_message_is_not_an_acceptance_binding() {
        let message = rotation_message("dev-1", &public(2));
        let binding = crate::visit::acceptance::binding_message("a", "b", "c");
        assert!(message.starts_with(b"posfield-device-key-rotation-v1\n"));
        assert_ne!(&message[..20], &binding[..20]);
    }

    #[test]
    fn a_public_key_parses_only_from_64_hex_digits_on_the_curve() {
        assert!(parse_public_key(&public(5)).is_some());
        assert!(parse_public_key(&public(5).to_uppercase()).is_some());
        for bad in ["", "00", &"0g".repeat(32), &format!("{}00", public(5))] {
            assert!(parse_public_key(bad).is_none(), "{bad:?}");
        }
    }
}
