//! The controlled vocabularies of the domain: document kinds, warranty
//! status, repair plans, suspension causes, SIM carriers and actions, backup
//! items, reactivation application states and identification methods.
//!
//! Each is an enum with a stable snake_case code (what documents, databases
//! and JSON store), a zh-CN label (the words agents and merchants use) and an
//! English label. All of them come from one macro so the three never drift.
//!
//! A document may hold a code this version does not know, written by a newer
//! app that added a term. [`Open`] holds such a code as written, so reading
//! the document does not fail and writing it back leaves the code unchanged
//! (see docs/compatibility.md).

use serde::{Deserialize, Serialize};

/// A vocabulary term: a stable code and its labels in the UI's languages.
pub trait Term: Sized + Copy + 'static {
    /// Every term of the vocabulary, in display order.
    const ALL: &'static [Self];
    /// Stable snake_case code stored in documents and databases.
    fn code(self) -> &'static str;
    /// The zh-CN label.
    fn zh(self) -> &'static str;
    /// The English label.
    fn en(self) -> &'static str;
    /// The term with this code, if any.
    fn from_code(code: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.code() == code)
    }
}

/// A vocabulary value as a visit document holds it: a term this version
/// knows, or a code a newer version wrote, kept exactly as written.
///
/// The terms themselves stay `Copy` enums; only the document's fields are
/// open, so a code from a newer app survives a round trip through this one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Open<T> {
    /// A term of this version's vocabulary.
    Known(T),
    /// A code this version does not know.
    Unknown(String),
}

impl<T: Term> Open<T> {
    /// The value for a stored code: known when this version has the term.
    pub fn from_code(code: &str) -> Self {
        T::from_code(code).map_or_else(|| Open::Unknown(code.to_owned()), Open::Known)
    }

    /// The stored code, exactly as the document holds it.
    pub fn code(&self) -> &str {
        match self {
            Open::Known(term) => term.code(),
            Open::Unknown(code) => code,
        }
    }

    /// The term, when this version knows it.
    pub fn known(&self) -> Option<T> {
        match self {
            Open::Known(term) => Some(*term),
            Open::Unknown(_) => None,
        }
    }

    /// The zh-CN label; an unknown code is shown as written, said to be unknown.
    pub fn zh(&self) -> String {
        match self {
            Open::Known(term) => term.zh().to_owned(),
            Open::Unknown(code) => format!("{code}（此版本不认识的值）"),
        }
    }

    /// The English label; an unknown code is shown as written, said to be unknown.
    pub fn en(&self) -> String {
        match self {
            Open::Known(term) => term.en().to_owned(),
            Open::Unknown(code) => format!("{code} (unknown to this version)"),
        }
    }
}

impl<T> From<T> for Open<T> {
    fn from(term: T) -> Self {
        Open::Known(term)
    }
}

impl<T: Term> PartialEq<T> for Open<T> {
    fn eq(&self, other: &T) -> bool {
        self.known().is_some_and(|term| term.code() == other.code())
    }
}

impl<T: Term> std::fmt::Display for Open<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

impl<T: Term> Serialize for Open<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de, T: Term> Deserialize<'de> for Open<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        Ok(Open::from_code(&code))
    }
}

impl<T: Term> autosurgeon::Reconcile for Open<T> {
    type Key<'a> = autosurgeon::reconcile::NoKey;

    fn reconcile<R: autosurgeon::Reconciler>(&self, mut reconciler: R) -> Result<(), R::Error> {
        reconciler.str(self.code())
    }
}

impl<T: Term> autosurgeon::Hydrate for Open<T> {
    fn hydrate_string(code: &'_ str) -> Result<Self, autosurgeon::HydrateError> {
        Ok(Open::from_code(code))
    }
}

/// Declares a vocabulary enum with code, zh-CN and English labels, and the
/// serde and autosurgeon mappings that use the code.
macro_rules! vocabulary {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = ($code:literal, $zh:literal, $en:literal), )+
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize,
            autosurgeon::Reconcile, autosurgeon::Hydrate,
        )]
        pub enum $name {
            $(
                $(#[$vmeta])*
                #[serde(rename = $code)]
                #[autosurgeon(rename = $code)]
                $variant,
            )+
        }

        impl $crate::vocab::Term for $name {
            const ALL: &'static [Self] = &[$($name::$variant),+];
            fn code(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }
            fn zh(self) -> &'static str {
                match self { $($name::$variant => $zh),+ }
            }
            fn en(self) -> &'static str {
                match self { $($name::$variant => $en),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str($crate::vocab::Term::code(*self))
            }
        }
    };
}
pub(crate) use vocabulary;

