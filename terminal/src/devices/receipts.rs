//! The receipt task: fiscal registration through a [`FiscalModule`] and printing over ESC/POS
//! through a [`PrinterHandle`]. Every fiscalised receipt is kept on disk as JSON, so a receipt that
//! did not print can be reprinted from the service menu after a restart.

use std::collections::HashMap;
use std::path::PathBuf;

use chrono::Utc;
use fiscal_register::{FiscalError, FiscalModule, Seller, VatRate};
use receipt_printer::{
    plain_text, shift_report, BodyLine, PrintError, PrinterHandle, PrinterStatus, Receipt,
    ReceiptKind,
};
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::fiscal::Fiscaliser;
use crate::health::{Device, DeviceCondition, FaultKind};
use crate::runtime::{CoreEvent, ReceiptJob};
use crate::service::{ServiceInput, ShiftReport};
use crate::session::{DeviceInput, FiscalRequest, SlipRequest};

/// What the receipt task is built from.
pub struct ReceiptSetup {
    pub fiscal: Box<dyn FiscalModule>,
    /// None: no printer configured (e-receipts and on-screen QR only).
    pub printer: Option<PrinterHandle>,
    pub seller: Seller,
    pub vat: VatRate,
    pub tz: chrono_tz::Tz,
    pub header: Vec<String>,
    pub footer: Vec<String>,
    /// Where fiscalised receipts are kept for reprinting.
    pub store: Option<PathBuf>,
    /// Also keep the text of every printed receipt here (the demo prints it to stdout).
    pub transcript: Option<std::sync::Arc<std::sync::Mutex<Vec<String>>>>,
    pub columns: usize,
}

/// The electronic payment's own lines: the card terminal's approval, or the СБП operation.
fn card_slip(req: &FiscalRequest) -> Vec<String> {
    if let Some(operation) = &req.sbp_operation {
        return vec![
            "ОПЛАТА ПО QR-КОДУ СБП".into(),
            format!("Операция банка: {operation}"),
        ];
    }
    match &req.card_approval {
        None => Vec::new(),
        Some(a) => vec![
            "ОПЛАТА БАНКОВСКОЙ КАРТОЙ".into(),
            format!("Карта: {}", a.masked_pan),
            format!("Код авторизации: {}", a.auth_code),
            format!("Чек терминала: {}  Трасса: {}", a.receipt_no, a.trace_no),
            format!("Терминал: {}", a.card_terminal_id),
            match &a.rrn {
                Some(rrn) => format!("RRN: {rrn}"),
                None => "ОДОБРЕНО".into(),
            },
        ],
    }
}

/// How often an idle printer is asked for its status (`DLE EOT`), so paper running out is known
/// before the next customer chooses a paper receipt.
const STATUS_EVERY: std::time::Duration = std::time::Duration::from_secs(3);
/// How often an idle fiscal register is asked for its FN status (`FF01`): its warnings (FN
/// wearing out, documents unsent to the OFD) change over days, and a sale reads it anyway.
const FISCAL_CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// The printer's condition for the health monitor.
fn printer_condition(result: &Result<PrinterStatus, PrintError>) -> DeviceCondition {
    let down = |kind, detail: &str| DeviceCondition::Down {
        kind,
        detail: detail.into(),
    };
    match result {
        Ok(status) => match status.blocking_fault() {
            Some(fault) => printer_condition(&Err(fault)),
            None if status.paper_near_end => DeviceCondition::Warning {
                detail: "paper near end".into(),
            },
            None => DeviceCondition::Up,
        },
        Err(PrintError::PaperOut) => down(FaultKind::NeedsAttendant, "paper out"),
        Err(PrintError::CoverOpen) => down(FaultKind::NeedsAttendant, "cover open"),
        Err(PrintError::Offline | PrintError::NoResponse | PrintError::Io(_)) => {
            down(FaultKind::Communication, &result_text(result))
        }
        Err(e) => down(FaultKind::Hardware, &e.to_string()),
    }
}

