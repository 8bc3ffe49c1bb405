//! The information pages (tariffs, offices and hours, questions and answers) from the back
//! office's versioned content, cached on disk so the kiosk still informs while offline. Until the
//! first content arrives, the host office, its hours and the hotline are shown.

use std::path::{Path, PathBuf};
use std::time::Duration;

use backend_sync::wire::ContentBundle;
use sync_client::SyncClient;
use tracing::{info, warn};
use ui::view::{InfoEntry, InfoTopic};

use crate::money::Money;

/// How often the back office is asked whether the content changed.
const REFRESH_EVERY: Duration = Duration::from_secs(600);

/// What the kiosk knows about itself, for the pages the back office does not (yet) provide.
#[derive(Debug, Clone, Default)]
pub struct LocalInfo {
    pub office: String,
    pub hours: String,
    pub hotline: String,
}

/// The information pages for `bundle` (or only the local office page without one).
pub fn topics(bundle: Option<&ContentBundle>, local: &LocalInfo) -> Vec<InfoTopic> {
    let mut topics = Vec::new();
    if let Some(b) = bundle.filter(|b| !b.tariffs.is_empty()) {
        topics.push(InfoTopic {
            title: "Тарифы".into(),
            entries: b
                .tariffs
                .iter()
                .map(|t| InfoEntry {
                    heading: tariff_heading(&t.name, &t.zone),
                    text: format!(
                        "{} за кВт·ч, действует с {}",
                        Money::from_kopecks(t.price_kopecks_per_kwh),
                        date_ru(&t.valid_from)
                    ),
                })
                .collect(),
        });
    }
    let mut offices = vec![InfoEntry {
        heading: local.office.clone(),
        text: format!("{}. Горячая линия: {}", local.hours, local.hotline),
    }];
    if let Some(b) = bundle {
        offices.extend(
            b.offices
                .iter()
                .filter(|o| o.name != local.office)
                .map(|o| InfoEntry {
                    heading: o.name.clone(),
                    text: format!("{}. {}. Тел. {}", o.address, o.hours, o.phone),
                }),
        );
    }
    topics.push(InfoTopic {
        title: "Офисы и часы работы".into(),
        entries: offices,
    });
    if let Some(b) = bundle.filter(|b| !b.faq.is_empty()) {
        topics.push(InfoTopic {
            title: "Вопросы и ответы".into(),
            entries: b
                .faq
                .iter()
                .map(|f| InfoEntry {
                    heading: f.question.clone(),
                    text: f.answer.clone(),
                })
                .collect(),
        });
    }
    topics
}

/// The tariff's name, with its zone unless the name already says it («Двухзонный, день»).
fn tariff_heading(name: &str, zone: &str) -> String {
    let zone = zone_ru(zone);
    if name.to_lowercase().contains(zone) {
        name.to_string()
    } else {
        format!("{name} ({zone})")
    }
}

fn zone_ru(zone: &str) -> &str {
    match zone {
        "T1" => "день",
        "T2" => "ночь",
        "T3" => "полупик",
        "single" => "одноставочный",
        other => other,
    }
}

/// `2026-07-01` → `01.07.2026`; anything else as it is.
fn date_ru(iso: &str) -> String {
    match chrono::NaiveDate::parse_from_str(iso, "%Y-%m-%d") {
        Ok(d) => d.format("%d.%m.%Y").to_string(),
        Err(_) => iso.to_string(),
    }
}

/// The content last received, kept in the data directory.
#[derive(Debug, Clone)]
pub struct ContentCache {
    path: PathBuf,
}

impl ContentCache {
    pub fn new(data_dir: &Path) -> Self {
        ContentCache {
            path: data_dir.join("content.json"),
        }
    }

    /// The cached bundle; a missing or unreadable cache is no content (it is only a cache).
    pub fn load(&self) -> Option<ContentBundle> {
        let bytes = std::fs::read(&self.path).ok()?;
        match serde_json::from_slice(&bytes) {
            Ok(bundle) => Some(bundle),
            Err(e) => {
                warn!(error = %e, "content cache unreadable; waiting for the back office");
                None
            }
        }
    }

