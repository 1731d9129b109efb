//! The language tags of captions and chapters, checked as the vendor checks them.
//!
//! The OpenAPI document (`POST /videos/{videoId}/captions/{language}`) gives two refusals: a
//! tag with anything but letters and dashes, and a tag that names no language the vendor
//! covers. The vendor's list of covered tags is a web page, not part of the document; vidmock
//! covers the ISO 639-1 languages below, each optionally followed by a script (4 letters) and a
//! region (2 letters), which is the shape of every example the document gives (`en`, `fr-CA`,
//! `zh-Hans-CN`, `sr-Cyrl`).

use super::Problem;

/// ISO 639-1 code → the language's name in itself (the caption's `languageName`).
const LANGUAGES: &[(&str, &str)] = &[
    ("af", "Afrikaans"),
    ("ar", "العربية"),
    ("bg", "български"),
    ("bn", "বাংলা"),
    ("ca", "català"),
    ("cs", "čeština"),
    ("cy", "Cymraeg"),
    ("da", "dansk"),
    ("de", "Deutsch"),
    ("el", "Ελληνικά"),
    ("en", "English"),
    ("es", "español"),
    ("et", "eesti"),
    ("eu", "euskara"),
    ("fa", "فارسی"),
    ("fi", "suomi"),
    ("fr", "français"),
    ("ga", "Gaeilge"),
    ("gl", "galego"),
    ("he", "עברית"),
    ("hi", "हिन्दी"),
    ("hr", "hrvatski"),
    ("hu", "magyar"),
    ("hy", "հայերեն"),
    ("id", "Indonesia"),
    ("is", "íslenska"),
    ("it", "italiano"),
    ("ja", "日本語"),
    ("ka", "ქართული"),
    ("kk", "қазақ тілі"),
    ("ko", "한국어"),
    ("lt", "lietuvių"),
    ("lv", "latviešu"),
    ("mk", "македонски"),
    ("ms", "Melayu"),
    ("mt", "Malti"),
    ("nb", "norsk bokmål"),
    ("nl", "Nederlands"),
    ("nn", "norsk nynorsk"),
    ("no", "norsk"),
    ("pl", "polski"),
    ("pt", "português"),
    ("ro", "română"),
    ("ru", "русский"),
    ("sk", "slovenčina"),
    ("sl", "slovenščina"),
    ("sq", "shqip"),
    ("sr", "српски"),
    ("sv", "svenska"),
    ("sw", "Kiswahili"),
    ("ta", "தமிழ்"),
    ("th", "ไทย"),
    ("tr", "Türkçe"),
    ("uk", "українська"),
    ("ur", "اردو"),
    ("vi", "Tiếng Việt"),
    ("zh", "中文"),
];

/// A covered language tag, in BCP 47's canonical case (`zh-Hans-CN`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Tag {
    pub tag: String,
    /// The primary language's own name.
    pub name: &'static str,
}

/// Checks `language` (a path parameter, percent-decoded) as the vendor does.
pub(crate) fn parse(language: &str) -> Result<Tag, Problem> {
    if language.is_empty()
        || !language
            .bytes()
            .all(|b| b.is_ascii_alphabetic() || b == b'-')
    {
        return Err(Problem::invalid_attribute(
            "language",
            "The \"language\" attribute must contain only letters and dashes (for example \"fr\", \"fr-BE\").",
        ));
    }
    let not_valid =
        || Problem::invalid_attribute("language", "The \"language\" attribute is not valid.");
    let mut subtags = language.split('-');
    let primary = subtags.next().unwrap_or_default().to_ascii_lowercase();
    let name = LANGUAGES
        .iter()
        .find(|(code, _)| *code == primary)
        .map(|(_, name)| *name)
        .ok_or_else(not_valid)?;
    let mut tag = primary;
    let mut script_allowed = true;
    let mut region_allowed = true;
    for subtag in subtags {
        match subtag.len() {
            4 if script_allowed => {
                let mut chars = subtag.chars();
                tag.push('-');
                tag.extend(chars.next().map(|c| c.to_ascii_uppercase()));
                tag.push_str(&chars.as_str().to_ascii_lowercase());
                script_allowed = false;
            }
            2 if region_allowed => {
                tag.push('-');
                tag.push_str(&subtag.to_ascii_uppercase());
                script_allowed = false;
                region_allowed = false;
            }
            _ => return Err(not_valid()),
        }
    }
    Ok(Tag { tag, name })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_checked_and_put_in_canonical_case() {
        assert_eq!(parse("fr-ca").unwrap().tag, "fr-CA");
        assert_eq!(parse("ZH-hans-cn").unwrap().tag, "zh-Hans-CN");
        assert_eq!(parse("sr-Cyrl").unwrap().name, "српски");
        for bad in [
            "",
            "fr_CA",
            "en1",
            "xx",
            "fr-CA-CA",
            "fr-C",
            "en-US-Latn",
            "fr-",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
