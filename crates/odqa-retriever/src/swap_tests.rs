use super::*;
use crate::layout::META_FILE;
use crate::{build_index, BuildOptions, BuildSummary, CancelToken, Retriever};
use odqa_testkit::dir_names as names;

fn opts() -> BuildOptions {
    BuildOptions {
        threads: 1,
        memory_budget: 20 << 20,
        ..BuildOptions::default()
    }
}

/// Builds an index of one passage with `text` at `dir`.
fn build(parent: &Path, dir: &Path, text: &str) -> BuildSummary {
    let name = dir.file_name().unwrap().to_string_lossy();
    let corpus = parent.join(format!("{name}.jsonl"));
    std::fs::write(&corpus, format!("{{\"id\":\"a\",\"text\":\"{text}\"}}\n")).unwrap();
    build_index(&[corpus], dir, &opts(), &CancelToken::new()).unwrap()
}

/// The id of a process that has exited.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

/// An old index at `idx` and a new one at `.idx.built`, with their `odqa-index.json`.
fn two_indexes(tmp: &Path) -> (PathBuf, PathBuf, Vec<u8>, Vec<u8>) {
    let dir = tmp.join("idx");
    let built = tmp.join(".idx.built");
    build(tmp, &dir, "old apple");
    build(tmp, &built, "new banana");
    let old_meta = std::fs::read(dir.join(META_FILE)).unwrap();
    let new_meta = std::fs::read(built.join(META_FILE)).unwrap();
    (dir, built, old_meta, new_meta)
}

/// A `kill -9` at any point of the swap leaves an index at the destination: the old one, then the
/// new one, never nothing (before: the old index was renamed away, then the new one renamed in).
#[test]
fn replacing_an_index_leaves_an_index_at_dir_at_every_step() {
    let tmp = odqa_testkit::temp_dir();
    let (dir, built, old_meta, new_meta) = two_indexes(tmp.path());
    let mut seen = Vec::new();
    swap_observed(&built, &dir, true, &mut |step| {
        seen.push((step, std::fs::read(dir.join(META_FILE)).ok()));
        true
    })
    .unwrap();
    let steps: Vec<SwapStep> = seen.iter().map(|(step, _)| *step).collect();
    assert_eq!(
        steps,
        [SwapStep::MovedNewIn, SwapStep::RemovedOld],
        "one exchange"
    );
    for (step, meta) in &seen {
        assert!(
            meta.as_ref() == Some(&old_meta) || meta.as_ref() == Some(&new_meta),
            "no index at {} after {step:?}",
            dir.display()
        );
    }
    assert_eq!(std::fs::read(dir.join(META_FILE)).unwrap(), new_meta);
    let hits = Retriever::open(&dir).unwrap().search("banana", 1).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(names(tmp.path()), [".idx.built.jsonl", "idx", "idx.jsonl"]);
}

/// Without the exchange (file systems that lack it) the swap takes two renames; a process
/// killed between them leaves the old index at `idx.old-PID`, which opening `idx` points to and
/// the next build puts back. Uninterrupted, the two renames leave nothing behind.
#[test]
fn without_exchange_a_kill_between_the_renames_is_recovered() {
    let tmp = odqa_testkit::temp_dir();
    let (dir, built, old_meta, new_meta) = two_indexes(tmp.path());
    swap_observed(&built, &dir, false, &mut |step| {
        step != SwapStep::MovedOldAside
    })
    .unwrap();
    assert!(!dir.exists());
    // The process is gone: its id in the name is a dead one.
    let aside = tmp.path().join(format!("idx.old-{}", dead_pid()));
    std::fs::rename(
        tmp.path().join(format!("idx.old-{}", std::process::id())),
        &aside,
    )
    .unwrap();
    let err = Retriever::open(&dir).err().unwrap().to_string();
    assert!(err.contains(&aside.display().to_string()), "{err}");
    let notes = clean_leftovers(&dir).unwrap();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].starts_with("restored"), "{notes:?}");
    assert_eq!(std::fs::read(dir.join(META_FILE)).unwrap(), old_meta);

    let mut steps = Vec::new();
    swap_observed(&built, &dir, false, &mut |step| {
        steps.push(step);
        true
    })
    .unwrap();
    let expected = [
        SwapStep::MovedOldAside,
        SwapStep::MovedNewIn,
        SwapStep::RemovedOld,
    ];
    assert_eq!(steps, expected);
    assert_eq!(std::fs::read(dir.join(META_FILE)).unwrap(), new_meta);
    assert_eq!(names(tmp.path()), [".idx.built.jsonl", "idx", "idx.jsonl"]);
}

