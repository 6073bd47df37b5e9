//! Engine conformance tests: what every [`Engine`] must do. They run against the embedded
//! engine, PostgreSQL (see [`with_pg`]), and (`--features fdb`) FoundationDB when
//! `FDB_CLUSTER_FILE` is set.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::*;

fn with_fjall(test: impl FnOnce(&dyn Engine)) {
    let dir = tempfile::tempdir().unwrap();
    let engine = FjallEngine::open(dir.path()).unwrap();
    test(&engine);
}

/// Runs `test` on a fresh database of the PostgreSQL server at `XINSHI_TEST_POSTGRES_URL`
/// (an admin URL: the test creates and drops a database). Without it the test prints a
/// notice and passes, unless `XINSHI_TEST_POSTGRES_REQUIRED=1` (tests/run sets both).
fn with_pg(name: &str, test: impl FnOnce(&dyn Engine)) {
    let Some(admin) = postgres_admin(name) else { return };
    let url = create_test_database(&admin).unwrap();
    {
        let engine = PgEngine::open(&url, 4).unwrap();
        test(&engine);
    }
    drop_test_database(&admin, &url).unwrap();
}

/// The admin URL of the test PostgreSQL server; `None` (with a notice) when there is none and
/// none is required.
fn postgres_admin(name: &str) -> Option<String> {
    let admin = std::env::var("XINSHI_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty());
    if admin.is_none() {
        assert!(
            std::env::var("XINSHI_TEST_POSTGRES_REQUIRED").as_deref() != Ok("1"),
            "{name}: set XINSHI_TEST_POSTGRES_URL (tests/run starts a PostgreSQL)"
        );
        eprintln!("{name}: skipped, XINSHI_TEST_POSTGRES_URL is not set (tests/run starts a PostgreSQL)");
    }
    admin
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

/// Keys are ordered bytewise: 0x00 and 0xff bytes, and a key before its extensions.
pub fn keys_order_bytewise(engine: &dyn Engine) {
    let keys: [&[u8]; 9] =
        [b"o", b"o\x00", b"o\x00\x00", b"o\x00\x01", b"o\x01", b"o\x7f", b"o\x80", b"o\xff", b"o\xff\x00"];
    let mut shuffled = keys;
    shuffled.reverse();
    put(engine, &shuffled.iter().map(|k| (*k, *k)).collect::<Vec<_>>());
    let snap = engine.snapshot();
    let all = snap.get_range(b"o", b"p", RangeOptions::default()).unwrap();
    assert_eq!(all.iter().map(|(k, _)| k.as_slice()).collect::<Vec<_>>(), keys);
    let back = snap.get_range(b"o\x00", b"o\xff", RangeOptions::backward(3)).unwrap();
    assert_eq!(back.iter().map(|(k, _)| k.as_slice()).collect::<Vec<_>>(), [keys[6], keys[5], keys[4]]);
    assert_eq!(snap.get(b"o\xff\x00").unwrap(), Some(b"o\xff\x00".to_vec()));
}

/// Two transactions that each read the same empty range and insert a different key into
/// it (the unique index's create-if-absent) cannot both commit.
pub fn range_reads_conflict_with_inserts(engine: &dyn Engine) {
    let mut t1 = engine.begin(true).unwrap();
    let mut t2 = engine.begin(true).unwrap();
    assert!(t1.get_range(b"idx/", &prefix_end(b"idx/"), RangeOptions::default()).unwrap().is_empty());
    assert!(t2.get_range(b"idx/", &prefix_end(b"idx/"), RangeOptions::default()).unwrap().is_empty());
    t1.set(b"idx/x", b"1");
    t2.set(b"idx/y", b"1");
    t1.commit().unwrap();
    assert!(matches!(t2.commit(), Err(KvError::Conflict)));
}

/// FoundationDB's and fjall's optimistic rule, stronger than serializability: a
/// transaction whose read range another transaction inserted into after its snapshot
/// fails, even though it could be ordered before that insert. PostgreSQL does not do this
/// (see the postgres module); the domain code relies only on serializability.
pub fn optimistic_range_reads_conflict_with_any_insert(engine: &dyn Engine) {
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

/// An error type [`run`] cannot look into.
#[derive(Debug)]
pub struct Opaque;

impl From<KvError> for Opaque {
    fn from(_: KvError) -> Opaque {
        Opaque
    }
}

/// A conflict that an engine reports on a read (PostgreSQL, once the transaction's own
/// write of a key another transaction changed is sent) makes [`run`] retry, whatever error
/// the body turned it into.
pub fn run_retries_a_conflict_found_by_a_read(engine: &dyn Engine) {
    put(engine, &[(b"n", &[0])]);
    let mut attempts = 0;
    let result: Result<u8, Opaque> = run(engine, |tx| {
        attempts += 1;
        let n = tx.get(b"n").map_err(|_| Opaque)?.unwrap()[0];
        if attempts == 1 {
            put(engine, &[(b"n", &[n + 10])]);
        }
        tx.set(b"n", &[n + 1]);
        tx.get(b"other").map_err(|_| Opaque)?;
        Ok(n + 1)
    });
    assert_eq!(result.unwrap(), 11);
    assert_eq!(attempts, 2);
    assert_eq!(engine.snapshot().get(b"n").unwrap(), Some(vec![11]));
}

/// For engines that several processes share: a guarded write races with transactions
/// that change the guard key (a new owner taking a conversation over: it bumps the epoch
/// and reads the history). However they interleave, each epoch's history is exactly what
/// its successor read when it took over: no stale owner's write lands after that.
pub fn guards_fence_a_concurrent_owner_change(engine: &dyn Engine) {
    const TAKEOVERS: u8 = 12;
    put(engine, &[(b"own", &[0])]);
    let (stopped, fenced, applied) = (AtomicBool::new(false), AtomicUsize::new(0), AtomicUsize::new(0));
    std::thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..TAKEOVERS {
                let result: Result<(), KvError> = run(engine, |tx| {
                    let epoch = tx.get(b"own")?.unwrap()[0];
                    let seen = tx.get_range(&[b'm', epoch], &[b'm', epoch + 1], RangeOptions::default())?.len();
                    tx.set(&[b's', epoch], &(seen as u32).to_be_bytes());
                    tx.set(b"own", &[epoch + 1]);
                    Ok(())
                });
                result.unwrap();
                std::thread::sleep(std::time::Duration::from_millis(3));
            }
            stopped.store(true, Ordering::Relaxed);
        });
        s.spawn(|| {
            let mut n = 0u32;
            while !stopped.load(Ordering::Relaxed) {
                let epoch = engine.snapshot().get(b"own").unwrap().unwrap()[0];
                let guard = Guard { key: b"own".to_vec(), value: Some(vec![epoch]) };
                // Goes on appending under the epoch it saw, which may be stale by now.
                for _ in 0..4 {
                    n += 1;
                    let writes = [Write::Set([&[b'm', epoch][..], &n.to_be_bytes()].concat(), vec![])];
                    let result = engine.write(&[Group { guard: Some(&guard), writes: &writes }]).unwrap();
                    let counter = if result[0] { &applied } else { &fenced };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    });
    let snap = engine.snapshot();
    for epoch in 0..TAKEOVERS {
        let seen = snap.get(&[b's', epoch]).unwrap().unwrap();
        let history = snap.get_range(&[b'm', epoch], &[b'm', epoch + 1], RangeOptions::default()).unwrap();
        assert_eq!(history.len() as u32, u32::from_be_bytes(seen.try_into().unwrap()), "epoch {epoch}");
    }
    let (applied, fenced) = (applied.into_inner(), fenced.into_inner());
    assert!(applied > 0, "some appends landed ({fenced} fenced)");
    eprintln!("guards_fence_a_concurrent_owner_change: {applied} appends applied, {fenced} fenced");
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
fn fjall_optimistic_range_reads_conflict_with_any_insert() {
    with_fjall(optimistic_range_reads_conflict_with_any_insert);
}

#[test]
fn fjall_keys_order_bytewise() {
    with_fjall(keys_order_bytewise);
}

#[test]
fn fjall_run_retries_a_conflict_found_by_a_read() {
    with_fjall(run_retries_a_conflict_found_by_a_read);
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

// PostgreSQL: every generic test but the optimistic rule (see its doc).

#[test]
fn pg_point_reads_and_writes() {
    with_pg("pg_point_reads_and_writes", point_reads_and_writes);
}

#[test]
fn pg_ordered_ranges() {
    with_pg("pg_ordered_ranges", ordered_ranges);
}

#[test]
fn pg_keys_order_bytewise() {
    with_pg("pg_keys_order_bytewise", keys_order_bytewise);
}

#[test]
fn pg_conflicting_read_modify_write() {
    with_pg("pg_conflicting_read_modify_write", conflicting_read_modify_write);
}

#[test]
fn pg_range_reads_conflict_with_inserts() {
    with_pg("pg_range_reads_conflict_with_inserts", range_reads_conflict_with_inserts);
}

#[test]
fn pg_blind_writes_do_not_conflict() {
    with_pg("pg_blind_writes_do_not_conflict", blind_writes_do_not_conflict);
}

#[test]
fn pg_run_retries_until_it_commits() {
    with_pg("pg_run_retries_until_it_commits", run_retries_until_it_commits);
}

#[test]
fn pg_run_retries_a_conflict_found_by_a_read() {
    with_pg("pg_run_retries_a_conflict_found_by_a_read", run_retries_a_conflict_found_by_a_read);
}

#[test]
fn pg_plain_writes_apply_together() {
    with_pg("pg_plain_writes_apply_together", plain_writes_apply_together);
}

#[test]
fn pg_guarded_groups_apply_only_if_their_guard_holds() {
    with_pg("pg_guarded_groups_apply_only_if_their_guard_holds", guarded_groups_apply_only_if_their_guard_holds);
}

#[test]
fn pg_guards_fence_a_concurrent_owner_change() {
    with_pg("pg_guards_fence_a_concurrent_owner_change", guards_fence_a_concurrent_owner_change);
}

/// Data outlives the engine; a lost connection fails one call with an engine error (not
/// fatal) and the next call reconnects.
#[test]
fn pg_data_survives_reopen_and_lost_connections() {
    let Ok(admin) = std::env::var("XINSHI_TEST_POSTGRES_URL") else {
        return with_pg("pg_data_survives_reopen_and_lost_connections", |_| {});
    };
    let url = create_test_database(&admin).unwrap();
    {
        let engine = PgEngine::open(&url, 2).unwrap();
        put(&engine, &[(b"kept", b"yes")]);
        write_all(&engine, &[Write::Set(b"plain".to_vec(), b"yes".to_vec())]).unwrap();
    }
    let engine = PgEngine::open(&url, 2).unwrap();
    assert_eq!(engine.snapshot().get(b"kept").unwrap(), Some(b"yes".to_vec()));
    assert_eq!(engine.snapshot().get(b"plain").unwrap(), Some(b"yes".to_vec()));
    let mut tx = engine.begin(true).unwrap();
    assert_eq!(tx.get(b"kept").unwrap(), Some(b"yes".to_vec()));
    postgres::terminate_connections(&admin, &url).unwrap();
    let lost = tx.get(b"kept");
    assert!(matches!(lost, Err(KvError::Engine(_))), "{lost:?}");
    tx.set(b"lost", b"yes");
    assert!(matches!(tx.commit(), Err(KvError::Engine(_))));
    // A connection closed while idle is noticed and replaced without an error.
    assert_eq!(engine.snapshot().get(b"kept").unwrap(), Some(b"yes".to_vec()), "reconnected");
    postgres::terminate_connections(&admin, &url).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert_eq!(engine.snapshot().get(b"kept").unwrap(), Some(b"yes".to_vec()), "reconnected");
    assert_eq!(engine.snapshot().get(b"lost").unwrap(), None);
    write_all(&engine, &[Write::Set(b"after".to_vec(), b"yes".to_vec())]).unwrap();
    drop(engine);
    drop_test_database(&admin, &url).unwrap();
}

#[test]
fn pg_a_bad_url_fails_clearly() {
    let err = PgEngine::open("postgres://nobody@127.0.0.1:1/none", 1).err().unwrap().to_string();
    assert!(err.contains("cannot connect to PostgreSQL at 127.0.0.1 port 1 database none"), "{err}");
    let err = PgEngine::open("", 1).err().unwrap().to_string();
    assert!(err.contains("storage.postgres_url is empty"), "{err}");
}

/// Several processes starting at once on a new database (the nodes of a cluster) all open
/// it: PostgreSQL's `CREATE TABLE IF NOT EXISTS` fails for all but one of them when they
/// race, and the others try again.
#[test]
fn pg_engines_opened_at_once_on_a_new_database_all_open() {
    let Some(admin) = postgres_admin("pg_engines_opened_at_once_on_a_new_database_all_open") else { return };
    for _ in 0..3 {
        let url = create_test_database(&admin).unwrap();
        let opened: Vec<Result<(), String>> = std::thread::scope(|scope| {
            let opening: Vec<_> =
                (0..8).map(|_| scope.spawn(|| PgEngine::open(&url, 1).map(drop).map_err(|e| e.to_string()))).collect();
            opening.into_iter().map(|o| o.join().unwrap()).collect()
        });
        assert!(opened.iter().all(Result::is_ok), "{opened:?}");
        drop_test_database(&admin, &url).unwrap();
    }
}

#[test]
fn pg_big_batches_apply_every_group() {
    with_pg("pg_big_batches_apply_every_group", big_batches_apply_every_group);
}

#[cfg(feature = "fdb")]
#[test]
fn fdb_keys_order_bytewise() {
    with_fdb("keys_order_bytewise", keys_order_bytewise);
}

#[cfg(feature = "fdb")]
#[test]
fn fdb_optimistic_range_reads_conflict_with_any_insert() {
    with_fdb("optimistic_range_reads_conflict_with_any_insert", optimistic_range_reads_conflict_with_any_insert);
}

#[cfg(feature = "fdb")]
#[test]
fn fdb_run_retries_a_conflict_found_by_a_read() {
    with_fdb("run_retries_a_conflict_found_by_a_read", run_retries_a_conflict_found_by_a_read);
}

#[cfg(feature = "fdb")]
#[test]
fn fdb_guards_fence_a_concurrent_owner_change() {
    with_fdb("guards_fence_a_concurrent_owner_change", guards_fence_a_concurrent_owner_change);
}

/// The embedded engine keeps guard values in memory: a later blind write of a guard key,
/// guarded or not, must be what the next guard is judged against.
#[test]
fn fjall_guard_values_follow_later_blind_writes() {
    with_fjall(|engine| {
        let key = b"own-x".to_vec();
        let at = |v: Option<&[u8]>| Guard { key: key.clone(), value: v.map(<[u8]>::to_vec) };
        let bump = [Write::Set(key.clone(), b"1".to_vec())];
        assert_eq!(engine.write(&[Group { guard: Some(&at(None)), writes: &bump }]).unwrap(), [true]);
        let nothing: [Write; 0] = [];
        assert_eq!(engine.write(&[Group { guard: Some(&at(Some(b"1"))), writes: &nothing }]).unwrap(), [true]);
        write_all(engine, &[Write::Clear(key.clone())]).unwrap();
        assert_eq!(engine.write(&[Group { guard: Some(&at(Some(b"1"))), writes: &nothing }]).unwrap(), [false]);
        write_all(engine, &[Write::Set(key.clone(), b"7".to_vec())]).unwrap();
        assert_eq!(engine.write(&[Group { guard: Some(&at(Some(b"7"))), writes: &nothing }]).unwrap(), [true]);
    });
}

/// A snapshot opened while every pooled connection is held (by other snapshots of the same
/// request, say) does not wait for one: it gets an extra connection at once.
#[test]
fn pg_a_snapshot_never_waits_for_the_pool() {
    with_pg("pg_a_snapshot_never_waits_for_the_pool", |engine| {
        put(engine, &[(b"k", b"v")]);
        let held: Vec<_> = (0..4)
            .map(|_| {
                let snapshot = engine.snapshot();
                assert_eq!(snapshot.get(b"k").unwrap(), Some(b"v".to_vec()));
                snapshot
            })
            .collect();
        let started = std::time::Instant::now();
        let extra = engine.snapshot();
        assert_eq!(extra.get(b"k").unwrap(), Some(b"v".to_vec()));
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "waited {:?}", started.elapsed());
        drop(held);
    });
}
