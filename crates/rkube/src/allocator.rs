//! The process's allocator: mimalloc, without transparent huge pages.
//!
//! glibc's malloc and free took about a third of a busy control plane's CPU; mimalloc
//! takes a small part of that. Left to itself, mimalloc asks the kernel for transparent
//! huge pages for its arenas, which kept 2 MiB pages resident where a few KiB were in use
//! (an idle server went from 41 to 57 MiB, a node agent with 100 pods from 35 to 56 MiB),
//! so huge pages are off unless `MIMALLOC_ALLOW_THP` says otherwise.

use std::ffi::{c_int, c_long};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_allow_thp` (its place in `mi_option_e` of the vendored v3).
const MI_OPTION_ALLOW_THP: c_int = 43;

#[allow(unsafe_code)]
unsafe extern "C" {
    fn mi_option_set(option: c_int, value: c_long);
}

/// Runs as an ELF constructor, before `main` and before Rust's runtime allocates, so the
/// option holds for mimalloc's first arena too.
extern "C" fn no_huge_pages() {
    // SAFETY: getenv reads the environment (no other thread runs yet) with a
    // NUL-terminated name; mi_option_set only stores a value in mimalloc's option table.
    #[allow(unsafe_code)]
    unsafe {
        if libc::getenv(c"MIMALLOC_ALLOW_THP".as_ptr()).is_null() {
            mi_option_set(MI_OPTION_ALLOW_THP, 0);
        }
    }
}

#[allow(unsafe_code)]
#[used]
#[unsafe(link_section = ".init_array")]
static NO_HUGE_PAGES: extern "C" fn() = no_huge_pages;
