//! Accounts as the terminals look them up: the billing system's data (imported), with debts
//! lowered by payments the billing system has not credited yet, and the latest accepted readings
//! as "previous".

use std::collections::HashMap;

use backend_sync::event::ServiceAmount;
use backend_sync::wire::{AccountInfo, MeterInfo, ServiceDebt, ZoneReading};

use crate::db::{Sql, StoreError};
use crate::params;

/// Stores (or replaces) accounts.
pub fn upsert(sql: &mut dyn Sql, accounts: &[AccountInfo]) -> Result<(), StoreError> {
    crate::db::transaction(sql, |sql| {
        for a in accounts {
            let json = serde_json::to_string(a).map_err(|e| StoreError::Other(e.to_string()))?;
            sql.exec(
                "INSERT INTO accounts (account, info_json) VALUES ($1, $2)
                 ON CONFLICT (account) DO UPDATE SET info_json = excluded.info_json",
                params![&a.account, json],
            )?;
        }
        Ok(())
    })
}

/// The account as a terminal should see it now.
pub fn lookup(sql: &mut dyn Sql, account: &str) -> Result<Option<AccountInfo>, StoreError> {
    let Some(row) = sql.query_one(
        "SELECT info_json FROM accounts WHERE account = $1",
        params![account],
    )?
    else {
        return Ok(None);
    };
    let mut info: AccountInfo = serde_json::from_str(&row.text(0)).map_err(|e| {
        StoreError::Other(format!("account {account}: stored data unreadable: {e}"))
    })?;
    // Payments received but not yet credited by billing still lower the debt the customer sees.
    let mut paid: HashMap<String, i64> = HashMap::new();
    for p in sql.query(
        "SELECT allocations FROM payments WHERE account = $1 AND credited_utc IS NULL",
        params![account],
    )? {
        let allocs: Vec<ServiceAmount> = serde_json::from_str(&p.text(0)).unwrap_or_default();
        for a in allocs {
            *paid.entry(a.service_id).or_default() += a.debt_kopecks + a.advance_kopecks;
        }
    }
    for s in &mut info.services {
        s.debt_kopecks -= paid.get(&s.id).copied().unwrap_or(0);
    }
    // Readings accepted by any kiosk after billing's snapshot become the new "previous".
    for r in sql.query(
        "SELECT meter_id, zone, value, day FROM readings WHERE account = $1 ORDER BY time_utc",
        params![account],
    )? {
        if let Some(m) = info.meters.iter_mut().find(|m| m.id == r.text(0)) {
            if let Some(z) = m.zones.iter_mut().find(|z| z.zone == r.text(1)) {
                z.previous = r.int(2).max(0) as u64;
                z.previous_date = Some(r.text(3));
            }
        }
    }
    Ok(Some(info))
}

fn zone(zone: &str, name: &str, previous: u64) -> ZoneReading {
    ZoneReading {
        zone: zone.into(),
        name: name.into(),
        previous,
        previous_date: Some("2026-10-25".into()),
    }
}

fn zone_on(zone: &str, name: &str, previous: u64, date: &str) -> ZoneReading {
    ZoneReading {
        zone: zone.into(),
        name: name.into(),
        previous,
        previous_date: Some(date.into()),
    }
}

fn service(id: &str, name: &str, debt_kopecks: i64) -> ServiceDebt {
    ServiceDebt {
        id: id.into(),
        name: name.into(),
        debt_kopecks,
    }
}