fn result_text(result: &Result<PrinterStatus, PrintError>) -> String {
    match result {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}

/// What the receipt task prints with (the rest of [`ReceiptSetup`] went to the [`Fiscaliser`]).
struct Printing {
    printer: Option<PrinterHandle>,
    tz: chrono_tz::Tz,
    header: Vec<String>,
    footer: Vec<String>,
    store: Option<PathBuf>,
    transcript: Option<std::sync::Arc<std::sync::Mutex<Vec<String>>>>,
    columns: usize,
}

struct ReceiptTask {
    setup: Printing,
    /// The fiscal module, lent to a blocking thread for each call (a KKT call blocks on its
    /// serial line); `None` only while lent, or for good if that thread panicked.
    fiscal: Option<Fiscaliser>,
    receipts: HashMap<String, Receipt>,
    core: mpsc::Sender<CoreEvent>,
}

impl ReceiptTask {
    /// A sender for reports: the task itself (holding the fiscal module, which is `Send` but not
    /// `Sync`) must not be borrowed across an await.
    fn reporter(&self) -> mpsc::Sender<CoreEvent> {
        self.core.clone()
    }

    /// Runs `f` on the fiscal module on a blocking thread; `None` when the module is gone (a
    /// panic on that thread: the kiosk is then without a fiscal register until restarted).
    async fn with_fiscal<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut Fiscaliser) -> T + Send + 'static,
    ) -> Option<T> {
        let mut fiscal = self.fiscal.take()?;
        match tokio::task::spawn_blocking(move || {
            let out = f(&mut fiscal);
            (fiscal, out)
        })
        .await
        {
            Ok((fiscal, out)) => {
                self.fiscal = Some(fiscal);
                Some(out)
            }
            Err(e) => {
                tracing::error!(error = %e, "the fiscal module's thread failed");
                None
            }
        }
    }

    fn keep(&mut self, receipt_id: &str, receipt: Receipt) {
        if let Some(dir) = &self.setup.store {
            let path = dir.join(format!("{receipt_id}.json"));
            match serde_json::to_vec(&receipt) {
                Ok(bytes) => {
                    if let Err(e) =
                        std::fs::create_dir_all(dir).and_then(|_| std::fs::write(&path, bytes))
                    {
                        warn!(error = %e, "receipt not stored for reprint");
                    }
                }
                Err(e) => warn!(error = %e, "receipt not serialisable"),
            }
        }
        self.receipts.insert(receipt_id.to_string(), receipt);
    }

    fn find(&self, receipt_id: &str) -> Option<Receipt> {
        if let Some(r) = self.receipts.get(receipt_id) {
            return Some(r.clone());
        }
        let dir = self.setup.store.as_ref()?;
        let bytes = std::fs::read(dir.join(format!("{receipt_id}.json"))).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    fn printer(&self) -> Printer {
        Printer {
            handle: self.setup.printer.clone(),
            transcript: self.setup.transcript.clone(),
            columns: self.setup.columns,
        }
    }

    /// Registers the receipt; returns what to report, in order: a shift the fiscal module
    /// opened or closed is journaled before the receipt it was opened for.
    async fn fiscalise(&mut self, req: FiscalRequest) -> Vec<CoreEvent> {
        let job = req.clone();
        let Some(outcome) = self
            .with_fiscal(move |fiscal| fiscal.fiscalise(&job, Utc::now()))
            .await
        else {
            return vec![
                CoreEvent::Health(
                    Device::FiscalModule,
                    DeviceCondition::Down {
                        kind: FaultKind::Hardware,
                        detail: "fiscal module lost".into(),
                    },
                ),
                CoreEvent::Device(
                    DeviceInput::FiscalisationFailed {
                        receipt_id: req.receipt_id,
                        reason: "fiscal module lost".into(),
                    },
                    None,
                ),
            ];
        };
        if let Some((doc, result)) = outcome.registered {
            let mut receipt = Receipt::fiscal_payment(doc, result);
            receipt.header = self.setup.header.clone();
            receipt.footer = stuck_note_lines(&req);
            receipt.footer.extend(self.setup.footer.iter().cloned());
            receipt.card_slip = card_slip(&req);
            self.keep(&req.receipt_id, receipt);
        }
        let mut reports: Vec<CoreEvent> =
            outcome.journal.into_iter().map(CoreEvent::Record).collect();
        reports.push(CoreEvent::Health(Device::FiscalModule, outcome.health));
        reports.push(CoreEvent::Device(outcome.input, None));
        reports
    }

    /// Closes the fiscal shift from the service menu: the counters and the Z report to print.
    async fn close_shift(&mut self) -> Result<(ShiftReport, Receipt), String> {
        let closed = self
            .with_fiscal(|fiscal| fiscal.close_shift(Utc::now()))
            .await
            .ok_or_else(|| "фискальный модуль недоступен".to_string())?;
        let (z, fn_number) = match closed {
            Ok(closed) => closed,
            Err(FiscalError::ShiftClosed) => return Err("смена не открыта".into()),
            Err(e) => {
                warn!(error = %e, "closing the shift failed");
                return Err(e.message_ru());
            }
        };
        info!(
            shift = z.shift,
            receipts = z.receipts,
            "shift closed from the service menu"
        );
        let report = ShiftReport {
            shift_number: z.shift,
            receipts: z.receipts,
            total_kopecks: z.income,
            cash_kopecks: z.cash,
            card_kopecks: z.electronic,
            fn_number,
            fd_number: Some(z.fd_number),
            printed: Ok(()),
        };
        Ok((report, shift_report(&z, self.setup.header.clone())))
    }

    fn slip(&self, slip: SlipRequest) -> Receipt {
        match slip {
            SlipRequest::Readings {
                account,
                accepted,
                time,
            } => {
                let mut r = Receipt::new(
                    ReceiptKind::MeterReadingSlip,
                    time.with_timezone(&self.setup.tz).naive_local(),
                );
                r.header = self.setup.header.clone();
                r.body.push(BodyLine::Pair("Лицевой счёт".into(), account));
                for a in accepted {
                    r.body.push(BodyLine::Separator);
                    r.body
                        .push(BodyLine::Pair("Рег. номер".into(), a.registration_no));
                    r.body.push(BodyLine::Pair(
                        format!("{} {}", a.meter_name, a.zone),
                        a.value.to_string(),
                    ));
                    r.body
                        .push(BodyLine::Pair("Предыдущее".into(), a.previous.to_string()));
                }
                r.footer = self.setup.footer.clone();
                r
            }
            SlipRequest::NoDebtCertificate {
                account,
                holder_masked,
                address_masked,
                certificate_no,
                time,
            } => {
                let local = time.with_timezone(&self.setup.tz);
                let mut r = Receipt::new(ReceiptKind::NoDebtCertificate, local.naive_local());
                r.header = self.setup.header.clone();
                r.body = vec![
                    BodyLine::Pair("Справка №".into(), certificate_no),
                    BodyLine::Pair("Лицевой счёт".into(), account),
                    BodyLine::Pair("Абонент".into(), holder_masked),
                    BodyLine::Text(address_masked),
                    BodyLine::Separator,
                    BodyLine::Text(format!(
                        "Задолженность за электроэнергию по состоянию на {} отсутствует.",
                        local.format("%d.%m.%Y %H:%M")
                    )),
                ];
                r.footer = self.setup.footer.clone();
                r
            }
        }
    }
}

