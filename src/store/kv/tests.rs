//! Engine conformance tests: what every [`Engine`] must do. They run against the embedded
//! engine, and (`--features fdb`) against FoundationDB when `FDB_CLUSTER_FILE` is set.

use super::*;

fn with_fjall(test: impl FnOnce(&dyn Engine)) {
    let dir = tempfile::tempdir().unwrap();
    let engine = FjallEngine::open(dir.path()).unwrap();
    test(&engine);
}

fn put(engine: &dyn Engine, pairs: &[(&[u8], &[u8])]) {
    let mut tx = engine.begin(true).unwrap();
    for (k, v) in pairs {
        tx.set(k, v);
    }
    tx.commit().unwrap();
}

pub fn point_reads_and_writes(engine: &dyn Engine) {
    put(engine, &[(b"a", b"1"), (b"b", b"2")]);
    let snap = engine.snapshot();
    assert_eq!(snap.get(b"a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(snap.get(b"zz").unwrap(), None);
    let mut tx = engine.begin(true).unwrap();
    tx.clear(b"a");
    tx.set(b"c", b"3");
    assert_eq!(tx.get(b"a").unwrap(), None, "a transaction reads its own writes");
    assert_eq!(tx.get(b"c").unwrap(), Some(b"3".to_vec()));
    tx.commit().unwrap();
    assert_eq!(snap.get(b"a").unwrap(), Some(b"1".to_vec()), "an older snapshot is stable");
    assert_eq!(engine.snapshot().get(b"a").unwrap(), None);
}

pub fn ordered_ranges(engine: &dyn Engine) {
    let keys: Vec<Vec<u8>> = (0u8..10).map(|i| vec![b'k', i]).collect();
    let pairs: Vec<(&[u8], &[u8])> = keys.iter().map(|k| (k.as_slice(), b"v".as_slice())).collect();
    put(engine, &pairs);
    put(engine, &[(b"j", b"before"), (b"l", b"after")]);
    let snap = engine.snapshot();
    let all = snap.get_range(b"k", &prefix_end(b"k"), RangeOptions::default()).unwrap();
    assert_eq!(all.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(), keys);
    let first3 = snap.get_range(b"k", b"l", RangeOptions::forward(3)).unwrap();
    assert_eq!(first3.iter().map(|(k, _)| k[1]).collect::<Vec<_>>(), vec![0, 1, 2]);
    let last3 = snap.get_range(b"k", b"l", RangeOptions::backward(3)).unwrap();
    assert_eq!(last3.iter().map(|(k, _)| k[1]).collect::<Vec<_>>(), vec![9, 8, 7]);
    let middle = snap.get_range(&[b'k', 4], &[b'k', 6], RangeOptions::default()).unwrap();
    assert_eq!(middle.iter().map(|(k, _)| k[1]).collect::<Vec<_>>(), vec![4, 5]);
    assert!(snap.get_range(b"l", b"k", RangeOptions::default()).unwrap().is_empty());
}

pub fn conflicting_read_modify_write(engine: &dyn Engine) {
    put(engine, &[(b"ctr", b"0")]);
    let mut t1 = engine.begin(true).unwrap();
    let mut t2 = engine.begin(true).unwrap();
    assert_eq!(t1.get(b"ctr").unwrap(), Some(b"0".to_vec()));
    assert_eq!(t2.get(b"ctr").unwrap(), Some(b"0".to_vec()));
    t1.set(b"ctr", b"1");
    t2.set(b"ctr", b"1");
    t1.commit().unwrap();
    assert!(matches!(t2.commit(), Err(KvError::Conflict)));
}

pub fn range_reads_conflict_with_inserts(engine: &dyn Engine) {
    let mut reader = engine.begin(true).unwrap();
    assert!(reader.get_range(b"idx/", &prefix_end(b"idx/"), RangeOptions::default()).unwrap().is_empty());
    put(engine, &[(b"idx/x", b"1")]);
    reader.set(b"idx/y", b"1");
    assert!(matches!(reader.commit(), Err(KvError::Conflict)));
}

pub fn blind_writes_do_not_conflict(engine: &dyn Engine) {
    let mut t1 = engine.begin(false).unwrap();
    let mut t2 = engine.begin(false).unwrap();
    t1.set(b"same", b"1");
    t2.set(b"same", b"2");
    t1.commit().unwrap();
    t2.commit().unwrap();
    assert_eq!(engine.snapshot().get(b"same").unwrap(), Some(b"2".to_vec()));
}

pub fn run_retries_until_it_commits(engine: &dyn Engine) {
    put(engine, &[(b"n", &[0])]);
    let mut attempts = 0;
    let result: Result<u8, KvError> = run(engine, |tx| {
        attempts += 1;
        let n = tx.get(b"n")?.unwrap()[0];
        if attempts == 1 {
            // Someone else commits between our read and our commit.
            put(engine, &[(b"n", &[n + 10])]);
        }
        tx.set(b"n", &[n + 1]);
        Ok(n + 1)
    });
    assert_eq!(result.unwrap(), 11);
    assert_eq!(attempts, 2);
    assert_eq!(engine.snapshot().get(b"n").unwrap(), Some(vec![11]));
}

pub fn plain_writes_apply_together(engine: &dyn Engine) {
    put(engine, &[(b"gone", b"x")]);
    let snap = engine.snapshot();
    let writes = [
        Write::Set(b"w1".to_vec(), b"1".to_vec()),
        Write::Clear(b"gone".to_vec()),
        Write::Set(b"w2".to_vec(), b"2".to_vec()),
    ];
    write_all(engine, &writes).unwrap();
    assert_eq!(snap.get(b"w1").unwrap(), None, "an older snapshot does not see them");
    let now = engine.snapshot();
    assert_eq!(now.get(b"w1").unwrap(), Some(b"1".to_vec()));
    assert_eq!(now.get(b"w2").unwrap(), Some(b"2".to_vec()));
    assert_eq!(now.get(b"gone").unwrap(), None);
    // A transaction that only wrote the same key is not disturbed (blind writes never conflict).
    let mut tx = engine.begin(true).unwrap();
    tx.set(b"w1", b"tx");
    write_all(engine, &[Write::Set(b"w1".to_vec(), b"plain".to_vec())]).unwrap();
    tx.commit().unwrap();
    assert_eq!(engine.snapshot().get(b"w1").unwrap(), Some(b"tx".to_vec()));
}

/// The epoch fence: a group applies only if its guard holds, judged in order within one
/// call (a group sees the guard keys that earlier groups of the same call wrote).
pub fn guarded_groups_apply_only_if_their_guard_holds(engine: &dyn Engine) {
    put(engine, &[(b"epoch", b"1")]);
    let guard = |value: Option<&[u8]>| Guard { key: b"epoch".to_vec(), value: value.map(<[u8]>::to_vec) };
    let (at1, at2, absent) = (guard(Some(b"1")), guard(Some(b"2")), Guard { key: b"none".to_vec(), value: None });
    let stale = [Write::Set(b"m1".to_vec(), b"stale".to_vec())];
    let fresh = [Write::Set(b"m2".to_vec(), b"fresh".to_vec())];
    let bump = [Write::Set(b"epoch".to_vec(), b"2".to_vec())];
    let plain = [Write::Set(b"p".to_vec(), b"p".to_vec())];
    let applied = engine
        .write(&[
            Group { guard: Some(&at2), writes: &stale },
            Group { guard: Some(&at1), writes: &bump },
            Group { guard: Some(&at1), writes: &stale },
            Group { guard: Some(&at2), writes: &fresh },
            Group { guard: Some(&absent), writes: &plain },
            Group { guard: None, writes: &[] },
        ])
        .unwrap();
    assert_eq!(applied, [false, true, false, true, true, true]);
    let now = engine.snapshot();
    assert_eq!(now.get(b"epoch").unwrap(), Some(b"2".to_vec()));
    assert_eq!(now.get(b"m1").unwrap(), None, "a group whose guard failed wrote nothing");
    assert_eq!(now.get(b"m2").unwrap(), Some(b"fresh".to_vec()));
    assert_eq!(now.get(b"p").unwrap(), Some(b"p".to_vec()));
}

/// A batch bigger than one FoundationDB transaction may hold (the FDB engine splits it
/// between groups): every group applies, and a group sees the guard key an earlier group
/// wrote even when they land in different transactions.
pub fn big_batches_apply_every_group(engine: &dyn Engine) {
    let value = vec![7u8; 90_000];
    let data = |group: u8| -> Vec<Write> {
        (0u8..28).map(|n| Write::Set(vec![b'b', b'/', group, n], value.clone())).collect()
    };
    let mut first = data(0);
    first.push(Write::Set(b"big-epoch".to_vec(), b"1".to_vec()));
    let (second, third, fourth) = (data(1), data(2), data(3));
    let at1 = Guard { key: b"big-epoch".to_vec(), value: Some(b"1".to_vec()) };
    let applied = engine
        .write(&[
            Group { guard: None, writes: &first },
            Group { guard: Some(&at1), writes: &second },
            Group { guard: Some(&at1), writes: &third },
            Group { guard: Some(&at1), writes: &fourth },
        ])
        .unwrap();
    assert_eq!(applied, [true; 4]);
    let stored = engine.snapshot().get_range(b"b/", &prefix_end(b"b/"), RangeOptions::default()).unwrap();
    assert_eq!(stored.len(), 4 * 28);
    assert!(stored.iter().all(|(_, v)| *v == value));
}

#[test]
fn fjall_big_batches_apply_every_group() {
    with_fjall(big_batches_apply_every_group);
}

#[test]
fn fjall_guarded_groups_apply_only_if_their_guard_holds() {
    with_fjall(guarded_groups_apply_only_if_their_guard_holds);
}

#[test]
fn fjall_plain_writes_apply_together() {
    with_fjall(plain_writes_apply_together);
}

#[test]
fn fjall_point_reads_and_writes() {
    with_fjall(point_reads_and_writes);
}

#[test]
fn fjall_ordered_ranges() {
    with_fjall(ordered_ranges);
}

#[test]
fn fjall_conflicting_read_modify_write() {
    with_fjall(conflicting_read_modify_write);
}

#[test]
fn fjall_range_reads_conflict_with_inserts() {
    with_fjall(range_reads_conflict_with_inserts);
}

#[test]
fn fjall_blind_writes_do_not_conflict() {
    with_fjall(blind_writes_do_not_conflict);
}

#[test]
fn fjall_run_retries_until_it_commits() {
    with_fjall(run_retries_until_it_commits);
}

#[test]
fn fjall_data_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let engine = FjallEngine::open(dir.path()).unwrap();
        put(&engine, &[(b"kept", b"yes")]);
        write_all(&engine, &[Write::Set(b"plain".to_vec(), b"yes".to_vec())]).unwrap();
    }
    let engine = FjallEngine::open(dir.path()).unwrap();
    assert_eq!(engine.snapshot().get(b"kept").unwrap(), Some(b"yes".to_vec()));
    assert_eq!(engine.snapshot().get(b"plain").unwrap(), Some(b"yes".to_vec()));
}

