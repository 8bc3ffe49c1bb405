//! Information content (tariffs, offices, FAQ, texts) with a version the terminals cache by.

use backend_sync::wire::{ContentBundle, FaqItem, Office, Tariff};

use crate::db::{Sql, StoreError};
use crate::params;

/// The current content (version 0, empty, when none was ever set).
pub fn current(sql: &mut dyn Sql) -> Result<ContentBundle, StoreError> {
    match sql.query_one("SELECT json FROM content WHERE id = 1", &[])? {
        Some(r) => serde_json::from_str(&r.text(0))
            .map_err(|e| StoreError::Other(format!("stored content unreadable: {e}"))),
        None => Ok(ContentBundle::default()),
    }
}

/// Replaces the content; its version becomes one above the current. Returns the new version.
pub fn set(sql: &mut dyn Sql, mut bundle: ContentBundle) -> Result<u64, StoreError> {
    crate::db::transaction(sql, |sql| {
        let version = current(sql)?.content_version + 1;
        bundle.content_version = version;
        let json = serde_json::to_string(&bundle).map_err(|e| StoreError::Other(e.to_string()))?;
        sql.exec(
            "INSERT INTO content (id, content_version, json) VALUES (1, $1, $2)
             ON CONFLICT (id) DO UPDATE SET content_version = excluded.content_version, json = excluded.json",
            params![version, json],
        )?;
        Ok(version)
    })
}

/// Demo content for the simulator.
pub fn demo() -> ContentBundle {
    let mut texts = std::collections::BTreeMap::new();
    texts.insert(
        "payment_methods".into(),
        "Оплата наличными (купюры 50–5000 ₽, сдача не выдаётся: остаток зачисляется авансом) и банковской картой. Комиссия не взимается.".into(),
    );
    texts.insert(
        "contract_documents".into(),
        "Для заключения договора: паспорт, документ о праве собственности, акт о технологическом присоединении.".into(),
    );
    texts.insert(
        "non_payment".into(),
        "При неоплате начисляются пени, после уведомления возможно ограничение подачи электроэнергии.".into(),
    );
    ContentBundle {
        content_version: 0,
        tariffs: vec![
            Tariff {
                name: "Одноставочный".into(),
                zone: "single".into(),
                price_kopecks_per_kwh: 612,
                valid_from: "2026-07-01".into(),
            },
            Tariff {
                name: "Двухзонный, день".into(),
                zone: "T1".into(),
                price_kopecks_per_kwh: 701,
                valid_from: "2026-07-01".into(),
            },
            Tariff {
                name: "Двухзонный, ночь".into(),
                zone: "T2".into(),
                price_kopecks_per_kwh: 356,
                valid_from: "2026-07-01".into(),
            },
        ],
        offices: vec![Office {
            name: "Центральный офис обслуживания".into(),
            address: "г. Энск, ул. Ленина, д. 10".into(),
            hours: "Пн–Пт 8:00–19:00, Сб 9:00–14:00".into(),
            phone: "8 800 000-00-00".into(),
        }],
        faq: vec![FaqItem {
            question: "Когда платёж поступит на лицевой счёт?".into(),
            answer: "В течение одного рабочего дня. Подтверждение приходит в течение 5 минут."
                .into(),
        }],
        texts,
    }
}