/// The core is gone: the task ends.
struct CoreGone;

impl ReceiptTask {
    /// Between jobs: the printer's status, and the register's every [`FISCAL_CHECK_EVERY`].
    async fn check_devices(&mut self, next_fiscal_check: &mut tokio::time::Instant) {
        if tokio::time::Instant::now() >= *next_fiscal_check {
            *next_fiscal_check = tokio::time::Instant::now() + FISCAL_CHECK_EVERY;
            if let Some(condition) = self.with_fiscal(|fiscal| fiscal.check(Utc::now())).await {
                let _ = self
                    .reporter()
                    .send(CoreEvent::Health(Device::FiscalModule, condition))
                    .await;
            }
        }
        let (printer, core) = (self.printer(), self.reporter());
        if let Some(handle) = &printer.handle {
            let status = handle.status().await;
            let _ = core
                .send(CoreEvent::Health(
                    Device::Printer,
                    printer_condition(&status),
                ))
                .await;
        }
    }

    /// Carries out one job and reports its outcome to the core.
    async fn run(&mut self, job: ReceiptJob) -> Result<(), CoreGone> {
        let core = self.reporter();
        let send = |event: CoreEvent| {
            let core = core.clone();
            async move { core.send(event).await.map_err(|_| CoreGone) }
        };
        match job {
            ReceiptJob::Fiscalise(req) => {
                for report in self.fiscalise(*req).await {
                    send(report).await?;
                }
            }
            ReceiptJob::Print { receipt_id } => {
                let (found, printer) = (self.find(&receipt_id), self.printer());
                let input = print_receipt(found, receipt_id, printer, &core).await;
                send(CoreEvent::Device(input, None)).await?;
            }
            ReceiptJob::TestPage => {
                let result = test_page(self.printer(), self.setup.tz).await;
                send(CoreEvent::Service(ServiceInput::TestPagePrinted(result))).await?;
            }
            ReceiptJob::RenewShift => {
                let renewed = self
                    .with_fiscal(|fiscal| fiscal.renew_shift(Utc::now()))
                    .await;
                let (journal, result) = renewed.unwrap_or_else(|| {
                    (
                        Vec::new(),
                        Err(FiscalError::State("fiscal module lost".into())),
                    )
                });
                for event in journal {
                    send(CoreEvent::Record(event)).await?;
                }
                if let Err(e) = result {
                    let reason = e.to_string();
                    let input = DeviceInput::ShiftRenewalFailed { reason };
                    send(CoreEvent::Device(input, None)).await?;
                }
            }
            ReceiptJob::CloseShift => {
                let result = match self.close_shift().await {
                    Ok((mut report, z_receipt)) => {
                        report.printed = self.printer().print_for_technician(&z_receipt).await;
                        Ok(report)
                    }
                    Err(e) => Err(e),
                };
                send(CoreEvent::Service(ServiceInput::ShiftClosed(result))).await?;
            }
            ReceiptJob::EncashmentSlip(slip) => {
                let mut receipt = crate::slips::encashment(&slip);
                receipt.header = self.setup.header.clone();
                let result = self.printer().print_for_technician(&receipt).await;
                send(CoreEvent::Service(ServiceInput::EncashmentSlipPrinted(
                    result,
                )))
                .await?;
            }
            ReceiptJob::Slip(slip) => {
                let (receipt, printer) = (self.slip(slip), self.printer());
                if let Err(e) = printer.print(&receipt).await {
                    warn!(reason = %e, "slip not printed");
                }
            }
        }
        Ok(())
    }
}

