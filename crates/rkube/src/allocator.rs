//! The process's allocator: mimalloc, without transparent huge pages.
//!
//! glibc's malloc and free took about a third of a busy control plane's CPU; mimalloc
//! takes a small part of that. Left to itself, mimalloc asks the kernel for transparent
//! huge pages for its arenas, which kept 2 MiB pages resident where a few KiB were in use
//! (an idle server went from 41 to 57 MiB, a node agent with 100 pods from 35 to 56 MiB),
//! so huge pages are off unless `MIMALLOC_ALLOW_THP` says otherwise.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_allow_thp` (its place in `mi_option_e` of the vendored v3; the
/// Rust bindings do not name it).
const MI_OPTION_ALLOW_THP: libmimalloc_sys::mi_option_t = 43;

/// Runs as an ELF constructor, before `main` and before Rust's runtime allocates, so the
/// default holds for mimalloc's first arena too. Only the default changes: mimalloc still
/// reads `MIMALLOC_ALLOW_THP` from the environment when it initializes its options.
extern "C" fn no_huge_pages() {
    // SAFETY: only stores a default in mimalloc's option table (no other thread runs yet).
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_option_set_default(MI_OPTION_ALLOW_THP, 0);
    }
}

#[allow(unsafe_code)]
#[used]
#[unsafe(link_section = ".init_array")]
static NO_HUGE_PAGES: extern "C" fn() = no_huge_pages;
