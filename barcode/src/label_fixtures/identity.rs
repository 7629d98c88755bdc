//! Who a harder case's label belongs to: its maker, serial, second code and
//! QR text, all decided here and nowhere else.
//!
//! The makers and their shares follow the format table
//! ([`crate::makers::FORMATS`]): each known maker's serial is drawn in the
//! shape its sources show (PAX model code and sequence, Verifone
//! `xxx-xxx-xxx`, SUNMI, Castles, LANDI, WizarPOS), and its second code is
//! what its sources show beside it: a part number where one is published
//! (PAX, Verifone), an IMEI on cellular models otherwise. Six labels in a
//! hundred are of makers the table does not know (Newland, whose formats no
//! public source shows, and an invented one): the reader must answer
//! "unsure" for those, never guess.

use super::Rng;

/// The texts printed on one label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The maker's name.
    pub maker: String,
    /// The serial, encoded in the serial's Code 128.
    pub serial: String,
    /// The second code's text (a part number or an IMEI), if the label has one.
    pub part_number: Option<String>,
    /// The QR code's text (TID/MID lines, a support URL, or a URL naming the
    /// serial), if any.
    pub qr_text: Option<String>,
}

/// The makers, by the index's place in 0..100: (maker, how many).
const SHARES: [(&str, usize); 8] = [
    ("PAX", 40),
    ("Verifone", 24),
    ("SUNMI", 10),
    ("Castles", 8),
    ("LANDI", 6),
    ("WizarPOS", 6),
    ("Newland", 3),
    ("Acme", 3),
];

const ALNUM: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";

/// The maker of the `index`-th case: the shares spread over the indices.
fn maker_of(index: usize) -> &'static str {
    let mut place = (index * 37 + 11) % 100;
    for (maker, share) in SHARES {
        if place < share {
            return maker;
        }
        place -= share;
    }
    SHARES[0].0
}

/// The identity of the `index`-th harder case, whose seed is `seed`.
pub fn identity_for(seed: u64, index: usize) -> Identity {
    let mut rng = Rng::new(seed ^ 0x1DE4_7177_0000_0000);
    let maker = maker_of(index);
    let digits = |n: usize, rng: &mut Rng| -> String {
        (0..n).map(|_| char::from(b'0' + rng.below(10) as u8)).collect()
    };
    let alnum = |n: usize, rng: &mut Rng| -> String {
        (0..n).map(|_| char::from(ALNUM[rng.below(ALNUM.len() as u64) as usize])).collect()
    };
    let letters = |n: usize, rng: &mut Rng| -> String {
        (0..n).map(|_| char::from(b'A' + rng.below(26) as u8)).collect()
    };
    let pick = |options: &[&'static str], rng: &mut Rng| options[rng.below(options.len() as u64) as usize];
    let imei = |rng: &mut Rng| -> String {
        let body = format!("86{}", digits(12, rng));
        format!("{body}{}", posfield_shared::validate::luhn_digit(&body))
    };
    let cellular = |rng: &mut Rng| rng.below(10) < 7;
    let (serial, second, model) = match maker {
        "PAX" => {
            // (model, serial prefix, part-number model code): the prefixes the sources list.
            const MODELS: [(&str, &str, &str); 6] = [
                ("A920", "082", "A920"),
                ("A920Pro", "185", "A920"),
                ("A35", "229", "A35"),
                ("A77", "176", "A77"),
                ("S920", "6C", "S920"),
                ("S300", "5G", "S300"),
            ];
            let (model, prefix, code) = MODELS[rng.below(MODELS.len() as u64) as usize];
            // 3-digit model code + 7 digits, or 2 characters + 6 digits.
            let serial = format!("{prefix}{}", digits(if prefix.len() == 2 { 6 } else { 7 }, &mut rng));
            let part = format!(
                "{code}-{}-{}-{}{}",
                alnum(3, &mut rng),
                alnum(3, &mut rng),
                digits(2, &mut rng),
                letters(2, &mut rng)
            );
            (serial, Some(part), model)
        }
        "Verifone" => {
            let model = pick(&["V200c", "V400m", "P400", "X990"], &mut rng);
            let part = format!(
                "M{}-{}-{}-{}",
                digits(3, &mut rng),
                digits(3, &mut rng),
                digits(2, &mut rng),
                letters(1, &mut rng)
            );
            let serial = format!("{}-{}-{}", digits(3, &mut rng), digits(3, &mut rng), digits(3, &mut rng));
            (serial, Some(part), model)
        }
        "SUNMI" => {
            let model = pick(&["V2", "V2s", "P2"], &mut rng);
            // As the samples: the model's two characters, a letter, four
            // digits, a letter, five digits (V2C5225B21669).
            let serial = format!(
                "{}{}{}{}{}",
                model.get(..2).unwrap_or("V2"),
                letters(1, &mut rng),
                digits(4, &mut rng),
                letters(1, &mut rng),
                digits(5, &mut rng)
            );
            (serial, cellular(&mut rng).then(|| imei(&mut rng)), model)
        }
        "Castles" => (digits(12, &mut rng), cellular(&mut rng).then(|| imei(&mut rng)), "S1F2"),
        "LANDI" => {
            let serial = format!("{}{}{}", digits(3, &mut rng), letters(3, &mut rng), digits(6, &mut rng));
            (serial, None, "M20se")
        }
        "WizarPOS" => {
            (format!("WP{}", digits(14, &mut rng)), cellular(&mut rng).then(|| imei(&mut rng)), "Q2")
        }
        "Newland" => {
            let model = pick(&["N910", "N950"], &mut rng);
            let part = format!("{model}-{}-{}", digits(4, &mut rng), pick(&["CN", "EU"], &mut rng));
            (format!("N9100{}", digits(9, &mut rng)), Some(part), model)
        }
        _ => {
            (alnum(12, &mut rng), Some(format!("AC-{}-{}", digits(2, &mut rng), letters(1, &mut rng))), "X1")
        }
    };
    let part_number = second.filter(|_| rng.below(100) < 90);
    let qr_text = match rng.below(10) {
        0 | 1 => Some(format!("TID:{}\nMID:{}", digits(8, &mut rng), digits(15, &mut rng))),
        2 => Some(format!("https://support.{}.example/device/{model}", maker.to_ascii_lowercase())),
        _ => None,
    };
    Identity { maker: maker.to_owned(), serial, part_number, qr_text }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::makers::{Role, classify};

    #[test]
    fn every_known_maker_s_serial_and_second_code_are_what_the_table_says() {
        let mut unknown = 0;
        for index in 0..100 {
            let id = identity_for(0x4A2D_0000 + index as u64, index);
            let role = classify(&id.serial);
            if matches!(id.maker.as_str(), "Newland" | "Acme") {
                unknown += 1;
                assert_eq!(role, Role::Unknown, "{id:?}");
                continue;
            }
            assert!(matches!(role, Role::Serial { .. }), "{id:?}: {role:?}");
            if let Some(second) = &id.part_number {
                let second = classify(second);
                assert!(matches!(second, Role::PartNumber { .. } | Role::Imei), "{id:?}: {second:?}");
            }
        }
        assert_eq!(unknown, 6);
    }
}
