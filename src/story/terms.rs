//! Text to the terms stories are compared on: words folded to lower case,
//! Cyrillic spelled in Latin letters, function words dropped, each word cut
//! to its first letters.

use std::collections::BTreeSet;

/// Letters kept of a word: enough to tell words apart, few enough that
/// inflections (talks, talked; переговоры, переговорах) and a name's
/// transliterations (Medinsky, Мединский) meet.
const STEM: usize = 6;

/// The terms of `text`, in order, without those in `left_out`.
pub fn terms<'a>(
    text: &'a str,
    left_out: &'a BTreeSet<String>,
) -> impl Iterator<Item = String> + 'a {
    text.split(|c: char| !c.is_alphanumeric())
        .filter_map(term)
        .filter(move |t| !left_out.contains(t))
}

/// The term of one word, or `None` for a word too short or too common to
/// tell one event from another.
pub fn term(word: &str) -> Option<String> {
    if word.chars().all(|c| c.is_ascii_digit()) {
        // Figures (146 prisoners, 28 points, 140 billion) are written alike
        // in every language; a lone digit says little.
        return (word.len() >= 2).then(|| word.to_string());
    }
    let mut latin = String::with_capacity(word.len());
    for c in word.chars().flat_map(char::to_lowercase) {
        match transliterate(c) {
            Some(s) => latin.push_str(s),
            None => latin.push(c),
        }
    }
    if latin.chars().count() < 3 || STOP.contains(&latin.as_str()) {
        return None;
    }
    // An English plural is its singular (plants, plant), which the cut to
    // six letters does not fold when the word is short.
    let singular = match latin.strip_suffix('s') {
        Some(stem) if stem.len() >= 3 && !stem.ends_with(['s', 'u', 'i']) => stem,
        _ => &latin,
    };
    Some(singular.chars().take(STEM).collect())
}

/// Russian and Ukrainian letters in Latin ones (close to the BGN/PCGN
/// spellings English news uses), so that names and loanwords match across
/// the scripts.
fn transliterate(c: char) -> Option<&'static str> {
    Some(match c {
        'а' => "a",
        'б' => "b",
        'в' => "v",
        'г' => "g",
        'ґ' => "g",
        'д' => "d",
        'е' => "e",
        'є' => "ye",
        'ё' => "e",
        'ж' => "zh",
        'з' => "z",
        'и' => "i",
        'і' => "i",
        'ї' => "yi",
        'й' => "y",
        'к' => "k",
        'л' => "l",
        'м' => "m",
        'н' => "n",
        'о' => "o",
        'п' => "p",
        'р' => "r",
        'с' => "s",
        'т' => "t",
        'у' => "u",
        'ф' => "f",
        'х' => "kh",
        'ц' => "ts",
        'ч' => "ch",
        'ш' => "sh",
        'щ' => "shch",
        'ъ' | 'ь' => "",
        'ы' => "y",
        'э' => "e",
        'ю' => "yu",
        'я' => "ya",
        _ => return None,
    })
}

/// Function words of English, Russian and Ukrainian (transliterated), and
/// the words of news reporting itself: they say nothing about which event
/// an article reports. Rare words are what tell events apart, and document
/// frequency finds those; this list only spares a young index from
/// mistaking the commonest for them.
#[rustfmt::skip]
const STOP: &[&str] = &[
    // English
    "the", "and", "for", "are", "but", "not", "you", "all", "any", "can", "had", "her", "was",
    "one", "our", "out", "has", "have", "him", "his", "how", "its", "may", "new", "now", "old",
    "see", "two", "who", "did", "yes", "yet", "she", "too", "use", "that", "with", "they",
    "this", "from", "what", "when", "will", "would", "there", "their", "them", "then", "than",
    "been", "were", "which", "while", "about", "after", "before", "into", "over", "also",
    "more", "most", "some", "such", "only", "other", "could", "should", "said", "says",
    "saying", "told", "these", "those", "where", "each", "both", "very",
    "just", "because", "between", "against", "during", "without", "within", "under", "upon",
    "since", "until", "whether", "being", "does", "done", "here", "much", "many", "own",
    "same", "per", "via", "off", "ago", "week", "monday", "tuesday", "wednesday", "thursday",
    "friday", "saturday", "sunday", "today", "tonight", "yesterday", "year", "years",
    "reporters", "officials", "official", "according", "news", "statement",
    // Russian, transliterated
    "eto", "kak", "chto", "dlya", "ego", "ikh", "ona", "oni", "ono", "pri", "bez", "pod",
    "nad", "tak", "uzhe", "esli", "ili", "byl", "byla", "bylo", "byli", "budet",
    "takzhe", "kotoryy", "kotoraya", "kotorye", "posle", "cherez", "mezhdu", "svoi", "svoy",
    "vse", "vsekh", "eshche", "tolko", "zayavil", "zayavila", "soobshchil", "soobshchila",
    "slovam", "mozhet", "pered",
    // Ukrainian, transliterated
    "tse", "yak", "shcho", "yogo", "yiyi", "vony", "pislya", "takozh", "mizh", "vsi",
    "abo", "bulo", "bude", "yaki", "yakyy", "yaka", "zayavyv", "povidomyv", "slovamy",
    "lyshe",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inflections_and_scripts_meet_in_one_term() {
        assert_eq!(term("Medinsky"), term("Мединский"));
        assert_eq!(term("memoranda"), term("меморандума"));
        assert_eq!(term("Azovstal"), term("Азовсталь"));
        assert_eq!(term("plants"), term("plant"));
        assert_ne!(term("bus"), term("bu"));
        assert_eq!(term("146"), Some("146".to_string()));
        assert_eq!(term("7"), None);
        assert_eq!(term("the"), None);
        assert_eq!(term("заявил"), None);
    }
}
