//! The account an access key id belongs to, as `aws sts get-access-key-info` answers it.
//!
//! An AWS access key id is a four-letter type prefix (`AKIA` long-term, `ASIA` temporary) and 16 base32
//! characters; the account id is bits 1..40 (from the top) of the first six decoded bytes, above a 7-bit tail. A caller whose key no
//! `[[principal]]` names is therefore still of a known account: `aws:PrincipalAccount` is set and a call
//! without `registryId` acts on that account's registry, as it would in AWS. The ARN stays unknown (it
//! is not in the key id), so such a caller is reported as `anonymous`.

/// Key id prefixes that carry an account: long-term user keys and temporary (STS) keys.
const PREFIXES: [&str; 2] = ["AKIA", "ASIA"];

/// RFC 4648 base32, the alphabet of the 16 characters after the prefix.
fn base32_value(c: u8) -> Option<u64> {
    match c {
        b'A'..=b'Z' => Some(u64::from(c - b'A')),
        b'2'..=b'7' => Some(u64::from(c - b'2' + 26)),
        _ => None,
    }
}

/// The 12-digit account of an `AKIA`/`ASIA` key id; `None` for any other shape.
pub(crate) fn account_of_key_id(key_id: &str) -> Option<String> {
    let rest = PREFIXES.iter().find_map(|p| key_id.strip_prefix(p))?;
    if rest.len() != 16 {
        return None;
    }
    // The first 10 base32 characters are 50 bits, more than the 48 (six bytes) the account lives in.
    let mut bits: u64 = 0;
    for c in rest.bytes().take(10) {
        bits = (bits << 5) | base32_value(c)?;
    }
    rest.bytes().skip(10).try_for_each(|c| base32_value(c).map(|_| ()))?;
    let first_six_bytes = bits >> 2;
    let account = (first_six_bytes & 0x7fff_ffff_ff80) >> 7;
    Some(format!("{account:012}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS STS API Reference, GetAccessKeyInfo: the account of AKIA and ASIA keys; other shapes have none.
    #[test]
    fn key_ids_name_their_account() {
        let rows = [
            ("ASIAY34FZKBOKMUTVV7A", Some("609629065308")),
            ("AKIABTX3GSDSVIISEM2E", Some("111122223333")),
            ("AKIABZPUZDIKFIISEM2E", Some("123456789012")),
            ("AKIA", None),
            ("AIDAY34FZKBOKMUTVV7A", None),
            ("ASIAY34FZKBOKMUTVV7a", None),
            ("ASIAY34FZKBOKMUTVV7A1", None),
        ];
        for (key, account) in rows {
            assert_eq!(account_of_key_id(key).as_deref(), account, "{key}");
        }
    }
}
