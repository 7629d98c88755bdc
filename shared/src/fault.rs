//! The fault taxonomy (故障) and the on-site steps recommended for each fault.
//!
//! The table [`FAULTS`] is the one place that says which category a fault
//! belongs to and what an agent should try, in order, before sending the
//! terminal for repair.

#[cfg(test)]
use crate::vocab::Term;
use crate::vocab::vocabulary;

vocabulary! {
    /// The broad class of a fault.
    pub enum FaultCategory {
        /// 硬件故障.
        Hardware = ("hardware", "硬件故障", "Hardware"),
        /// 软件问题.
        Software = ("software", "软件问题", "Software"),
        /// 网络问题.
        Network = ("network", "网络问题", "Network"),
        /// 账户问题.
        Account = ("account", "账户问题", "Account"),
        /// 其他.
        Other = ("other", "其他问题", "Other"),
    }
}

vocabulary! {
    /// A specific fault an agent records.
    pub enum FaultCode {
        /// 显示屏损坏 / 黑屏.
        ScreenBroken = ("screen_broken", "显示屏损坏/黑屏", "Screen broken or blank"),
        /// 打印机故障: out of paper, paper jam.
        PrinterFault = ("printer_fault", "打印机故障", "Printer fault"),
        /// 键盘失灵.
        KeypadUnresponsive = ("keypad_unresponsive", "键盘失灵", "Keypad not responding"),
        /// 电池: dead or not holding charge.
        BatteryFault = ("battery_fault", "电池故障", "Battery dead or not holding charge"),
        /// 读卡故障.
        CardReaderFault = ("card_reader_fault", "读卡故障", "Card reader fault"),
        /// 外观损坏.
        PhysicalDamage = ("physical_damage", "外观损坏", "Physical damage"),
        /// 系统崩溃.
        SystemCrash = ("system_crash", "系统崩溃", "System crash"),
        /// 运行缓慢.
        Slow = ("slow", "运行缓慢", "Slow"),
        /// 需要升级.
        NeedsUpdate = ("needs_update", "需要升级", "Needs a software update"),
        /// 数据异常.
        DataAnomaly = ("data_anomaly", "数据异常", "Data anomaly"),
        /// 无法联网.
        CannotConnect = ("cannot_connect", "无法联网", "Cannot connect to the network"),
        /// 流量卡到期.
        SimExpired = ("sim_expired", "流量卡到期", "SIM data card expired"),
        /// 账户冻结 / 异常.
        AccountFrozen = ("account_frozen", "账户冻结/异常", "Merchant account frozen or abnormal"),
        /// 交易失败, with the symptom noted.
        TransactionFailure = ("transaction_failure", "交易失败", "Transaction failures"),
    }
}

vocabulary! {
    /// An on-site step from the appendix of common problems.
    pub enum Remedy {
        /// 重启终端.
        Restart = ("restart", "重启终端", "Restart the terminal"),
        /// 检查电源和网络.
        CheckPowerAndNetwork = ("check_power_network", "检查电源和网络", "Check power and network"),
        /// 检查软件更新.
        CheckSoftwareUpdate = ("check_software_update", "检查软件更新", "Check for a software update"),
        /// 检查纸卷/卡纸.
        CheckPaper = ("check_paper", "检查纸卷或卡纸", "Check paper or jam"),
        /// 清洁键盘并重启.
        CleanKeypad = ("clean_keypad", "清洁键盘并重启", "Clean the keypad and restart"),
        /// 远离液体并报修.
        KeepDryAndCallRepair = ("keep_dry_call_repair", "远离液体并报修", "Keep liquids away and call for repair"),
        /// 更换流量卡 / 续费.
        RenewSim = ("renew_sim", "流量卡续费或换卡", "Renew or replace the SIM data card"),
        /// 联系银行核实账户.
        ContactBank = ("contact_bank", "联系银行核实账户", "Ask the bank to check the account"),
    }
}

/// One row of the taxonomy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultInfo {
    /// The fault.
    pub code: FaultCode,
    /// Its category.
    pub category: FaultCategory,
    /// The on-site steps to try, in order.
    pub remedies: &'static [Remedy],
    /// Whether the agent must describe the symptom (e.g. which transactions fail).
    pub symptom_required: bool,
}

use FaultCategory as C;
use FaultCode as F;
use Remedy as R;

