//! Placement: which node runs a conversation's actor. Rendezvous (highest-random-weight)
//! hashing of the conversation id over the nodes that are up: every node scores
//! `xxh3(cid, seed = xxh3(node name))` and the highest score wins (ties by name). Every
//! node computes the same owner from the same member list, with no table to keep; when a
//! node leaves, only the conversations it owned move, spread over the others; when one
//! joins, it takes about `1 / n` of them, from every node alike.
//!
//! xxh3 (the `xxhash-rust` crate) is specified and stable across versions and platforms,
//! which nodes running different builds need; std's hasher is not.

use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

/// The node among `nodes` that owns `cid`; `None` without nodes.
pub fn owner<'a>(cid: &str, nodes: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    nodes.into_iter().max_by_key(|node| (score(cid, node), *node))
}

fn score(cid: &str, node: &str) -> u64 {
    xxh3_64_with_seed(cid.as_bytes(), xxh3_64(node.as_bytes()))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn cids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{i:024x}")).collect()
    }

    #[test]
    fn the_owner_is_the_same_whatever_the_order_of_the_members() {
        let (abc, cba) = (["a", "b", "c"], ["c", "b", "a"]);
        for cid in cids(1_000) {
            assert_eq!(owner(&cid, abc), owner(&cid, cba));
        }
        assert_eq!(owner("x", []), None);
        assert_eq!(owner("x", ["only"]), Some("only"));
        // Fixed by the algorithm, not by this build: nodes of different versions agree.
        assert_eq!(score("conv", "node-1"), xxh3_64_with_seed(b"conv", xxh3_64(b"node-1")));
    }

    #[test]
    fn conversations_spread_evenly() {
        let nodes = ["xinshi-1", "xinshi-2", "xinshi-3"];
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for cid in cids(30_000) {
            *counts.entry(owner(&cid, nodes).unwrap()).or_default() += 1;
        }
        for node in nodes {
            let share = counts[node] as f64 / 30_000.0;
            assert!((0.30..0.37).contains(&share), "{node} owns {share:.3}");
        }
    }

    #[test]
    fn a_leaving_node_moves_only_its_own_and_a_joining_one_takes_a_fair_share() {
        let (three, two, four) = (["a", "b", "c"], ["a", "b"], ["a", "b", "c", "d"]);
        let all = cids(20_000);
        let mut moved_in = 0;
        for cid in &all {
            let before = owner(cid, three).unwrap();
            let after = owner(cid, two).unwrap();
            if before != "c" {
                assert_eq!(before, after, "{cid} moved although its owner stayed");
            }
            let joined = owner(cid, four).unwrap();
            if joined != before {
                assert_eq!(joined, "d", "{cid} moved between nodes that stayed");
                moved_in += 1;
            }
        }
        let share = moved_in as f64 / all.len() as f64;
        assert!((0.21..0.29).contains(&share), "the fourth node took {share:.3}");
    }
}