/// Runs `test` against the FoundationDB cluster that `FDB_CLUSTER_FILE` names, in a key
/// prefix of its own (a real cluster is shared, and the tests run at once), cleared when
/// the test ends; without the variable the test is skipped with a notice.
#[cfg(feature = "fdb")]
fn with_fdb(name: &str, test: impl FnOnce(&dyn Engine)) {
    let Ok(cluster_file) = std::env::var("FDB_CLUSTER_FILE") else {
        eprintln!("skipped fdb_{name}: FDB_CLUSTER_FILE is not set");
        return;
    };
    let nonce = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let prefix = format!("xinshi-test/{name}/{}-{nonce}/", std::process::id());
    let engine = FdbEngine::open_in(&cluster_file, prefix.into_bytes()).unwrap();

    /// Clears the test's prefix, also when the test fails.
    struct Cleared<'e>(&'e FdbEngine);
    impl Drop for Cleared<'_> {
        fn drop(&mut self) {
            let _ = run(self.0, |tx| -> Result<(), KvError> {
                for (key, _) in tx.get_range(b"", &[0xff], RangeOptions::default())? {
                    tx.clear(&key);
                }
                Ok(())
            });
        }
    }
    let _cleared = Cleared(&engine);
    test(&engine);
}

#[cfg(feature = "fdb")]
#[test]
fn fdb_point_reads_and_writes() {
    with_fdb("point_reads_and_writes", point_reads_and_writes);
}

