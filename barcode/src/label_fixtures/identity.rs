//! Who a harder case's label belongs to: its maker, serial, part number and
//! QR text, all decided here and nowhere else.
//!
//! Provisional: a few hand-written formats per maker, to be replaced by a
//! table-driven generator. Callers only see [`identity_for`].

use super::Rng;

/// The texts printed on one label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The maker's name ("Acme" is a maker nobody knows).
    pub maker: String,
    /// The serial, encoded in the serial's Code 128.
    pub serial: String,
    /// The part number, encoded in a second Code 128, if the label has one.
    pub part_number: Option<String>,
    /// The QR code's text (TID/MID lines or a support URL), if any.
    pub qr_text: Option<String>,
}

const MAKERS: [&str; 4] = ["PAX", "Newland", "Verifone", "Acme"];
const ALNUM: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";

/// The identity of the `index`-th harder case, whose seed is `seed`: the
/// maker cycles with the index, the rest follows from the seed. Most labels
/// carry a part number; about 30 % a QR with TID/MID lines or a support URL.
pub fn identity_for(seed: u64, index: usize) -> Identity {
    let mut rng = Rng::new(seed ^ 0x1DE4_7177_0000_0000);
    let maker = MAKERS[index % MAKERS.len()];
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
    let (serial, part_number, model) = match maker {
        "PAX" => {
            let model = pick(&["A920", "A80", "S920", "A35", "A77"], &mut rng);
            let part = format!(
                "{model}-{}-{}-{}{}",
                alnum(3, &mut rng),
                alnum(3, &mut rng),
                digits(2, &mut rng),
                letters(2, &mut rng)
            );
            (digits(10, &mut rng), part, model)
        }
        "Newland" => {
            let model = pick(&["N910", "N950", "N700", "N86"], &mut rng);
            let part =
                format!("{model}-{}-{}", digits(4, &mut rng), pick(&["CN", "EU", "US", "BR"], &mut rng));
            (format!("N9100{}", digits(9, &mut rng)), part, model)
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
            (serial, part, model)
        }
        _ => {
            let part = format!("AC-{}-{}", digits(2, &mut rng), letters(1, &mut rng));
            (alnum(12, &mut rng), part, "X1")
        }
    };
    let part_number = (rng.below(100) < 88).then_some(part_number);
    let qr_text = match rng.below(10) {
        0 | 1 => Some(format!("TID:{}\nMID:{}", digits(8, &mut rng), digits(15, &mut rng))),
        2 => Some(format!("https://support.{}.example/device/{model}", maker.to_ascii_lowercase())),
        _ => None,
    };
    Identity { maker: maker.to_owned(), serial, part_number, qr_text }
}
