//! Money as integer kopecks: parsing and formatting in the Russian style («1 500,00 ₽»), limits,
//! and allocation of a payment across an account's services. Never floats.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};

use serde::{Deserialize, Serialize};

/// An amount of roubles held as kopecks. Negative values are allowed (an advance shows as a
/// negative debt).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Money(i64);

/// Why a text is not an amount of money.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyParseError {
    #[error("empty amount")]
    Empty,
    #[error("'{0}' is not an amount: use digits, an optional comma or dot and at most two kopeck digits")]
    Malformed(String),
    #[error("'{0}' is too large")]
    Overflow(String),
}

impl Money {
    pub const ZERO: Money = Money(0);

    pub const fn from_kopecks(kopecks: i64) -> Money {
        Money(kopecks)
    }

    pub const fn from_rubles(rubles: i64) -> Money {
        Money(rubles * 100)
    }

    pub const fn kopecks(self) -> i64 {
        self.0
    }

    pub fn is_positive(self) -> bool {
        self.0 > 0
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    /// Parses «1 500,00», «1500.5», «1500», «1 500,00 ₽», «1500 руб.». Spaces (also non-breaking and
    /// narrow ones) group thousands; a comma or a dot separates kopecks.
    pub fn parse(text: &str) -> Result<Money, MoneyParseError> {
        let trimmed = text
            .trim()
            .trim_end_matches('₽')
            .trim_end_matches("руб.")
            .trim_end_matches("руб")
            .trim();
        if trimmed.is_empty() {
            return Err(MoneyParseError::Empty);
        }
        let (negative, body) = match trimmed.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        let compact: String = body
            .chars()
            .filter(|c| !matches!(c, ' ' | '\u{a0}' | '\u{202f}'))
            .collect();
        let malformed = || MoneyParseError::Malformed(text.to_string());
        let (whole, fraction) = match compact.split_once([',', '.']) {
            Some((w, f)) => (w, f),
            None => (compact.as_str(), ""),
        };
        if whole.is_empty()
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || fraction.len() > 2
            || !fraction.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(malformed());
        }
        let overflow = || MoneyParseError::Overflow(text.to_string());
        let rubles: i64 = whole.parse().map_err(|_| overflow())?;
        let kopecks: i64 = match fraction.len() {
            0 => 0,
            1 => fraction.parse::<i64>().map_err(|_| malformed())? * 10,
            _ => fraction.parse().map_err(|_| malformed())?,
        };
        let total = rubles
            .checked_mul(100)
            .and_then(|k| k.checked_add(kopecks))
            .ok_or_else(overflow)?;
        Ok(Money(if negative { -total } else { total }))
    }

    /// «1 500,00» without the currency sign.
    pub fn format_plain(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let rubles = (abs / 100).to_string();
        let mut grouped = String::with_capacity(rubles.len() + rubles.len() / 3);
        for (i, ch) in rubles.chars().enumerate() {
            if i > 0 && (rubles.len() - i) % 3 == 0 {
                grouped.push(' ');
            }
            grouped.push(ch);
        }
        format!("{sign}{grouped},{:02}", abs % 100)
    }

    /// «1 500,00 руб.» — for printers whose code page has no rouble sign.
    pub fn format_rub(self) -> String {
        format!("{} руб.", self.format_plain())
    }
}

impl fmt::Display for Money {
    /// «1 500,00 ₽»
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ₽", self.format_plain())
    }
}

impl Add for Money {
    type Output = Money;
    fn add(self, rhs: Money) -> Money {
        Money(self.0 + rhs.0)
    }
}

impl AddAssign for Money {
    fn add_assign(&mut self, rhs: Money) {
        self.0 += rhs.0;
    }
}

impl Sub for Money {
    type Output = Money;
    fn sub(self, rhs: Money) -> Money {
        Money(self.0 - rhs.0)
    }
}

impl std::iter::Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::ZERO, Add::add)
    }
}

/// Per-payment and per-day limits (from config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub per_payment: Money,
    pub per_day: Money,
}

/// A payment refused by a limit, with what is still allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("amount {amount} exceeds the per-payment limit {limit}")]
    PerPayment { amount: Money, limit: Money },
    #[error("amount {amount} exceeds what is left of the daily limit: {left}")]
    PerDay { amount: Money, left: Money },
}

