//! A form with a tick box per row: the ticked rows send one name once
//! each (`serial=…&serial=…`), which a struct of fields cannot hold, so
//! the body is read as pairs: the list of that name, bounded, and the
//! other fields by name.

use std::collections::HashMap;

use super::PageError;

/// A form's fields and its ticked rows.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TickedForm {
    /// The other fields, by name (the last value of a name repeated).
    pub fields: HashMap<String, String>,
    /// The values of the ticked rows' name, in order.
    pub ticked: Vec<String>,
}

impl TickedForm {
    /// Reads a form whose rows tick `name`; more than `most` ticked rows is
    /// refused before the rest of the body is read.
    pub fn parse(body: &[u8], name: &str, most: usize) -> Result<TickedForm, PageError> {
        let mut form = TickedForm::default();
        for (key, value) in url::form_urlencoded::parse(body) {
            if key == name {
                if form.ticked.len() == most {
                    return Err(PageError::BadRequest(format!("more than {most} rows at once")));
                }
                form.ticked.push(value.into_owned());
            } else {
                form.fields.insert(key.into_owned(), value.into_owned());
            }
        }
        Ok(form)
    }

    /// A field's value, or empty.
    pub fn field(&self, name: &str) -> &str {
        self.fields.get(name).map_or("", String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ticked_rows_are_kept_in_order_and_bounded() {
        let form = TickedForm::parse(b"csrf=t&serial=N1&kind=sim_renewal&serial=N2&confirmed=1", "serial", 5)
            .unwrap();
        assert_eq!(form.ticked, ["N1", "N2"]);
        assert_eq!((form.field("csrf"), form.field("kind"), form.field("missing")), ("t", "sim_renewal", ""));
        assert!(form.fields.contains_key("confirmed"));
        let many = (0..=5).map(|i| format!("serial=N{i}")).collect::<Vec<_>>().join("&");
        assert!(matches!(TickedForm::parse(many.as_bytes(), "serial", 5), Err(PageError::BadRequest(_))));
        assert_eq!(TickedForm::parse(b"serial=a&serial=b", "serial", 2).unwrap().ticked.len(), 2);
    }
}
