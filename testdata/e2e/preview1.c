// preview1.c is a guest of hostrt/wasip1's and cmd/wasmsr's tests: it calls
// WASI preview1 directly (not through libc, which would translate or hide
// the errnos) where implementations disagree, and prints one line per
// call, "what: errno". The expected output (preview1.stdout) is what
// wasmtime answers; RATIONALE.md says where wasmsr goes another way.
//
// Between steps it waits a few milliseconds, so that a run with
// `--snapshot-every 5ms` is snapshotted (and, with --stop-after-snapshot,
// resumed) between the call that leaves some state (dropped rights,
// renumbered descriptors) and the calls that depend on it.
//
// It needs an empty writable directory preopened as its only mount.
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <wasi/api.h>

static const char *name(__wasi_errno_t e) {
	switch (e) {
	case __WASI_ERRNO_SUCCESS: return "ok";
	case __WASI_ERRNO_BADF: return "EBADF";
	case __WASI_ERRNO_EXIST: return "EEXIST";
	case __WASI_ERRNO_INVAL: return "EINVAL";
	case __WASI_ERRNO_ISDIR: return "EISDIR";
	case __WASI_ERRNO_LOOP: return "ELOOP";
	case __WASI_ERRNO_NAMETOOLONG: return "ENAMETOOLONG";
	case __WASI_ERRNO_NOENT: return "ENOENT";
	case __WASI_ERRNO_NOSYS: return "ENOSYS";
	case __WASI_ERRNO_NOTDIR: return "ENOTDIR";
	case __WASI_ERRNO_NOTEMPTY: return "ENOTEMPTY";
	case __WASI_ERRNO_NOTSOCK: return "ENOTSOCK";
	case __WASI_ERRNO_NOTSUP: return "ENOTSUP";
	case __WASI_ERRNO_PERM: return "EPERM";
	case __WASI_ERRNO_RANGE: return "ERANGE";
	case __WASI_ERRNO_SPIPE: return "ESPIPE";
	case __WASI_ERRNO_NOTCAPABLE: return "ENOTCAPABLE";
	}
	static char buf[16];
	snprintf(buf, sizeof buf, "errno %u", e);
	return buf;
}

static void report(const char *what, __wasi_errno_t e) {
	printf("%s: %s\n", what, name(e));
	fflush(stdout);
}

// pause_a_little sleeps 6 ms: longer than the snapshot interval of the
// tests.
static void pause_a_little(void) {
	__wasi_subscription_t sub = {.u.tag = __WASI_EVENTTYPE_CLOCK,
		.u.u.clock = {.id = __WASI_CLOCKID_MONOTONIC, .timeout = 6000000}};
	__wasi_event_t ev;
	__wasi_size_t n;
	(void)__wasi_poll_oneoff(&sub, &ev, 1, &n);
}

static __wasi_fd_t root = 3;

static __wasi_errno_t open_at(__wasi_fd_t dir, const char *path, __wasi_oflags_t oflags, __wasi_rights_t rights, __wasi_fd_t *fd) {
	return __wasi_path_open(dir, 0, path, oflags, rights, rights, 0, fd);
}

static __wasi_fd_t must_open(__wasi_fd_t dir, const char *path, __wasi_oflags_t oflags, __wasi_rights_t rights) {
	__wasi_fd_t fd = (__wasi_fd_t)-1;
	__wasi_errno_t e = open_at(dir, path, oflags, rights, &fd);
	if (e != 0) {
		printf("setup: open %s: %s\n", path, name(e));
		fflush(stdout);
	}
	return fd;
}

static void write_file(const char *path, const char *data) {
	__wasi_fd_t fd = must_open(root, path, __WASI_OFLAGS_CREAT | __WASI_OFLAGS_TRUNC, __WASI_RIGHTS_FD_WRITE);
	__wasi_ciovec_t iov = {(const uint8_t *)data, strlen(data)};
	__wasi_size_t n;
	(void)__wasi_fd_write(fd, &iov, 1, &n);
	(void)__wasi_fd_close(fd);
}

static __wasi_rights_t base_rights(__wasi_fd_t fd) {
	__wasi_fdstat_t st;
	if (__wasi_fd_fdstat_get(fd, &st) != 0)
		return 0;
	return st.fs_rights_base;
}

static void readlink_truncates(void) {
	(void)__wasi_path_symlink("target-name", root, "link");
	char buf[8] = "........";
	__wasi_size_t n = 99;
	report("readlink into 4 bytes", __wasi_path_readlink(root, "link", (uint8_t *)buf, 4, &n));
	printf("readlink gave %lu bytes: %.8s\n", (unsigned long)n, buf);
	report("readlink into 0 bytes", __wasi_path_readlink(root, "link", (uint8_t *)buf, 0, &n));
	printf("readlink gave %lu bytes\n", (unsigned long)n);
}

