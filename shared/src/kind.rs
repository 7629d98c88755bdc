//! The seven kinds of visit an agent makes.

use crate::vocab::vocabulary;

vocabulary! {
    /// What a visit is for. Each kind has its own checklist template
    /// (see [`crate::checklist`]).
    pub enum VisitKind {
        /// 装机 / 新装: a new terminal at a new merchant.
        Installation = ("installation", "装机", "Installation"),
        /// 过期更换: replace a terminal past its service life.
        Replacement = ("replacement", "过期更换", "Replacement of an expired terminal"),
        /// 维修 / 损坏: repair a faulty or damaged terminal.
        Repair = ("repair", "维修", "Repair"),
        /// 停用后恢复: bring a suspended terminal back into service.
        Reactivation = ("reactivation", "停用后恢复", "Reactivation after suspension"),
        /// 注销 / 撤机: deregister and take the terminal back.
        Deregistration = ("deregistration", "注销撤机", "Deregistration"),
        /// 流量卡到期: renew or replace the SIM data card.
        SimRenewal = ("sim_renewal", "流量卡续费", "SIM data card renewal"),
        /// 定期检查: preventive inspection, at least yearly.
        Inspection = ("inspection", "定期检查", "Preventive inspection"),
    }
}