#[cfg(feature = "fdb")]
#[test]
fn fdb_ordered_ranges() {
    with_fdb("ordered_ranges", ordered_ranges);
}

#[cfg(feature = "fdb")]
#[test]
fn fdb_conflicting_read_modify_write() {
    with_fdb("conflicting_read_modify_write", conflicting_read_modify_write);
}

#[cfg(feature = "fdb")]
#[test]
fn fdb_range_reads_conflict_with_inserts() {
    with_fdb("range_reads_conflict_with_inserts", range_reads_conflict_with_inserts);
}

#[cfg(feature = "fdb")]
#[test]
fn fdb_blind_writes_do_not_conflict() {
    with_fdb("blind_writes_do_not_conflict", blind_writes_do_not_conflict);
}

#[cfg(feature = "fdb")]
#[test]
fn fdb_run_retries_until_it_commits() {
    with_fdb("run_retries_until_it_commits", run_retries_until_it_commits);
}

#[cfg(feature = "fdb")]
#[test]
fn fdb_plain_writes_apply_together() {
    with_fdb("plain_writes_apply_together", plain_writes_apply_together);
}

#[cfg(feature = "fdb")]
#[test]
fn fdb_guarded_groups_apply_only_if_their_guard_holds() {
    with_fdb("guarded_groups_apply_only_if_their_guard_holds", guarded_groups_apply_only_if_their_guard_holds);
}

#[cfg(feature = "fdb")]
#[test]
fn fdb_big_batches_apply_every_group() {
    with_fdb("big_batches_apply_every_group", big_batches_apply_every_group);
}
