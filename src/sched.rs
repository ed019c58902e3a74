//! Points where a handle's work on a shared store can be paused: the steps
//! of owning (`lease`), writing, syncing and giving ownership up. In a
//! build for this crate's unit tests a thread can install a hook that runs
//! at each point (a deterministic scheduler that pauses handles there and
//! moves an injected clock, see `log::fence_tests`); elsewhere a point is
//! nothing at all.

#[cfg(not(test))]
#[inline(always)]
pub(crate) fn point(_name: &'static str) {}

#[cfg(test)]
pub(crate) use hooks::{clock_ns, install, point};

#[cfg(test)]
mod hooks {
    use std::cell::RefCell;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    type Hook = Box<dyn Fn(&'static str)>;

    thread_local! {
        static HOOK: RefCell<Option<Hook>> = const { RefCell::new(None) };
        static CLOCK: RefCell<Option<Arc<AtomicU64>>> = const { RefCell::new(None) };
    }

    /// Run `hook` at every point this thread reaches, and read the time
    /// (ns since the epoch) from `clock`.
    pub(crate) fn install(hook: impl Fn(&'static str) + 'static, clock: Arc<AtomicU64>) {
        HOOK.with(|h| *h.borrow_mut() = Some(Box::new(hook)));
        CLOCK.with(|c| *c.borrow_mut() = Some(clock));
    }

    pub(crate) fn point(name: &'static str) {
        HOOK.with(|h| {
            if let Some(hook) = h.borrow().as_ref() {
                hook(name);
            }
        });
    }

    /// The injected time, if this thread has a clock.
    pub(crate) fn clock_ns() -> Option<u64> {
        CLOCK.with(|c| c.borrow().as_ref().map(|c| c.load(Ordering::SeqCst)))
    }
}
