//! The text of an XML document in the encodings JUnit files are written in:
//! UTF-8 (the default), UTF-16 (by byte-order mark, or by the first bytes of
//! `<?xml` when there is none) and whatever the XML declaration names
//! (ISO-8859-1 and the other single-byte sets, read by the WHATWG rules that
//! browsers use: ISO-8859-1 is read as windows-1252).

use crate::error::{FormatError, line_of};
use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE};
use std::borrow::Cow;

pub fn decode(xml: &[u8]) -> Result<Cow<'_, str>, FormatError> {
    let (encoding, body) = match Encoding::for_bom(xml) {
        Some((enc, bom)) => (enc, &xml[bom..]),
        None if xml.starts_with(&[0x3C, 0x00, 0x3F, 0x00]) => (UTF_16LE, xml),
        None if xml.starts_with(&[0x00, 0x3C, 0x00, 0x3F]) => (UTF_16BE, xml),
        None => (declared(xml).unwrap_or(UTF_8), xml),
    };
    if encoding == UTF_8 {
        return std::str::from_utf8(body).map(Cow::Borrowed).map_err(|e| {
            FormatError::new(format!("JUnit XML is not valid UTF-8 (line {}, byte {})", line_of(body, e.valid_up_to()), e.valid_up_to()))
        });
    }
    encoding
        .decode_without_bom_handling_and_without_replacement(body)
        .map(|text| Cow::Owned(text.into_owned()))
        .ok_or_else(|| FormatError::new(format!("JUnit XML is not valid {} (as its declaration or byte-order mark says)", encoding.name())))
}

/// The encoding an ASCII-compatible XML declaration names, if it names one we know.
fn declared(xml: &[u8]) -> Option<&'static Encoding> {
    let head = &xml[..xml.len().min(256)];
    if !head.starts_with(b"<?xml") {
        return None;
    }
    let decl = &head[..head.windows(2).position(|w| w == b"?>")?];
    let at = decl.windows(8).position(|w| w == b"encoding")? + 8;
    let rest = &decl[at..];
    let quote_at = rest.iter().position(|&b| b == b'"' || b == b'\'')?;
    let quote = rest[quote_at];
    let value = &rest[quote_at + 1..];
    let label = &value[..value.iter().position(|&b| b == quote)?];
    Encoding::for_label(label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_by_declaration_and_byte_order_mark() {
        let latin1 = b"<?xml version='1.0' encoding='ISO-8859-1'?><testsuite name='caf\xe9'/>";
        assert!(decode(latin1).unwrap().contains("café"));
        let utf16: Vec<u8> = "\u{feff}<testsuite name='ü'/>".encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert_eq!(decode(&utf16).unwrap(), "<testsuite name='ü'/>");
        let utf16be: Vec<u8> = "<?xml version=\"1.0\" encoding=\"UTF-16\"?><a/>".encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert!(decode(&utf16be).unwrap().ends_with("<a/>"));
        assert_eq!(decode("\u{feff}<a/>".as_bytes()).unwrap(), "<a/>", "a UTF-8 byte-order mark is dropped");
        assert!(decode(b"<a>\xff</a>").unwrap_err().message.contains("UTF-8"));
        assert!(decode(b"<?xml version='1.0' encoding='no-such-set'?><a>\xff</a>").unwrap_err().message.contains("UTF-8"));
    }
}