/// Prints the kept receipt `receipt_id`; the printer's condition goes to the health desk.
async fn print_receipt(
    found: Option<Receipt>,
    receipt_id: String,
    printer: Printer,
    core: &mpsc::Sender<CoreEvent>,
) -> DeviceInput {
    let Some(receipt) = found else {
        return DeviceInput::PrintFailed {
            receipt_id,
            reason: "чек не найден".into(),
        };
    };
    let printed = printer.print(&receipt).await;
    if printer.handle.is_some() {
        let condition = printer_condition(&printed);
        let _ = core
            .send(CoreEvent::Health(Device::Printer, condition))
            .await;
    }
    match printed {
        Ok(_) => DeviceInput::Printed { receipt_id },
        Err(e) => DeviceInput::PrintFailed {
            receipt_id,
            reason: e.message_ru().to_string(),
        },
    }
}

async fn test_page(printer: Printer, tz: chrono_tz::Tz) -> Result<(), String> {
    match &printer.handle {
        Some(handle) => {
            let local = Utc::now().with_timezone(&tz).naive_local();
            let page = Receipt::test_page(handle.profile(), local);
            printer.print_for_technician(&page).await
        }
        None => Err("принтер не подключён".into()),
    }
}

/// Runs the receipt task; returns the channel the core sends jobs to.
pub fn spawn(setup: ReceiptSetup, core: mpsc::Sender<CoreEvent>) -> mpsc::Sender<ReceiptJob> {
    let (tx, mut jobs) = mpsc::channel::<ReceiptJob>(32);
    let ReceiptSetup {
        fiscal,
        printer,
        seller,
        vat,
        tz,
        header,
        footer,
        store,
        transcript,
        columns,
    } = setup;
    let mut task = ReceiptTask {
        fiscal: Some(Fiscaliser::new(fiscal, seller, vat, tz)),
        setup: Printing {
            printer,
            tz,
            header,
            footer,
            store,
            transcript,
            columns,
        },
        receipts: HashMap::new(),
        core,
    };
    tokio::spawn(async move {
        // The first idle moment checks the register, so a worn FN is known before a customer.
        let mut next_fiscal_check = tokio::time::Instant::now();
        loop {
            match tokio::time::timeout(STATUS_EVERY, jobs.recv()).await {
                Ok(Some(job)) => {
                    if task.run(job).await.is_err() {
                        return;
                    }
                }
                Ok(None) => return,
                Err(_) => task.check_devices(&mut next_fiscal_check).await,
            }
        }
    });
    tx
}

/// What printing needs, detached from the task so it can cross an await.
struct Printer {
    handle: Option<PrinterHandle>,
    transcript: Option<std::sync::Arc<std::sync::Mutex<Vec<String>>>>,
    columns: usize,
}

impl Printer {
    /// Prints a service document; the technician reads the outcome in Russian.
    async fn print_for_technician(&self, receipt: &Receipt) -> Result<(), String> {
        self.print(receipt)
            .await
            .map(|_| ())
            .map_err(|e| e.message_ru().to_string())
    }

    async fn print(&self, receipt: &Receipt) -> Result<PrinterStatus, PrintError> {
        let Some(printer) = &self.handle else {
            return Err(PrintError::Offline);
        };
        let printed = printer.print(receipt).await;
        if printed.is_ok() {
            if let Some(t) = &self.transcript {
                if let Ok(mut t) = t.lock() {
                    t.push(plain_text(receipt, self.columns));
                }
            }
        }
        printed
    }
}

/// Notes that went stuck in the payment, for the receipt: the customer's proof and the
/// technician's reference (short lines: a 58 mm receipt is 32 characters wide).
fn stuck_note_lines(req: &FiscalRequest) -> Vec<String> {
    let mut lines = Vec::new();
    for note in &req.stuck_notes {
        lines.push("ЗАСТРЯЛА КУПЮРА, НЕ ЗАЧИСЛЕНА:".to_string());
        lines.push(format!("{} обращение", note.denomination));
        lines.push(note.reference.clone());
        lines.push("Сотрудник найдёт её и зачислит".to_string());
        lines.push("на ваш счёт или вернёт вам.".to_string());
    }
    lines
}