static void renumber(void) {
	__wasi_fd_t a = must_open(root, "a.txt", __WASI_OFLAGS_CREAT, __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_WRITE);
	__wasi_fd_t b = must_open(root, "b.txt", __WASI_OFLAGS_CREAT, __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_WRITE);
	report("renumber to an fd not open", __wasi_fd_renumber(a, 99));
	report("renumber to fd 65536", __wasi_fd_renumber(a, 65536));
	report("renumber from an fd not open", __wasi_fd_renumber(98, a));
	report("renumber an fd to itself", __wasi_fd_renumber(a, a));
	report("renumber over an open file", __wasi_fd_renumber(a, b));
	report("the old number is closed", __wasi_fd_close(a));
	pause_a_little();
	__wasi_ciovec_t iov = {(const uint8_t *)"A", 1};
	__wasi_size_t n;
	report("write through the new number", __wasi_fd_write(b, &iov, 1, &n));
	(void)__wasi_fd_close(b);

	// The preopen moves over another descriptor; its old number is free.
	__wasi_fd_t p = must_open(root, "b.txt", 0, __WASI_RIGHTS_FD_READ);
	__wasi_fd_t old_root = root;
	report("renumber the preopen over an open file", __wasi_fd_renumber(root, p));
	root = p;
	pause_a_little();
	__wasi_prestat_t pre;
	report("prestat of the preopen's new number", __wasi_fd_prestat_get(root, &pre));
	report("prestat of its old number", __wasi_fd_prestat_get(old_root, &pre));
	__wasi_filestat_t st;
	report("stat a.txt through the new number", __wasi_path_filestat_get(root, 0, "a.txt", &st));
	printf("a.txt has %llu bytes\n", (unsigned long long)st.size);

	// A directory renumbered over the preopen replaces it.
	(void)__wasi_path_create_directory(root, "d");
	write_file("d/inside.txt", "in d");
	__wasi_fd_t d = must_open(root, "d", __WASI_OFLAGS_DIRECTORY, 0);
	report("renumber a directory over the preopen", __wasi_fd_renumber(d, root));
	pause_a_little();
	report("the directory's old number is closed", __wasi_fd_close(d));
	report("stat inside.txt through the preopen's number", __wasi_path_filestat_get(root, 0, "inside.txt", &st));
	report("prestat of the replaced preopen", __wasi_fd_prestat_get(root, &pre));
	// Nothing names the mount's root any more but "..", which leaves it.
	report("stat ../a.txt", __wasi_path_filestat_get(root, 0, "../a.txt", &st));
}

static void link_follow(void) {
	(void)__wasi_path_symlink("nowhere", root, "dangling");
	report("link a dangling symlink, following it",
		__wasi_path_link(root, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, "dangling", root, "l1"));
	report("link a dangling symlink itself", __wasi_path_link(root, 0, "dangling", root, "l2"));
	__wasi_filestat_t st;
	(void)__wasi_path_filestat_get(root, 0, "l2", &st);
	printf("l2 is a symlink: %d\n", st.filetype == __WASI_FILETYPE_SYMBOLIC_LINK);
}

static void times_nofollow(void) {
	write_file("t.txt", "t");
	(void)__wasi_path_symlink("t.txt", root, "tl");
	const __wasi_timestamp_t when = 1000000000ull * 1000000000ull; // 2001
	report("set a symlink's own mtime",
		__wasi_path_filestat_set_times(root, 0, "tl", 0, when, __WASI_FSTFLAGS_MTIM));
	__wasi_filestat_t link, target;
	(void)__wasi_path_filestat_get(root, 0, "tl", &link);
	(void)__wasi_path_filestat_get(root, 0, "t.txt", &target);
	printf("the link's mtime is the one set: %d\n", link.mtim == when);
	printf("the target's mtime is not: %d\n", target.mtim != when);
}

