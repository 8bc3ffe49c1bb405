//! Text made printable in CP866, and line wrapping that never exceeds the paper.

/// Replaces what CP866 cannot print with what a reader expects: «₽» → «руб.», typographic
/// quotes and dashes → ASCII, anything else unknown → `?`. Control characters become spaces.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '₽' => out.push_str("руб."),
            '«' | '»' | '„' | '“' | '”' => out.push('"'),
            '‘' | '’' => out.push('\''),
            '–' | '—' | '−' => out.push('-'),
            '…' => out.push_str("..."),
            '\u{00A0}' | '\u{202F}' | '\u{2009}' => out.push(' '),
            c if c.is_control() => out.push(' '),
            c if encodes(c) => out.push(c),
            _ => out.push('?'),
        }
    }
    out
}

fn encodes(c: char) -> bool {
    let mut buf = [0u8; 4];
    let (_, _, unmappable) = encoding_rs::IBM866.encode(c.encode_utf8(&mut buf));
    !unmappable
}

/// CP866 bytes of already-printable text (one byte per character).
pub fn to_cp866(text: &str) -> Vec<u8> {
    encoding_rs::IBM866.encode(text).0.into_owned()
}

/// Splits text into lines of at most `width` characters, breaking at spaces where it can and
/// inside a word only when the word itself is longer than a line.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    // Leading spaces are an indent that every wrapped line keeps (up to half the width).
    let indent = text.chars().take_while(|&c| c == ' ').count();
    if indent > 0 && indent <= width / 2 {
        let pad = " ".repeat(indent);
        return wrap_words(&text[indent..], width - indent)
            .into_iter()
            .map(|line| format!("{pad}{line}"))
            .collect();
    }
    wrap_words(text, width)
}

fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut line_len = 0;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let mut chars: Vec<char> = word.chars().collect();
        let sep = usize::from(line_len > 0);
        if line_len + sep + chars.len() <= width {
            if sep == 1 {
                line.push(' ');
            }
            line.extend(chars.iter());
            line_len += sep + chars.len();
            continue;
        }
        if line_len > 0 {
            lines.push(std::mem::take(&mut line));
        }
        while chars.len() > width {
            lines.push(chars.drain(..width).collect());
        }
        line_len = chars.len();
        line = chars.into_iter().collect();
    }
    if line_len > 0 || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// A label and a value on one line, the value flush right; when both do not fit, the label
/// wraps and the value goes right-aligned on a line of its own.
pub fn pair(label: &str, value: &str, width: usize) -> Vec<String> {
    let (l, v) = (label.chars().count(), value.chars().count());
    if l + 1 + v <= width {
        return vec![format!("{label}{}{value}", " ".repeat(width - l - v))];
    }
    let mut lines = wrap(label, width);
    for chunk in wrap(value, width) {
        lines.push(format!("{:>width$}", chunk, width = width));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rouble_sign_is_spelled_out() {
        assert_eq!(printable("100 ₽ «Свет»"), "100 руб. \"Свет\"");
        assert_eq!(printable("€"), "?");
        assert_eq!(printable("№ Ёё"), "№ Ёё");
    }

    #[test]
    fn sixty_character_name_wraps_at_words() {
        let name = "Электроснабжение по договору энергоснабжения жилого дома №12";
        assert_eq!(name.chars().count(), 60);
        let lines = wrap(name, 42);
        assert_eq!(
            lines,
            vec![
                "Электроснабжение по договору",
                "энергоснабжения жилого дома №12"
            ]
        );
    }

    #[test]
    fn pair_right_aligns_value() {
        assert_eq!(pair("ИТОГ", "1,00", 10), vec!["ИТОГ  1,00"]);
        assert_eq!(
            pair("ДЛИННАЯ МЕТКА", "1,00", 10),
            vec!["ДЛИННАЯ", "МЕТКА", "      1,00"]
        );
    }

    proptest! {
        #[test]
        fn wrapped_lines_fit_and_keep_every_word(text in "[а-яА-Я0-9 ]{0,200}", width in 1usize..60) {
            let lines = wrap(&text, width);
            for line in &lines {
                prop_assert!(line.chars().count() <= width);
            }
            let joined: String = lines.concat();
            let original: String = text.split(' ').collect();
            prop_assert_eq!(joined.replace(' ', ""), original);
        }

        #[test]
        fn indented_lines_keep_their_indent(text in "[а-я][а-я ]{0,120}", width in 8usize..60) {
            for line in wrap(&format!("  {text}"), width) {
                prop_assert!(line.chars().count() <= width);
                prop_assert!(line.starts_with("  "));
            }
        }

        #[test]
        fn printable_text_always_encodes(text in "\\PC{0,50}") {
            let p = printable(&text);
            let (_, _, unmappable) = encoding_rs::IBM866.encode(&p);
            prop_assert!(!unmappable);
            prop_assert_eq!(to_cp866(&p).len(), p.chars().count());
        }
    }
}
