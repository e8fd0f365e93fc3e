//! The language of an article, always as an ISO 639-1 code (`en`, never
//! `en-US` or `eng`).
//!
//! Pages and feeds declare a language, and often a wrong one: a site's
//! template says `en` on its Russian pages too. The text says what it is
//! written in, but a short one says too little to tell. So the declared
//! language stands when the text agrees with it or is too short to
//! contradict it, and the detected one otherwise; a text too short to tell,
//! with nothing declared, has no language (`None`).

use whatlang::Lang;

/// Detection looks at the start of the text: a few paragraphs tell as much
/// as a whole long article.
const SAMPLE_BYTES: usize = 2000;

/// A detection that whatlang does not call reliable still counts, without a
/// declared language to prefer, once the text has this many letters (about
/// two sentences); below that the text is too short to tell.
const ENOUGH_LETTERS: usize = 120;

/// Every ISO 639-1 code.
const ISO_639_1: &str = "aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce \
    ch co cr cs cu cv cy da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv \
    ha he hi ho hr ht hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr \
    ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn \
    no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so \
    sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh \
    yi yo za zh zu";

/// The ISO 639-1 code of a declared language tag (`en-US`, `pt_BR`, `EN`,
/// `eng`, `iw`); `None` for what is no language (`x-default`, `english`).
pub fn normalize(tag: &str) -> Option<String> {
    let primary = tag.trim().split(['-', '_', ',', ';']).next()?.trim();
    if !primary.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let primary = primary.to_ascii_lowercase();
    let code = match primary.as_str() {
        // Codes withdrawn from ISO 639-1 that pages still use.
        "iw" => "he",
        "in" => "id",
        "ji" => "yi",
        "jw" => "jv",
        "mo" => "ro",
        two if two.len() == 2 => two,
        three if three.len() == 3 => {
            return Lang::from_code(three).map(|l| iso639_1(l).to_string());
        }
        _ => return None,
    };
    ISO_639_1
        .split_whitespace()
        .any(|known| known == code)
        .then(|| code.to_string())
}

