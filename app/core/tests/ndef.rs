//! Real-shaped NDEF dumps from terminal tags, kept as binary fixtures, read
//! end to end: the exact serial each yields, or the exact kind of error.

// One module so that `cargo test -p posfield-core ndef` selects these tests too.
mod ndef_fixtures {
    use std::path::PathBuf;

    use posfield_core::identify::ndef::{
        Content, NdefError, RecordKind, SerialSource, parse_message, parse_tlv, parse_type2_dump,
        serial_from_tag,
    };
    use rstest::rstest;

    /// The UID a phone reports for the tag in these fixtures (NTAG213, 7 bytes).
    const UID: [u8; 7] = [0x04, 0xA2, 0x24, 0xE2, 0xC4, 0x5E, 0x80];

    fn fixture(name: &str) -> Vec<u8> {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ndef").join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[rstest]
    #[case::model_text_then_chinese_serial_text("text-record.bin", "N9100001234567", 1, RecordKind::Text)]
    #[case::https_www_uri_with_sn_query("uri-record.bin", "P3A012345678", 0, RecordKind::Uri)]
    #[case::json_in_three_chunks("chunked.bin", "SN12345678", 0, RecordKind::Mime)]
    fn message_fixtures_give_the_exact_serial(
        #[case] name: &str,
        #[case] serial: &str,
        #[case] index: usize,
        #[case] kind: RecordKind,
    ) {
        let found = serial_from_tag(&fixture(name), &UID).unwrap();
        assert_eq!(found.serial, serial);
        assert_eq!(found.source, SerialSource::Record { index, kind });
        assert!(found.warnings.is_empty(), "{:?}", found.warnings);
    }

    #[test]
    fn the_chunked_fixture_reassembles_into_one_json_record() {
        let records = parse_message(&fixture("chunked.bin")).unwrap();
        assert_eq!(records.len(), 1);
        let Content::Mime { mime_type, data } = records[0].content().unwrap() else { panic!("{records:?}") };
        assert_eq!(mime_type, "application/json");
        assert_eq!(data, br#"{"model":"ME31","sn":"SN12345678"}"#);
    }

    #[test]
    fn the_truncated_fixture_is_a_length_overrun_and_falls_back_to_the_uid() {
        let bytes = fixture("truncated.bin");
        let error = parse_message(&bytes).unwrap_err();
        assert_eq!(error.code(), "length_overrun");
        assert_eq!(error.to_string(), "record 1 claims a payload of 48 bytes but only 16 remain at offset 4");
        let found = serial_from_tag(&bytes, &UID).unwrap();
        assert_eq!(found.serial, "04A224E2C45E80");
        assert_eq!(found.source, SerialSource::TagUid);
        assert_eq!(found.warnings, vec![error]);
    }

    #[test]
    fn the_truncated_fixture_with_a_bad_uid_is_no_serial() {
        let error = serial_from_tag(&fixture("truncated.bin"), &UID[..5]).unwrap_err();
        assert_eq!(error.code(), "no_serial");
        let NdefError::NoSerial { problems, .. } = &error else { panic!("{error}") };
        assert_eq!(problems[0].code(), "length_overrun");
    }

    #[test]
    fn the_type2_dump_yields_uid_message_and_serial() {
        let dump = fixture("type2-tag-dump.bin");
        let tag = parse_type2_dump(&dump).unwrap();
        assert_eq!(tag.uid, UID);
        let message = parse_tlv(tag.tlv_area).unwrap();
        let records = parse_message(message).unwrap();
        assert_eq!(records.len(), 2);
        let Content::External { type_name, .. } = records[0].content().unwrap() else {
            panic!("{records:?}")
        };
        assert_eq!(type_name, "android.com:pkg");
        let found = serial_from_tag(message, &tag.uid).unwrap();
        assert_eq!(found.serial, "N9100001234567");
        assert_eq!(found.source, SerialSource::Record { index: 1, kind: RecordKind::Text });
    }

    #[test]
    fn the_type2_dump_read_as_a_message_is_an_error() {
        // Handing the whole dump to the message parser (a likely mistake) must fail cleanly.
        let error = parse_message(&fixture("type2-tag-dump.bin")).unwrap_err();
        assert_eq!(error.code(), "missing_message_begin");
    }
}