/// The kiosk's demo set (`terminal run --simulate`, the terminal's tests): the same people, debts
/// and meters as the terminal's built-in fixture, under numbers valid for the terminal's default
/// scheme (10 digits, mod-11 check digit). Kept equal by the terminal's `sync` tests.
///
/// * `1000000001` — 1 350,00 ₽ electricity + 150,00 ₽ meter service, one two-zone meter;
/// * `1000000028` — no debt, one single-zone meter near its rollover;
/// * `1000000036` — an advance of 200,00 ₽, two meters with 2 and 3 zones.
pub fn kiosk_demo_accounts() -> Vec<AccountInfo> {
    vec![
        AccountInfo {
            account: "1000000001".into(),
            holder_name: "Иванов Иван Иванович".into(),
            address: "г. Тверь, ул. Ленина, д. 5, кв. 12".into(),
            services: vec![
                service("electricity", "Электроэнергия", 135_000),
                service("service_fee", "Обслуживание прибора учёта", 15_000),
            ],
            meters: vec![MeterInfo {
                id: "m-1001".into(),
                name: "Меркурий 200".into(),
                digits: 6,
                zones: vec![
                    zone_on("T1", "день", 12_345, "2026-10-25"),
                    zone_on("T2", "ночь", 6_789, "2026-10-25"),
                ],
            }],
        },
        AccountInfo {
            account: "1000000028".into(),
            holder_name: "Петрова Анна Сергеевна".into(),
            address: "г. Тверь, пр-т Чайковского, д. 28/2, кв. 45".into(),
            services: vec![service("electricity", "Электроэнергия", 0)],
            meters: vec![MeterInfo {
                id: "m-2801".into(),
                name: "СО-505".into(),
                digits: 5,
                zones: vec![zone_on("T1", "сутки", 99_870, "2026-10-24")],
            }],
        },
        AccountInfo {
            account: "1000000036".into(),
            holder_name: "Сидоров Пётр Николаевич".into(),
            address: "Тверская обл., г. Конаково, ул. Энергетиков, д. 3, кв. 7".into(),
            services: vec![service("electricity", "Электроэнергия", -20_000)],
            meters: vec![
                MeterInfo {
                    id: "m-3601".into(),
                    name: "Квартира".into(),
                    digits: 6,
                    zones: vec![
                        zone_on("T1", "день", 4_210, "2026-10-20"),
                        zone_on("T2", "ночь", 1_804, "2026-10-20"),
                    ],
                },
                MeterInfo {
                    id: "m-3602".into(),
                    name: "Гараж".into(),
                    digits: 5,
                    zones: vec![
                        zone_on("T1", "пик", 310, "2026-10-20"),
                        zone_on("T2", "ночь", 120, "2026-10-20"),
                        zone_on("T3", "полупик", 405, "2026-10-20"),
                    ],
                },
            ],
        },
    ]
}

/// Demo accounts for `terminal run --simulate` and tests (fictional people and addresses): the
/// billing-style examples `100000001`…`100000003` the back office's own tests use, and the kiosk's
/// demo set ([`kiosk_demo_accounts`]).
pub fn demo_accounts() -> Vec<AccountInfo> {
    let mut all = billing_examples();
    all.extend(kiosk_demo_accounts());
    all
}

fn billing_examples() -> Vec<AccountInfo> {
    let services = |elec: i64, odn: i64| {
        vec![
            ServiceDebt {
                id: "electricity".into(),
                name: "Электроэнергия".into(),
                debt_kopecks: elec,
            },
            ServiceDebt {
                id: "common_property".into(),
                name: "Электроэнергия на СОИ".into(),
                debt_kopecks: odn,
            },
        ]
    };
    vec![
        AccountInfo {
            account: "100000001".into(),
            holder_name: "Иванов Иван Иванович".into(),
            address: "г. Энск, ул. Ленина, д. 1, кв. 1".into(),
            services: services(184_350, 12_040),
            meters: vec![MeterInfo {
                id: "M-100000001-1".into(),
                name: "Меркурий 201".into(),
                digits: 6,
                zones: vec![zone("T1", "день", 12_345)],
            }],
        },
        AccountInfo {
            account: "100000002".into(),
            holder_name: "Петрова Анна Сергеевна".into(),
            address: "г. Энск, пр. Мира, д. 15, кв. 42".into(),
            services: services(0, 0),
            meters: vec![MeterInfo {
                id: "M-100000002-1".into(),
                name: "Энергомера CE102".into(),
                digits: 5,
                zones: vec![zone("T1", "день", 99_990), zone("T2", "ночь", 41_200)],
            }],
        },
        AccountInfo {
            account: "100000003".into(),
            holder_name: "Сидоров Пётр Николаевич".into(),
            address: "г. Энск, ул. Садовая, д. 7".into(),
            services: services(-5_000, 3_210),
            meters: vec![MeterInfo {
                id: "M-100000003-1".into(),
                name: "Меркурий 231".into(),
                digits: 6,
                zones: vec![
                    zone("T1", "пик", 5_001),
                    zone("T2", "ночь", 2_300),
                    zone("T3", "полупик", 3_120),
                ],
            }],
        },
    ]
}
