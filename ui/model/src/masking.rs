//! Masking of personal data for the customer's screen (152-FZ): anyone standing behind the
//! customer must not learn who lives where.
//!
//! * Full name: the surname keeps its first two letters and its last letter, the given name and
//!   patronymic become initials: «Иванов Иван Иванович» → «Ив***в И. И.».
//! * Address: city, street and house stay (the customer recognises the account by them); the flat,
//!   room or premises number is hidden: «г. Тверь, ул. Ленина, д. 5, кв. 12» → «г. Тверь, ул. Ленина,
//!   д. 5, кв. ***». A house-flat pair written with a dash («д. 5-12») becomes «д. 5-***».

/// «Иванов Иван Иванович» → «Ив***в И. И.». Extra whitespace is ignored; an empty name stays empty.
pub fn mask_full_name(full_name: &str) -> String {
    let mut words = full_name.split_whitespace();
    let Some(surname) = words.next() else {
        return String::new();
    };
    let letters: Vec<char> = surname.chars().collect();
    let mut out = match letters.len() {
        0 => String::new(),
        1 | 2 => format!("{}***", letters[0]),
        3 => format!("{}***{}", letters[0], letters[2]),
        n => format!("{}{}***{}", letters[0], letters[1], letters[n - 1]),
    };
    for word in words {
        if let Some(initial) = word.chars().next() {
            out.push(' ');
            out.extend(initial.to_uppercase());
            out.push('.');
        }
    }
    out
}

/// Words that introduce a flat, room or premises number.
const FLAT_MARKERS: [&str; 9] = [
    "кв",
    "кв.",
    "квартира",
    "ком.",
    "комн",
    "комн.",
    "комната",
    "пом.",
    "помещение",
];

/// Hides the flat (room, premises) number of an address; see the module documentation.
pub fn mask_address(address: &str) -> String {
    address
        .split(',')
        .map(|part| mask_address_part(part.trim()))
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

fn mask_address_part(part: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    for word in part.split_whitespace() {
        let lower = word.to_lowercase();
        if FLAT_MARKERS.contains(&lower.as_str()) {
            out.push(word.to_string());
            out.push("***".to_string());
            // Everything after the marker belongs to the flat number.
            return out.join(" ");
        }
        if let Some(rest) = lower.strip_prefix("кв.") {
            if rest.starts_with(|c: char| c.is_ascii_digit()) {
                out.push("кв. ***".to_string());
                return out.join(" ");
            }
        }
        out.push(mask_house_flat_pair(word));
    }
    out.join(" ")
}

/// «5-12» / «5а-12» (house-flat) → «5-***»; anything else unchanged.
fn mask_house_flat_pair(word: &str) -> String {
    let Some((house, flat)) = word.split_once('-') else {
        return word.to_string();
    };
    let house_ok = house.starts_with(|c: char| c.is_ascii_digit())
        && house
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_alphabetic() || c == '/');
    let flat_ok = !flat.is_empty() && flat.chars().all(|c| c.is_ascii_digit());
    if house_ok && flat_ok {
        format!("{house}-***")
    } else {
        word.to_string()
    }
}