impl LimitError {
    /// The message for the customer's screen.
    pub fn message_ru(&self) -> String {
        match self {
            LimitError::PerPayment { limit, .. } => {
                format!("Сумма одного платежа в терминале — не больше {limit}")
            }
            LimitError::PerDay { left, .. } => {
                format!("Сегодня через терминал можно внести ещё не больше {left}")
            }
        }
    }
}

impl Limits {
    /// The most one payment may take now, given what was already paid today.
    pub fn allowed_now(&self, paid_today: Money) -> Money {
        let left_today = Money(self.per_day.0.saturating_sub(paid_today.0).max(0));
        left_today.min(self.per_payment)
    }

    pub fn check(&self, amount: Money, paid_today: Money) -> Result<(), LimitError> {
        if amount > self.per_payment {
            return Err(LimitError::PerPayment {
                amount,
                limit: self.per_payment,
            });
        }
        let left = Money(self.per_day.0.saturating_sub(paid_today.0).max(0));
        if amount > left {
            return Err(LimitError::PerDay { amount, left });
        }
        Ok(())
    }
}

/// One service's debt as the customer sees it, and how much of the payment they directed to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceDue {
    pub service_id: String,
    pub name: String,
    /// Positive: owed. Zero or negative: nothing owed (negative is an advance already held).
    pub debt: Money,
}

/// How much of a payment goes to one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    pub service_id: String,
    pub name: String,
    /// Pays off debt.
    pub to_debt: Money,
    /// Above the debt: held as an advance (kiosks give no change).
    pub to_advance: Money,
}

impl Allocation {
    pub fn total(&self) -> Money {
        self.to_debt + self.to_advance
    }
}

/// Splits `paid` across services in their listed order: each service's debt is paid first; what is
/// left after every debt goes to the first service (the main one, electricity) as an advance.
/// The allocations always add up to exactly `paid`.
pub fn allocate(paid: Money, services: &[ServiceDue]) -> Vec<Allocation> {
    let mut left = paid.max(Money::ZERO);
    let mut out: Vec<Allocation> = services
        .iter()
        .map(|s| {
            let owed = s.debt.max(Money::ZERO);
            let to_debt = owed.min(left);
            left = left - to_debt;
            Allocation {
                service_id: s.service_id.clone(),
                name: s.name.clone(),
                to_debt,
                to_advance: Money::ZERO,
            }
        })
        .collect();
    match out.first_mut() {
        Some(first) => first.to_advance = left,
        None if left.is_positive() => out.push(Allocation {
            service_id: "advance".into(),
            name: "Аванс".into(),
            to_debt: Money::ZERO,
            to_advance: left,
        }),
        None => {}
    }
    out
}