/// The hidden folders a killed build leaves behind (a build in progress, or a previous index not
/// yet removed) are removed by the next build when their process is gone, with a line in its
/// summary; those of a live process, locked by a process elsewhere, or not named by odqa with a
/// process id are left alone.
#[test]
fn a_build_removes_the_leftovers_of_a_killed_build() {
    let tmp = odqa_testkit::temp_dir();
    let dir = tmp.path().join("idx");
    build(tmp.path(), &dir, "apple");
    let dead = dead_pid();
    let stale_building = tmp.path().join(format!(".idx.building-{dead}-0"));
    let stale_old = tmp.path().join(format!("idx.old-{dead}"));
    let locked = tmp.path().join(format!(".idx.building-{dead}-1"));
    let live = tmp.path().join(".idx.building-1-0");
    let unknown = tmp.path().join(".idx.building-Xy12Zq");
    for leftover in [&stale_building, &stale_old, &locked, &live, &unknown] {
        std::fs::create_dir(leftover).unwrap();
        std::fs::write(leftover.join("data"), vec![0u8; 1 << 20]).unwrap();
    }
    let _lock = lock_exclusive(&locked).unwrap();
    let summary = build(tmp.path(), &dir, "banana");
    assert!(
        !stale_building.exists(),
        "{} is left",
        stale_building.display()
    );
    assert!(!stale_old.exists(), "{} is left", stale_old.display());
    assert!(locked.exists() && live.exists() && unknown.exists());
    let cleaned = summary.cleaned.join("\n");
    assert_eq!(summary.cleaned.len(), 3, "{cleaned}");
    for (path, word) in [
        (&stale_building, "removed"),
        (&stale_old, "removed"),
        (&unknown, "left"),
    ] {
        let line = format!("{word} {}", path.display());
        assert!(cleaned.contains(&line), "{line:?} in {cleaned}");
    }
    let hits = Retriever::open(&dir).unwrap().search("banana", 1).unwrap();
    assert_eq!(hits.len(), 1);
}

/// Where a killed swap left no index at DIR but the previous one at `DIR.old-PID`, opening DIR
/// says where the index is, and the next build puts it back first (so a failing build keeps it).
#[test]
fn an_index_moved_aside_by_a_killed_swap_is_found_and_restored() {
    let tmp = odqa_testkit::temp_dir();
    let dir = tmp.path().join("idx");
    build(tmp.path(), &dir, "apple");
    let aside = tmp.path().join(format!("idx.old-{}", dead_pid()));
    std::fs::rename(&dir, &aside).unwrap();
    let err = Retriever::open(&dir).err().unwrap().to_string();
    assert!(err.contains(&aside.display().to_string()), "{err}");
    let bad = tmp.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"id\":\"a\",\n").unwrap();
    build_index(&[bad], &dir, &opts(), &CancelToken::new()).unwrap_err();
    assert!(!aside.exists(), "{} is left", aside.display());
    let hits = Retriever::open(&dir).unwrap().search("apple", 1).unwrap();
    assert_eq!(hits.len(), 1);
}

/// A failed build removes its own hidden directory; while it runs that directory is named with
/// this process's id, locked, and has a plain directory's mode.
#[test]
fn the_building_directory_is_named_locked_and_removed() {
    let tmp = odqa_testkit::temp_dir();
    let building = Building::create(tmp.path(), "idx").unwrap();
    let name = building
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let prefix = format!(".idx.building-{}-", std::process::id());
    assert!(name.starts_with(&prefix), "{name}");
    assert!(
        lock_exclusive(building.path()).is_err(),
        "locked by the build"
    );
    let path = building.path().to_path_buf();
    drop(building);
    assert!(!path.exists());
    assert!(names(tmp.path()).is_empty());
}
