//! Fills an agent data folder with many visits, for the launch benchmark:
//! `cargo run -p posfield-app --example seed-visits -- DIR COUNT`.
//!
//! The visits are made through the same `Agent` facade the app uses, so the
//! store holds real documents and index rows.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::time::Instant;

use posfield_core::Agent;
use posfield_shared::VisitKind;
use posfield_shared::visit::MerchantInput;
use posfield_shared::vocab::Term;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or("usage: seed-visits DIR COUNT")?);
    let count: usize = args.next().ok_or("usage: seed-visits DIR COUNT")?.parse()?;
    std::fs::create_dir_all(&dir)?;
    let mut agent = Agent::open(&dir, std::sync::Arc::new(posfield_core::KeyFile::beside(&dir)))?;
    if agent.user().is_none() {
        agent.sign_in("agent-bench")?;
    }
    let started = Instant::now();
    let kinds = VisitKind::ALL;
    for n in 0..count {
        let merchant = MerchantInput {
            name: format!("测试商户{n:05}"),
            merchant_number: Some(format!("8983100{n:08}")),
            terminal_number: None,
            phone: None,
            address: Some(format!("人民路{}号", n % 500 + 1)),
            location: None,
        };
        let row = agent.create_visit(kinds[n % kinds.len()], &merchant)?;
        if n % 3 == 0 {
            agent.identify_typed(&row.id, &format!("N910{n:010}"), false)?;
        }
    }
    println!(
        "{} visits in {} ({} in all) in {:.1} s",
        count,
        dir.display(),
        agent.visit_count()?,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