vocabulary! {
    /// The kind of a document photographed on site.
    pub enum DocumentKind {
        /// 营业执照.
        BusinessLicence = ("business_licence", "营业执照", "Business licence"),
        /// 法人身份证: the legal representative's ID card.
        IdCard = ("id_card", "法人身份证", "Legal representative's ID card"),
        /// 结算银行卡: settlement bank card or account proof.
        BankCard = ("bank_card", "结算银行卡", "Settlement bank card"),
        /// 协议书: the signed service agreement or an earlier contract.
        ServiceAgreement = ("service_agreement", "协议书", "Service agreement"),
        /// 税务登记证: tax registration certificate copy.
        TaxCertificate = ("tax_certificate", "税务登记证", "Tax registration certificate"),
        /// 购买凭证: proof of purchase or invoice.
        PurchaseProof = ("purchase_proof", "购买凭证", "Proof of purchase"),
        /// 保修卡.
        WarrantyCard = ("warranty_card", "保修卡", "Warranty card"),
        /// 报警证明: police report for a lost terminal.
        PoliceReport = ("police_report", "报警证明", "Police report"),
        /// 屏幕提示信息: the error shown on the terminal's screen.
        ScreenError = ("screen_error", "屏幕提示信息", "Error on the terminal screen"),
        /// 交易记录: transaction records relevant to a fault.
        TransactionRecord = ("transaction_record", "交易记录", "Transaction records"),
        /// 终端照片: the installed terminal or its label.
        TerminalPhoto = ("terminal_photo", "终端照片", "Terminal photo"),
        /// 其他.
        Other = ("other", "其他材料", "Other document"),
        /// 开户许可证或账户证明: the settlement account's proof, where no
        /// bank card is shown (schema 3).
        AccountProof = ("account_proof", "账户证明", "Bank account proof"),
        /// 结清证明: the acquirer's or bank's proof that the merchant's
        /// balance was settled before deregistration (schema 3).
        SettlementProof = ("settlement_proof", "结清证明", "Settlement proof"),
    }
}

vocabulary! {
    /// Who pays for a repair (保修状态).
    pub enum WarrantyStatus {
        /// 保修期内: free repair.
        InWarranty = ("in_warranty", "保修期内", "In warranty"),
        /// 过保: out of warranty, the merchant pays.
        OutOfWarranty = ("out_of_warranty", "已过保修期", "Out of warranty"),
        /// 人为损坏: dropped, liquid; the merchant pays.
        HumanDamage = ("human_damage", "人为损坏", "Damage caused by people"),
        /// 丢失: lost; a police report is required.
        Lost = ("lost", "丢失", "Lost"),
    }
}

impl WarrantyStatus {
    /// Whether the merchant pays, and so must confirm the fee by signing.
    pub fn merchant_pays(self) -> bool {
        matches!(self, WarrantyStatus::OutOfWarranty | WarrantyStatus::HumanDamage)
    }
}

vocabulary! {
    /// What happens to a faulty terminal (维修方案).
    pub enum RepairPlan {
        /// 现场修复.
        FixedOnSite = ("fixed_on_site", "现场修复", "Fixed on site"),
        /// 寄修.
        SentForRepair = ("sent_for_repair", "寄修", "Sent for repair"),
        /// 换新.
        Replaced = ("replaced", "换新", "Replaced"),
    }
}

vocabulary! {
    /// Why a terminal was suspended (停用原因).
    pub enum SuspensionCause {
        /// 系统维护/升级.
        SystemMaintenance = ("system_maintenance", "系统维护/升级", "System maintenance or upgrade"),
        /// 硬件故障.
        HardwareFault = ("hardware_fault", "硬件故障", "Hardware fault"),
        /// 软件问题.
        SoftwareProblem = ("software_problem", "软件问题", "Software problem"),
        /// 网络问题.
        NetworkProblem = ("network_problem", "网络问题", "Network problem"),
        /// 操作失误.
        OperatorError = ("operator_error", "操作失误", "Operator error"),
        /// 账户问题: frozen or abnormal merchant account.
        AccountProblem = ("account_problem", "账户冻结/异常", "Account frozen or abnormal"),
    }
}

vocabulary! {
    /// The mobile operator of a SIM data card (运营商).
    pub enum SimCarrier {
        /// 中国移动.
        ChinaMobile = ("china_mobile", "中国移动", "China Mobile"),
        /// 中国联通.
        ChinaUnicom = ("china_unicom", "中国联通", "China Unicom"),
        /// 中国电信.
        ChinaTelecom = ("china_telecom", "中国电信", "China Telecom"),
    }
}

vocabulary! {
    /// What was done about an expiring SIM data card.
    pub enum SimAction {
        /// 续费: the same card renewed.
        Renewed = ("renewed", "续费", "Renewed"),
        /// 换卡: replaced by a new card with a new ICCID.
        Replaced = ("replaced", "更换新卡", "Replaced by a new card"),
        /// 流量共享: moved to a shared data plan.
        SharedPlan = ("shared_plan", "流量共享", "Moved to a shared data plan"),
    }
}