/// Splits `paid` following the amounts the customer typed per service (`requested`, same order as
/// `services`): each service gets at most its requested amount, its debt part first; money beyond
/// all requests (a customer who inserted more cash than asked) goes to the first service as advance.
pub fn allocate_requested(
    paid: Money,
    services: &[ServiceDue],
    requested: &[Money],
) -> Vec<Allocation> {
    let mut left = paid.max(Money::ZERO);
    let mut out: Vec<Allocation> = services
        .iter()
        .zip(
            requested
                .iter()
                .copied()
                .chain(std::iter::repeat(Money::ZERO)),
        )
        .map(|(s, want)| {
            let share = want.max(Money::ZERO).min(left);
            left = left - share;
            let to_debt = share.min(s.debt.max(Money::ZERO));
            Allocation {
                service_id: s.service_id.clone(),
                name: s.name.clone(),
                to_debt,
                to_advance: share - to_debt,
            }
        })
        .collect();
    match out.first_mut() {
        Some(first) => first.to_advance += left,
        None if left.is_positive() => out.push(Allocation {
            service_id: "advance".into(),
            name: "Аванс".into(),
            to_debt: Money::ZERO,
            to_advance: left,
        }),
        None => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formats_like_a_russian_receipt() {
        assert_eq!(Money::from_kopecks(150_000).to_string(), "1 500,00 ₽");
        assert_eq!(Money::from_kopecks(5).to_string(), "0,05 ₽");
        assert_eq!(
            Money::from_kopecks(123_456_789).format_plain(),
            "1 234 567,89"
        );
        assert_eq!(Money::from_kopecks(-150_050).format_rub(), "-1 500,50 руб.");
    }

    #[test]
    fn parses_what_people_type() {
        assert_eq!(Money::parse("1 500,00 ₽"), Ok(Money::from_rubles(1500)));
        assert_eq!(Money::parse("1500.5"), Ok(Money::from_kopecks(150_050)));
        assert_eq!(Money::parse("1500"), Ok(Money::from_rubles(1500)));
        assert_eq!(
            Money::parse("1\u{a0}500,05 руб."),
            Ok(Money::from_kopecks(150_005))
        );
        assert_eq!(Money::parse(""), Err(MoneyParseError::Empty));
        assert!(matches!(
            Money::parse("1,234,5"),
            Err(MoneyParseError::Malformed(_))
        ));
        assert!(matches!(
            Money::parse("12,345"),
            Err(MoneyParseError::Malformed(_))
        ));
        assert!(matches!(
            Money::parse("abc"),
            Err(MoneyParseError::Malformed(_))
        ));
        assert!(matches!(
            Money::parse("99999999999999999999"),
            Err(MoneyParseError::Overflow(_))
        ));
    }

    #[test]
    fn limits_name_what_is_left() {
        let limits = Limits {
            per_payment: Money::from_rubles(15_000),
            per_day: Money::from_rubles(20_000),
        };
        assert!(limits
            .check(Money::from_rubles(15_000), Money::ZERO)
            .is_ok());
        let err = limits
            .check(Money::from_rubles(15_001), Money::ZERO)
            .unwrap_err();
        assert_eq!(
            err.message_ru(),
            "Сумма одного платежа в терминале — не больше 15 000,00 ₽"
        );
        let err = limits
            .check(Money::from_rubles(6_000), Money::from_rubles(15_000))
            .unwrap_err();
        assert_eq!(
            err.message_ru(),
            "Сегодня через терминал можно внести ещё не больше 5 000,00 ₽"
        );
        assert_eq!(
            limits.allowed_now(Money::from_rubles(19_000)),
            Money::from_rubles(1_000)
        );
    }

    fn services() -> Vec<ServiceDue> {
        vec![
            ServiceDue {
                service_id: "el".into(),
                name: "Электроэнергия".into(),
                debt: Money::from_rubles(1_200),
            },
            ServiceDue {
                service_id: "odn".into(),
                name: "ОДН".into(),
                debt: Money::from_rubles(300),
            },
            ServiceDue {
                service_id: "adv".into(),
                name: "Обслуживание".into(),
                debt: Money::from_rubles(-50),
            },
        ]
    }

    #[test]
    fn debt_first_then_advance_to_the_main_service() {
        let a = allocate(Money::from_rubles(2_000), &services());
        assert_eq!(a[0].to_debt, Money::from_rubles(1_200));
        assert_eq!(a[0].to_advance, Money::from_rubles(500));
        assert_eq!(a[1].to_debt, Money::from_rubles(300));
        assert_eq!(a[2].total(), Money::ZERO);
    }

    #[test]
    fn a_partial_payment_pays_debts_in_order() {
        let a = allocate(Money::from_rubles(1_000), &services());
        assert_eq!(a[0].to_debt, Money::from_rubles(1_000));
        assert_eq!(a[1].total(), Money::ZERO);
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(k in -10_000_000_000i64..10_000_000_000i64) {
            let m = Money::from_kopecks(k);
            prop_assert_eq!(Money::parse(&m.to_string()), Ok(m));
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,24}") {
            let _ = Money::parse(&s);
        }

        #[test]
        fn allocations_add_up_to_the_payment(
            paid in 0i64..10_000_000,
            debts in proptest::collection::vec(-100_000i64..1_000_000, 0..5),
            asks in proptest::collection::vec(0i64..1_000_000, 0..5),
        ) {
            let services: Vec<ServiceDue> = debts.iter().enumerate().map(|(i, d)| ServiceDue {
                service_id: i.to_string(), name: i.to_string(), debt: Money::from_kopecks(*d),
            }).collect();
            let paid = Money::from_kopecks(paid);
            let a = allocate(paid, &services);
            prop_assert_eq!(a.iter().map(Allocation::total).sum::<Money>(), paid);
            prop_assert!(a.iter().all(|x| x.to_debt >= Money::ZERO && x.to_advance >= Money::ZERO));
            let requested: Vec<Money> = asks.into_iter().map(Money::from_kopecks).collect();
            let b = allocate_requested(paid, &services, &requested);
            prop_assert_eq!(b.iter().map(Allocation::total).sum::<Money>(), paid);
            for (x, s) in b.iter().zip(&services) {
                prop_assert!(x.to_debt <= s.debt.max(Money::ZERO));
            }
        }
    }
}