/// The article's language: the first of the `declared` tags that is a
/// language, unless the text says otherwise, else the text's own; `None`
/// when nothing is declared and the text is too short to tell.
///
/// The text says otherwise when whatlang is sure of another language
/// (confidence over 0.9), or when it is written in a script the declared
/// language does not use (`en` over Cyrillic). A declared language that
/// whatlang does not know (Irish, say) is taken as it is.
pub fn settle<'a>(declared: impl IntoIterator<Item = &'a str>, text: &str) -> Option<String> {
    let declared = declared.into_iter().find_map(normalize);
    let mut end = text.len().min(SAMPLE_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let sample = &text[..end];
    let Some(info) = whatlang::detect(sample) else {
        return declared;
    };
    let detected = iso639_1(info.lang());
    let Some(declared) = declared else {
        let letters = sample.chars().filter(|c| c.is_alphabetic()).count();
        return (info.is_reliable() || letters >= ENOUGH_LETTERS).then(|| detected.to_string());
    };
    let Some(known) = whatlang_lang(&declared) else {
        return Some(declared);
    };
    let other_script = !info.script().langs().contains(&known);
    match known != info.lang() && (info.is_reliable() || other_script) {
        true => Some(detected.to_string()),
        false => Some(declared),
    }
}

/// whatlang's language for an ISO 639-1 code, if it detects that language.
fn whatlang_lang(code: &str) -> Option<Lang> {
    Lang::all().iter().copied().find(|&l| iso639_1(l) == code)
}

/// ISO 639-1 code of a detected language (whatlang speaks ISO 639-3).
fn iso639_1(lang: whatlang::Lang) -> &'static str {
    use whatlang::Lang::*;
    match lang {
        Epo => "eo",
        Eng => "en",
        Rus => "ru",
        Cmn => "zh",
        Spa => "es",
        Por => "pt",
        Ita => "it",
        Ben => "bn",
        Fra => "fr",
        Deu => "de",
        Ukr => "uk",
        Kat => "ka",
        Ara => "ar",
        Hin => "hi",
        Jpn => "ja",
        Heb => "he",
        Yid => "yi",
        Pol => "pl",
        Amh => "am",
        Jav => "jv",
        Kor => "ko",
        Nob => "nb",
        Dan => "da",
        Swe => "sv",
        Fin => "fi",
        Tur => "tr",
        Nld => "nl",
        Hun => "hu",
        Ces => "cs",
        Ell => "el",
        Bul => "bg",
        Bel => "be",
        Mar => "mr",
        Kan => "kn",
        Ron => "ro",
        Slv => "sl",
        Hrv => "hr",
        Srp => "sr",
        Mkd => "mk",
        Lit => "lt",
        Lav => "lv",
        Est => "et",
        Tam => "ta",
        Vie => "vi",
        Urd => "ur",
        Tha => "th",
        Guj => "gu",
        Uzb => "uz",
        Pan => "pa",
        Aze => "az",
        Ind => "id",
        Tel => "te",
        Pes => "fa",
        Mal => "ml",
        Ori => "or",
        Mya => "my",
        Nep => "ne",
        Sin => "si",
        Khm => "km",
        Tuk => "tk",
        Aka => "ak",
        Zul => "zu",
        Sna => "sn",
        Afr => "af",
        Lat => "la",
        Slk => "sk",
        Cat => "ca",
        Tgl => "tl",
        Hye => "hy",
        Cym => "cy",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENGLISH: &str = "Envoys from both countries met in Geneva on Monday to discuss \
        a ceasefire along the front line, the exchange of prisoners and the return of \
        deported children. The talks lasted six hours and will resume next week.";
    const RUSSIAN: &str = "Делегации двух стран встретились в Женеве в понедельник, чтобы \
        обсудить прекращение огня вдоль линии фронта, обмен пленными и возвращение \
        депортированных детей. Переговоры продолжались шесть часов.";
    const GERMAN: &str = "Die Delegationen beider Länder trafen sich am Montag in Genf, um \
        über eine Waffenruhe entlang der Front, den Austausch von Gefangenen und die \
        Rückkehr verschleppter Kinder zu sprechen. Die Gespräche dauerten sechs Stunden.";

    #[test]
    fn declared_tags_become_iso_639_1_codes() {
        for (tag, code) in [
            ("en", Some("en")),
            ("en-us", Some("en")),
            ("en-US", Some("en")),
            ("EN_us", Some("en")),
            (" pt-BR ", Some("pt")),
            ("zh-Hant-TW", Some("zh")),
            ("uk,en;q=0.5", Some("uk")),
            ("eng", Some("en")),
            ("rus", Some("ru")),
            ("iw", Some("he")),
            ("in-ID", Some("id")),
            ("x-default", None),
            ("xx", None),
            ("english", None),
            ("", None),
            ("e1", None),
        ] {
            assert_eq!(normalize(tag).as_deref(), code, "{tag:?}");
        }
    }

    #[test]
    fn the_declared_language_stands_when_the_text_agrees_or_is_too_short() {
        assert_eq!(settle(["en-US"], ENGLISH).as_deref(), Some("en"));
        assert_eq!(settle(["de"], "Waffenruhe").as_deref(), Some("de"));
        assert_eq!(settle(["ru"], "Переговоры").as_deref(), Some("ru"));
        // Irish is no language whatlang detects: nothing to contradict it.
        assert_eq!(settle(["ga"], ENGLISH).as_deref(), Some("ga"));
        // The first tag that is a language counts.
        assert_eq!(
            settle(["x-default", "en_GB"], ENGLISH).as_deref(),
            Some("en")
        );
    }

    #[test]
    fn the_text_wins_over_a_declaration_it_contradicts() {
        assert_eq!(settle(["en"], RUSSIAN).as_deref(), Some("ru"));
        assert_eq!(settle(["en"], GERMAN).as_deref(), Some("de"));
        assert_eq!(settle(["de-DE"], ENGLISH).as_deref(), Some("en"));
        // A short text in another script than the declared language's.
        assert_eq!(settle(["en"], "Переговоры в Женеве").as_deref(), Some("ru"));
    }

    #[test]
    fn without_a_declaration_the_text_tells_unless_too_short() {
        assert_eq!(settle([], ENGLISH).as_deref(), Some("en"));
        assert_eq!(settle([], RUSSIAN).as_deref(), Some("ru"));
        assert_eq!(settle([], GERMAN).as_deref(), Some("de"));
        assert_eq!(settle(["bogus"], ENGLISH).as_deref(), Some("en"));
        assert_eq!(settle([], "Talks resume"), None);
        assert_eq!(settle([], "12 345"), None);
        assert_eq!(settle([], ""), None);
    }
}