vocabulary! {
    /// How a terminal reached the acquirer in a network test (schema 3).
    pub enum NetworkLink {
        /// 移动网络: the SIM data card (4G/5G).
        Mobile = ("mobile", "移动网络（流量卡）", "Mobile data (SIM card)"),
        /// WiFi.
        Wifi = ("wifi", "WiFi", "Wi-Fi"),
        /// 有线: a cable to the shop's network.
        Ethernet = ("ethernet", "有线网络", "Ethernet"),
    }
}

vocabulary! {
    /// Data backed up from a terminal before it is replaced or taken back.
    pub enum BackupItem {
        /// 日结报表.
        DailySettlementReports = ("daily_settlement_reports", "日结报表", "Daily settlement reports"),
        /// 交易记录.
        TransactionRecords = ("transaction_records", "交易记录", "Transaction records"),
        /// 结算单.
        SettlementSlips = ("settlement_slips", "结算单", "Settlement slips"),
    }
}

vocabulary! {
    /// The state of a reactivation application (复机申请).
    pub enum ApplicationState {
        /// 已提交: waiting for the back office.
        Submitted = ("submitted", "已提交", "Submitted"),
        /// 已批准: the installation steps are unlocked.
        Approved = ("approved", "已批准", "Approved"),
        /// 已驳回.
        Rejected = ("rejected", "已驳回", "Rejected"),
        /// 已发放终端.
        TerminalIssued = ("terminal_issued", "已发放终端", "Terminal issued"),
    }
}

vocabulary! {
    /// How the terminal was identified on site.
    pub enum IdentificationMethod {
        /// Read from the terminal's NFC tag.
        Nfc = ("nfc", "NFC", "NFC"),
        /// Decoded from a photo of the serial label's barcode.
        Photo = ("photo", "拍照识别", "label photo"),
        /// Typed by the agent.
        Manual = ("manual", "手工录入", "typed"),
        /// Read live by the phone camera's barcode scanner (no photo is kept).
        Scan = ("scan", "扫码识别", "live scan"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_vocabulary<T: Term + std::fmt::Debug + PartialEq>() {
        let mut codes = std::collections::HashSet::new();
        for term in T::ALL {
            assert!(codes.insert(term.code()), "duplicate code {}", term.code());
            assert_eq!(T::from_code(term.code()), Some(*term));
            assert!(!term.zh().is_empty() && !term.en().is_empty());
            assert!(term.code().chars().all(|c| c.is_ascii_lowercase() || c == '_'));
        }
        assert_eq!(T::from_code("no_such_code"), None);
    }

    #[test]
    fn every_vocabulary_has_unique_codes_and_both_labels() {
        assert_vocabulary::<DocumentKind>();
        assert_vocabulary::<WarrantyStatus>();
        assert_vocabulary::<RepairPlan>();
        assert_vocabulary::<SuspensionCause>();
        assert_vocabulary::<SimCarrier>();
        assert_vocabulary::<SimAction>();
        assert_vocabulary::<BackupItem>();
        assert_vocabulary::<NetworkLink>();
        assert_vocabulary::<ApplicationState>();
        assert_vocabulary::<IdentificationMethod>();
    }

    #[test]
    fn serde_uses_the_stored_code() {
        let json = serde_json::to_string(&DocumentKind::PoliceReport).unwrap();
        assert_eq!(json, "\"police_report\"");
        let back: SimCarrier = serde_json::from_str("\"china_unicom\"").unwrap();
        assert_eq!(back, SimCarrier::ChinaUnicom);
    }

    /// Every open value: the stored code, and whether this version knows it.
    #[rstest::rstest]
    #[case::a_known_term("police_report", Some(DocumentKind::PoliceReport))]
    #[case::a_code_from_a_newer_version("drone_photo", None)]
    #[case::an_empty_code_is_kept_too("", None)]
    fn an_open_value_keeps_its_code_whether_known_or_not(
        #[case] code: &str,
        #[case] known: Option<DocumentKind>,
    ) {
        let open = Open::<DocumentKind>::from_code(code);
        assert_eq!(open.code(), code);
        assert_eq!(open.known(), known);
        let json = serde_json::to_string(&open).unwrap();
        assert_eq!(serde_json::from_str::<Open<DocumentKind>>(&json).unwrap(), open);
        if known.is_none() {
            assert!(open.zh().contains(code) && open.zh().contains("不认识"), "{}", open.zh());
            assert!(open.en().contains(code) && open.en().contains("unknown"), "{}", open.en());
        }
    }

    #[test]
    fn merchant_pays_for_human_damage_and_out_of_warranty_only() {
        let paying: Vec<_> = WarrantyStatus::ALL.iter().filter(|w| w.merchant_pays()).copied().collect();
        assert_eq!(paying, [WarrantyStatus::OutOfWarranty, WarrantyStatus::HumanDamage]);
    }
}
