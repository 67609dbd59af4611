//! A batch of nf_tables changes, applied atomically.

use crate::Family;
use crate::attr::Attrs;
use crate::expr::{Expr, comment_userdata};

pub(crate) const SUBSYS_NFTABLES: u16 = 10;
pub(crate) const MSG_NEWTABLE: u16 = 0;
pub(crate) const MSG_GETTABLE: u16 = 1;
pub(crate) const MSG_NEWCHAIN: u16 = 3;
pub(crate) const MSG_GETCHAIN: u16 = 4;
pub(crate) const MSG_DELCHAIN: u16 = 5;
pub(crate) const MSG_NEWRULE: u16 = 6;
pub(crate) const MSG_GETRULE: u16 = 7;
pub(crate) const MSG_DELRULE: u16 = 8;

pub(crate) const NLM_F_APPEND: u16 = 0x800;
pub(crate) const NLM_F_CREATE: u16 = 0x400;

/// Chain types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainType {
    Filter,
    Nat,
}

/// Netfilter hooks (`NF_INET_*`; the bridge family uses the same numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    Prerouting = 0,
    Input = 1,
    Forward = 2,
    Output = 3,
    Postrouting = 4,
}

/// What makes a chain a base chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BaseChain {
    pub kind: ChainType,
    pub hook: Hook,
    pub priority: i32,
}

pub(crate) struct Message {
    pub kind: u16,
    pub flags: u16,
    pub body: Vec<u8>,
    /// What this message does, for error messages.
    pub what: String,
}

/// Changes to apply in one transaction: the kernel applies all or none.
#[derive(Default)]
pub struct Batch {
    pub(crate) msgs: Vec<Message>,
}

impl Batch {
    pub fn new() -> Batch {
        Batch::default()
    }

    pub fn is_empty(&self) -> bool {
        self.msgs.is_empty()
    }

    pub fn len(&self) -> usize {
        self.msgs.len()
    }

    fn push(&mut self, kind: u16, flags: u16, body: Attrs, what: String) {
        self.msgs.push(Message {
            kind,
            flags,
            body: body.buf,
            what,
        });
    }

    /// Create the table if it does not exist.
    pub fn add_table(&mut self, family: Family, table: &str, comment: Option<&str>) -> &mut Batch {
        let mut a = Attrs::new(family.code(), 0);
        a.str(1, table);
        if let Some(c) = comment {
            a.bytes(6, &comment_userdata(c)); // NFTA_TABLE_USERDATA
        }
        self.push(MSG_NEWTABLE, NLM_F_CREATE, a, format!("add table {table}"));
        self
    }

    /// Create the chain if it does not exist.
    pub fn add_chain(
        &mut self,
        family: Family,
        table: &str,
        chain: &str,
        base: Option<BaseChain>,
        comment: Option<&str>,
    ) -> &mut Batch {
        let mut a = Attrs::new(family.code(), 0);
        a.str(1, table).str(3, chain);
        if let Some(b) = base {
            a.nest(4)
                .u32(1, b.hook as u32)
                .u32(2, b.priority as u32)
                .end();
            a.str(
                7,
                if b.kind == ChainType::Nat {
                    "nat"
                } else {
                    "filter"
                },
            );
        }
        if let Some(c) = comment {
            a.bytes(12, &comment_userdata(c)); // NFTA_CHAIN_USERDATA
        }
        self.push(
            MSG_NEWCHAIN,
            NLM_F_CREATE,
            a,
            format!("add chain {table} {chain}"),
        );
        self
    }

    /// Remove every rule of a chain.
    pub fn flush_chain(&mut self, family: Family, table: &str, chain: &str) -> &mut Batch {
        let mut a = Attrs::new(family.code(), 0);
        a.str(1, table).str(2, chain);
        self.push(MSG_DELRULE, 0, a, format!("flush chain {table} {chain}"));
        self
    }

    /// Delete an (empty, unreferenced) chain.
    pub fn delete_chain(&mut self, family: Family, table: &str, chain: &str) -> &mut Batch {
        let mut a = Attrs::new(family.code(), 0);
        a.str(1, table).str(3, chain);
        self.push(MSG_DELCHAIN, 0, a, format!("delete chain {table} {chain}"));
        self
    }

    /// Append a rule to a chain.
    pub fn add_rule(
        &mut self,
        family: Family,
        table: &str,
        chain: &str,
        exprs: &[Expr],
        comment: Option<&str>,
    ) -> &mut Batch {
        let mut a = Attrs::new(family.code(), 0);
        a.str(1, table).str(2, chain).nest(4);
        for e in exprs {
            e.encode(&mut a);
        }
        a.end();
        if let Some(c) = comment {
            a.bytes(7, &comment_userdata(c)); // NFTA_RULE_USERDATA
        }
        self.push(
            MSG_NEWRULE,
            NLM_F_CREATE | NLM_F_APPEND,
            a,
            format!("add rule to {table} {chain}"),
        );
        self
    }

    /// Delete a rule by its handle.
    pub fn delete_rule(
        &mut self,
        family: Family,
        table: &str,
        chain: &str,
        handle: u64,
    ) -> &mut Batch {
        let mut a = Attrs::new(family.code(), 0);
        a.str(1, table).str(2, chain).u64(3, handle);
        self.push(
            MSG_DELRULE,
            0,
            a,
            format!("delete rule {handle} from {table} {chain}"),
        );
        self
    }
}
