//! `imgpipe-contract`: prints services/contract.json (`make contract` writes it), the facts the deployment
//! must match, generated from the code that owns them (`imgpipe_domain::contract`).
//!
//! # Layout
//!
//! One file: the contract itself lives in the domain crate; this binary prints it, and its test keeps the
//! checked-in file current.

fn main() {
    print!("{}", imgpipe_domain::contract::render());
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_checked_in_contract_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../services/contract.json");
        let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            checked_in == imgpipe_domain::contract::render(),
            "{} is stale: run `make contract` and commit the result",
            path.display()
        );
    }
}
