// preview1.rs is preview1.c's counterpart through Rust's standard library,
// built with Debian's rustc for wasm32-wasi (preview1): where std takes
// its own way to the WASI calls preview1.c makes directly, it shows what
// a Rust program sees. One line per operation, "what: ok" or "what: errno
// N" (std reports the WASI errno as the raw OS error). It pauses between
// steps, as preview1.c does, so that snapshots fall between them.
//
// It needs an empty writable directory preopened at /work.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::wasi::io::AsRawFd;
use std::time::Duration;

// What stable std does not offer: rights, renumbering, symbolic links.
#[link(wasm_import_module = "wasi_snapshot_preview1")]
extern "C" {
    fn path_symlink(old: *const u8, old_len: usize, fd: u32, new: *const u8, new_len: usize) -> u16;
    fn fd_fdstat_set_rights(fd: u32, base: u64, inheriting: u64) -> u16;
    fn fd_renumber(from: u32, to: u32) -> u16;
}

// The rights r.txt keeps: all those fd_fdstat_get reports for a file but
// fd_write.
const KEPT_RIGHTS: u64 = FD_DATASYNC | FD_READ | FD_SEEK | FD_FDSTAT_SET_FLAGS | FD_SYNC | FD_TELL
    | FD_ADVISE | FD_ALLOCATE | FD_FILESTAT_GET | FD_FILESTAT_SET_SIZE | FD_FILESTAT_SET_TIMES | POLL_FD_READWRITE;
const FD_DATASYNC: u64 = 1 << 0;
const FD_READ: u64 = 1 << 1;
const FD_SEEK: u64 = 1 << 2;
const FD_FDSTAT_SET_FLAGS: u64 = 1 << 3;
const FD_SYNC: u64 = 1 << 4;
const FD_TELL: u64 = 1 << 5;
const FD_ADVISE: u64 = 1 << 7;
const FD_ALLOCATE: u64 = 1 << 8;
const FD_FILESTAT_GET: u64 = 1 << 21;
const FD_FILESTAT_SET_SIZE: u64 = 1 << 22;
const FD_FILESTAT_SET_TIMES: u64 = 1 << 23;
const POLL_FD_READWRITE: u64 = 1 << 27;

fn report<T>(what: &str, r: io::Result<T>) -> Option<T> {
    match r {
        Ok(v) => {
            println!("{what}: ok");
            Some(v)
        }
        Err(e) => {
            match e.raw_os_error() {
                Some(n) => println!("{what}: errno {n}"),
                None => println!("{what}: {e}"),
            }
            None
        }
    }
}

fn errno(what: &str, e: u16) {
    report(what, if e == 0 { Ok(()) } else { Err(io::Error::from_raw_os_error(e.into())) });
}

// pause_a_little waits 6 ms, longer than the tests' snapshot interval.
fn pause_a_little() {
    std::thread::sleep(Duration::from_millis(6));
}

fn main() {
    // A long link target: std sizes its buffer from the link's stat and
    // grows it while path_readlink fills it.
    // It leads nowhere: linking it does not follow it.
    let target = ["a", "b", "c"].map(|c| c.repeat(100)).join("/");
    // fd 3 is the preopen at /work.
    errno("symlink", unsafe { path_symlink(target.as_ptr(), target.len(), 3, "long".as_ptr(), 4) });
    if let Some(p) = report("read_link", fs::read_link("/work/long")) {
        println!("read_link gave {} bytes", p.as_os_str().len());
    }
    // std links without following (flags 0), which wasmtime allows.
    report("hard_link", fs::hard_link("/work/long", "/work/long2"));
    pause_a_little();

    fs::create_dir("/work/d1").unwrap();
    fs::write("/work/d1/f", "f").unwrap();
    fs::create_dir("/work/d2").unwrap();
    report("rename a directory over an empty one", fs::rename("/work/d1", "/work/d2"));
    report("read d2/f", fs::read_to_string("/work/d2/f")).map(|s| println!("d2/f holds {s}"));
    pause_a_little();

    let mut dir = File::open("/work/d2").unwrap();
    let mut buf = [0u8; 4];
    report("read a directory", dir.read(&mut buf));
    report("seek a directory", dir.seek(SeekFrom::Start(0)));
    report("sync_all a directory", dir.sync_all());
    report("set_len a directory", dir.set_len(0));
    pause_a_little();

    let mut f = OpenOptions::new().read(true).write(true).create(true).open("/work/r.txt").unwrap();
    report("write", f.write_all(b"before"));
    errno("drop fd_write", unsafe { fd_fdstat_set_rights(f.as_raw_fd() as u32, KEPT_RIGHTS, 0) });
    pause_a_little();
    report("write without fd_write", f.write_all(b"after"));
    report("set_len", f.set_len(1));
    report("metadata", f.metadata()).map(|m| println!("r.txt has {} bytes", m.len()));

    // The file moves over another descriptor, and keeps what it dropped.
    let g = File::create("/work/g.txt").unwrap();
    errno("renumber r.txt over g.txt", unsafe { fd_renumber(f.as_raw_fd() as u32, g.as_raw_fd() as u32) });
    std::mem::forget(f);
    pause_a_little();
    let mut g = g;
    report("write through the new number", g.write_all(b"again"));
    let mut s = String::new();
    g.seek(SeekFrom::Start(0)).unwrap();
    report("read through the new number", g.read_to_string(&mut s));
    println!("r.txt holds {s}");
    pause_a_little();
}
