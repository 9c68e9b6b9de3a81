//! A backstop against panics inside tantivy on a damaged index.
//!
//! tantivy trusts its files: some damaged bytes of a document store make it panic (index out of
//! bounds) instead of returning an error. [`catch`] runs such a read, turning a panic into an
//! error without the panic message on stderr: the first call installs a panic hook that stays
//! quiet while the current thread is inside `catch` and hands every other panic to the hook that
//! was installed before (so the rest of the program reports panics as before).

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// True while the current thread runs inside [`catch`].
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

static INSTALL: Once = Once::new();

/// Runs `f`, returning the message of its panic as an error instead of unwinding (and without
/// printing it).
pub(crate) fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
    let outer = QUIET.with(|q| q.replace(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(outer));
    result.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without message".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_its_message_and_the_thread_goes_on() {
        assert_eq!(catch(|| 2 + 2), Ok(4));
        let v: Vec<u8> = Vec::new();
        let err = catch(|| v[3]).unwrap_err();
        assert!(err.contains("index out of bounds"), "{err}");
        assert_eq!(
            catch(|| panic!("{}", "formatted")),
            Err::<(), _>("formatted".into())
        );
        assert!(!QUIET.with(Cell::get), "quiet only inside catch");
    }
}