static void rights(void) {
	write_file("r.txt", "rights");
	__wasi_fd_t f = must_open(root, "r.txt", 0, __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_WRITE);
	__wasi_rights_t base = base_rights(f);
	printf("r.txt may write: %d\n", (base & __WASI_RIGHTS_FD_WRITE) != 0);
	report("drop fd_write", __wasi_fd_fdstat_set_rights(f, base & ~__WASI_RIGHTS_FD_WRITE, 0));
	pause_a_little();
	printf("r.txt may write: %d\n", (base_rights(f) & __WASI_RIGHTS_FD_WRITE) != 0);
	__wasi_ciovec_t iov = {(const uint8_t *)"x", 1};
	__wasi_size_t n;
	report("write without fd_write", __wasi_fd_write(f, &iov, 1, &n));
	report("pwrite without fd_write", __wasi_fd_pwrite(f, &iov, 1, 0, &n));
	char buf[6];
	__wasi_iovec_t riov = {(uint8_t *)buf, sizeof buf};
	report("read with fd_read", __wasi_fd_read(f, &riov, 1, &n));
	report("raise fd_write again", __wasi_fd_fdstat_set_rights(f, base, 0));
	report("drop fd_seek", __wasi_fd_fdstat_set_rights(f, base & ~(__WASI_RIGHTS_FD_WRITE | __WASI_RIGHTS_FD_SEEK), 0));
	pause_a_little();
	__wasi_filesize_t pos;
	report("seek without fd_seek", __wasi_fd_seek(f, 0, __WASI_WHENCE_SET, &pos));
	report("tell with fd_tell", __wasi_fd_tell(f, &pos));
	report("inheriting rights on a file", __wasi_fd_fdstat_set_rights(f, 0, __WASI_RIGHTS_FD_READ));
	report("set_rights on an fd not open", __wasi_fd_fdstat_set_rights(77, 0, 0));
	(void)__wasi_fd_close(f);

	// A directory's inheriting rights bound what is opened through it.
	(void)__wasi_path_create_directory(root, "rd");
	__wasi_fd_t d = must_open(root, "rd", __WASI_OFLAGS_DIRECTORY, 0);
	__wasi_fdstat_t st;
	(void)__wasi_fd_fdstat_get(d, &st);
	report("drop fd_filestat_set_size from rd's inheriting rights and path_create_file from its own",
		__wasi_fd_fdstat_set_rights(d, st.fs_rights_base & ~__WASI_RIGHTS_PATH_CREATE_FILE,
			st.fs_rights_inheriting & ~__WASI_RIGHTS_FD_FILESTAT_SET_SIZE));
	pause_a_little();
	__wasi_fd_t g;
	report("create a file in rd", open_at(d, "new.txt", __WASI_OFLAGS_CREAT, __WASI_RIGHTS_FD_WRITE, &g));
	write_file("rd/g.txt", "truncate me");
	report("open rd/g.txt through rd", open_at(d, "g.txt", 0, __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_WRITE, &g));
	pause_a_little();
	printf("g.txt may set its size: %d\n", (base_rights(g) & __WASI_RIGHTS_FD_FILESTAT_SET_SIZE) != 0);
	report("truncate g.txt", __wasi_fd_filestat_set_size(g, 0));
	__wasi_fd_t sub;
	(void)__wasi_path_create_directory(root, "rd/sub");
	report("open rd/sub through rd", open_at(d, "sub", __WASI_OFLAGS_DIRECTORY, 0, &sub));
	(void)__wasi_fd_fdstat_get(sub, &st);
	printf("rd/sub passes on fd_filestat_set_size: %d\n", (st.fs_rights_inheriting & __WASI_RIGHTS_FD_FILESTAT_SET_SIZE) != 0);
	__wasi_filestat_t fst;
	(void)__wasi_fd_filestat_get(g, &fst);
	printf("g.txt has %llu bytes\n", (unsigned long long)fst.size);
	(void)__wasi_fd_close(g);
	(void)__wasi_fd_close(sub);
	(void)__wasi_fd_close(d);
}

static void prestat_name(void) {
	char buf[16];
	report("prestat_dir_name into 1 byte", __wasi_fd_prestat_dir_name(root, (uint8_t *)buf, 1));
	report("prestat_dir_name into 16 bytes", __wasi_fd_prestat_dir_name(root, (uint8_t *)buf, 16));
	__wasi_fd_t d = must_open(root, "rd", __WASI_OFLAGS_DIRECTORY, 0);
	report("prestat_dir_name of a directory", __wasi_fd_prestat_dir_name(d, (uint8_t *)buf, 16));
	(void)__wasi_fd_close(d);
}