const GENERIC: &[Remedy] = &[R::Restart, R::CheckPowerAndNetwork, R::CheckSoftwareUpdate];

/// The taxonomy: every [`FaultCode`] exactly once.
pub const FAULTS: &[FaultInfo] = &[
    FaultInfo {
        code: F::ScreenBroken,
        category: C::Hardware,
        remedies: &[R::Restart, R::KeepDryAndCallRepair],
        symptom_required: false,
    },
    FaultInfo {
        code: F::PrinterFault,
        category: C::Hardware,
        remedies: &[R::Restart, R::CheckPaper],
        symptom_required: false,
    },
    FaultInfo {
        code: F::KeypadUnresponsive,
        category: C::Hardware,
        remedies: &[R::CleanKeypad, R::Restart],
        symptom_required: false,
    },
    FaultInfo {
        code: F::BatteryFault,
        category: C::Hardware,
        remedies: &[R::CheckPowerAndNetwork, R::Restart],
        symptom_required: false,
    },
    FaultInfo { code: F::CardReaderFault, category: C::Hardware, remedies: GENERIC, symptom_required: false },
    FaultInfo {
        code: F::PhysicalDamage,
        category: C::Hardware,
        remedies: &[R::KeepDryAndCallRepair],
        symptom_required: false,
    },
    FaultInfo { code: F::SystemCrash, category: C::Software, remedies: GENERIC, symptom_required: false },
    FaultInfo { code: F::Slow, category: C::Software, remedies: GENERIC, symptom_required: false },
    FaultInfo {
        code: F::NeedsUpdate,
        category: C::Software,
        remedies: &[R::CheckPowerAndNetwork, R::CheckSoftwareUpdate],
        symptom_required: false,
    },
    FaultInfo { code: F::DataAnomaly, category: C::Software, remedies: GENERIC, symptom_required: true },
    FaultInfo {
        code: F::CannotConnect,
        category: C::Network,
        remedies: &[R::Restart, R::CheckPowerAndNetwork],
        symptom_required: false,
    },
    FaultInfo {
        code: F::SimExpired,
        category: C::Network,
        remedies: &[R::RenewSim],
        symptom_required: false,
    },
    FaultInfo {
        code: F::AccountFrozen,
        category: C::Account,
        remedies: &[R::ContactBank],
        symptom_required: false,
    },
    FaultInfo { code: F::TransactionFailure, category: C::Other, remedies: GENERIC, symptom_required: true },
];

impl FaultCode {
    /// This fault's row of the taxonomy.
    pub fn info(self) -> &'static FaultInfo {
        FAULTS.iter().find(|row| row.code == self).unwrap_or(&FAULTS[FAULTS.len() - 1])
    }

    /// Its category.
    pub fn category(self) -> FaultCategory {
        self.info().category
    }

    /// The on-site steps recommended for it, in order.
    pub fn recommended_remedies(self) -> &'static [Remedy] {
        self.info().remedies
    }
}

/// Every fault of a category, in taxonomy order.
pub fn faults_in(category: FaultCategory) -> impl Iterator<Item = FaultCode> {
    FAULTS.iter().filter(move |f| f.category == category).map(|f| f.code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taxonomy_lists_every_fault_exactly_once() {
        for code in FaultCode::ALL {
            let rows = FAULTS.iter().filter(|row| row.code == *code).count();
            assert_eq!(rows, 1, "{code} appears {rows} times in FAULTS");
            assert!(!code.recommended_remedies().is_empty(), "{code} has no remedy");
        }
        assert_eq!(FAULTS.len(), FaultCode::ALL.len());
    }

    #[test]
    fn every_category_has_faults() {
        for category in FaultCategory::ALL {
            assert!(faults_in(*category).next().is_some(), "{category} is empty");
        }
    }

    #[test]
    fn appendix_remedies_follow_the_domain() {
        assert_eq!(FaultCode::PrinterFault.recommended_remedies(), &[R::Restart, R::CheckPaper]);
        assert_eq!(FaultCode::KeypadUnresponsive.recommended_remedies()[0], R::CleanKeypad);
        assert!(FaultCode::ScreenBroken.recommended_remedies().contains(&R::KeepDryAndCallRepair));
        assert_eq!(FaultCode::SystemCrash.category(), FaultCategory::Software);
        assert_eq!(FaultCode::SimExpired.category(), FaultCategory::Network);
    }
}