    pub fn store(&self, bundle: &ContentBundle) {
        let tmp = self.path.with_extension("json.tmp");
        let written = serde_json::to_vec(bundle)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, &self.path));
        if let Err(e) = written {
            warn!(error = %e, "content not cached");
        }
    }
}

/// Shows the cached pages at once, then asks the back office for newer content now and every
/// few minutes; `show` gets the pages whenever they change. Inside a tokio runtime.
pub fn spawn(
    client: SyncClient,
    cache: ContentCache,
    local: LocalInfo,
    show: impl Fn(Vec<InfoTopic>) + Send + 'static,
) {
    let mut current = cache.load();
    show(topics(current.as_ref(), &local));
    tokio::spawn(async move {
        loop {
            let have = current.as_ref().map_or(0, |b| b.content_version);
            match client.content(have).await {
                Ok(reply) => {
                    if let Some(bundle) = reply.content {
                        info!(
                            version = bundle.content_version,
                            "information content updated"
                        );
                        cache.store(&bundle);
                        show(topics(Some(&bundle), &local));
                        current = Some(bundle);
                    }
                }
                Err(e) => warn!(error = %e, "information content not fetched"),
            }
            tokio::time::sleep(REFRESH_EVERY).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use backend_sync::wire::{FaqItem, Office, Tariff};

    fn local() -> LocalInfo {
        LocalInfo {
            office: "Офис на Примерной".into(),
            hours: "Пн–Пт 08:00–20:00".into(),
            hotline: "8-800-000-00-00".into(),
        }
    }

    #[test]
    fn without_content_the_host_office_is_still_shown() {
        let pages = topics(None, &local());
        assert_eq!(pages.len(), 1);
        assert_eq!(pages[0].entries[0].heading, "Офис на Примерной");
        assert!(pages[0].entries[0].text.contains("8-800-000-00-00"));
    }

    #[test]
    fn content_becomes_tariffs_offices_and_answers() {
        let bundle = ContentBundle {
            content_version: 3,
            tariffs: vec![Tariff {
                name: "Население, город".into(),
                zone: "T1".into(),
                price_kopecks_per_kwh: 792,
                valid_from: "2026-07-01".into(),
            }],
            offices: vec![Office {
                name: "Офис на Ленина".into(),
                address: "ул. Ленина, 5".into(),
                hours: "Пн–Пт 09:00–18:00".into(),
                phone: "+7 495 000-00-00".into(),
            }],
            faq: vec![FaqItem {
                question: "Есть ли комиссия?".into(),
                answer: "Нет.".into(),
            }],
            texts: Default::default(),
        };
        let pages = topics(Some(&bundle), &local());
        let titles: Vec<_> = pages.iter().map(|p| p.title.as_str()).collect();
        assert_eq!(
            titles,
            ["Тарифы", "Офисы и часы работы", "Вопросы и ответы"]
        );
        assert_eq!(
            pages[0].entries[0].text,
            "7,92 ₽ за кВт·ч, действует с 01.07.2026"
        );
        assert_eq!(pages[1].entries.len(), 2);
        assert_eq!(pages[0].entries[0].heading, "Население, город (день)");
        assert_eq!(tariff_heading("Двухзонный, ночь", "T2"), "Двухзонный, ночь");
    }

    #[test]
    fn the_cache_survives_a_restart_and_a_broken_file_is_no_content() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ContentCache::new(dir.path());
        assert!(cache.load().is_none());
        let bundle = ContentBundle {
            content_version: 7,
            ..ContentBundle::default()
        };
        cache.store(&bundle);
        assert_eq!(ContentCache::new(dir.path()).load(), Some(bundle));
        std::fs::write(dir.path().join("content.json"), b"{garbage").unwrap();
        assert!(cache.load().is_none());
    }
}