static void directory_fds(void) {
	__wasi_fd_t d = must_open(root, "rd", __WASI_OFLAGS_DIRECTORY, 0);
	char buf[8];
	__wasi_iovec_t iov = {(uint8_t *)buf, sizeof buf};
	__wasi_ciovec_t ciov = {(const uint8_t *)buf, sizeof buf};
	__wasi_size_t n;
	__wasi_filesize_t pos;
	report("dir: fd_read", __wasi_fd_read(d, &iov, 1, &n));
	report("dir: fd_pread", __wasi_fd_pread(d, &iov, 1, 0, &n));
	report("dir: fd_write", __wasi_fd_write(d, &ciov, 1, &n));
	report("dir: fd_pwrite", __wasi_fd_pwrite(d, &ciov, 1, 0, &n));
	report("dir: fd_seek", __wasi_fd_seek(d, 0, __WASI_WHENCE_CUR, &pos));
	report("dir: fd_tell", __wasi_fd_tell(d, &pos));
	report("dir: fd_advise", __wasi_fd_advise(d, 0, 0, __WASI_ADVICE_DONTNEED));
	report("dir: fd_allocate", __wasi_fd_allocate(d, 0, 1));
	report("dir: fd_datasync", __wasi_fd_datasync(d));
	report("dir: fd_sync", __wasi_fd_sync(d));
	report("dir: fd_fdstat_set_flags", __wasi_fd_fdstat_set_flags(d, __WASI_FDFLAGS_NONBLOCK));
	report("dir: fd_filestat_set_size", __wasi_fd_filestat_set_size(d, 0));
	(void)__wasi_fd_close(d);
}

static void paths(void) {
	__wasi_fd_t fd;
	__wasi_filestat_t st;
	(void)__wasi_path_symlink("../..", root, "up");
	report("open ../x", open_at(root, "../x", 0, __WASI_RIGHTS_FD_READ, &fd));
	report("open rd/../../x", open_at(root, "rd/../../x", 0, __WASI_RIGHTS_FD_READ, &fd));
	report("open /etc/passwd", open_at(root, "/etc/passwd", 0, __WASI_RIGHTS_FD_READ, &fd));
	report("open up/etc/passwd", open_at(root, "up/etc/passwd", 0, __WASI_RIGHTS_FD_READ, &fd));
	report("stat up", __wasi_path_filestat_get(root, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, "up", &st));
	report("open r.txt/", open_at(root, "r.txt/", 0, __WASI_RIGHTS_FD_READ, &fd));
	report("stat r.txt/", __wasi_path_filestat_get(root, 0, "r.txt/", &st));
	report("unlink r.txt/", __wasi_path_unlink_file(root, "r.txt/"));
	report("mkdir r.txt/x", __wasi_path_create_directory(root, "r.txt/x"));
	__wasi_fd_t rd = must_open(root, "rd", __WASI_OFLAGS_DIRECTORY, 0);
	report("stat ../r.txt through rd", __wasi_path_filestat_get(rd, 0, "../r.txt", &st));
	report("stat sub/../g.txt through rd", __wasi_path_filestat_get(rd, 0, "sub/../g.txt", &st));
	(void)__wasi_fd_close(rd);
}

static void rename_over_empty_dir(void) {
	(void)__wasi_path_create_directory(root, "s1");
	write_file("s1/f", "f");
	(void)__wasi_path_create_directory(root, "s2");
	report("rename a directory over an empty one", __wasi_path_rename(root, "s1", root, "s2"));
	__wasi_filestat_t st;
	report("stat s1", __wasi_path_filestat_get(root, 0, "s1", &st));
	report("stat s2/f", __wasi_path_filestat_get(root, 0, "s2/f", &st));
	(void)__wasi_path_create_directory(root, "s3");
	report("rename a directory over a non-empty one", __wasi_path_rename(root, "s3", root, "s2"));
}

static void sockets(void) {
	report("sock_shutdown on stdout", __wasi_sock_shutdown(1, __WASI_SDFLAGS_WR));
	__wasi_fd_t f = must_open(root, "r.txt", 0, __WASI_RIGHTS_FD_READ);
	char buf[4];
	__wasi_iovec_t iov = {(uint8_t *)buf, sizeof buf};
	__wasi_size_t n;
	__wasi_roflags_t flags;
	report("sock_recv on a file", __wasi_sock_recv(f, &iov, 1, 0, &n, &flags));
	__wasi_fd_t accepted;
	report("sock_accept on a directory", __wasi_sock_accept(root, 0, &accepted));
	report("sock_shutdown on an fd not open", __wasi_sock_shutdown(77, __WASI_SDFLAGS_WR));
	(void)__wasi_fd_close(f);
}

int main(void) {
	readlink_truncates();
	pause_a_little();
	link_follow();
	pause_a_little();
	times_nofollow();
	pause_a_little();
	rights();
	pause_a_little();
	prestat_name();
	directory_fds();
	paths();
	pause_a_little();
	rename_over_empty_dir();
	sockets();
	pause_a_little();
	renumber(); // last: it moves the preopen
	return 0;
}
