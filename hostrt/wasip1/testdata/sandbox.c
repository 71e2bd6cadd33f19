// sandbox.c tries to reach files outside its mounts with raw WASI calls
// (wasi-libc would refuse some paths before calling the host) and prints
// the errno of each attempt, one "name: errno" line each. fd 3 is a
// writable mount holding the links TestSandbox makes; fd 4 is a read-only
// mount.
#include <stdio.h>
#include <string.h>
#include <wasi/api.h>

#define DIR 3
#define RO 4
#define FOLLOW __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW

static void report(const char *name, __wasi_errno_t e) { printf("%s: %d\n", name, e); }

// open_at opens path under dir, closing what it opened, and returns the errno.
static __wasi_errno_t open_at(__wasi_fd_t dir, const char *path, __wasi_oflags_t oflags, __wasi_rights_t rights) {
	__wasi_fd_t fd;
	__wasi_errno_t e = __wasi_path_open(dir, FOLLOW, path, oflags, rights, 0, 0, &fd);
	if (e == 0)
		__wasi_fd_close(fd);
	return e;
}

int main(void) {
	const __wasi_rights_t r = __WASI_RIGHTS_FD_READ, w = __WASI_RIGHTS_FD_WRITE;
	__wasi_filestat_t st;

	report("open ../outside/secret.txt", open_at(DIR, "../outside/secret.txt", 0, r));
	report("open /etc/passwd", open_at(DIR, "/etc/passwd", 0, r));
	report("open etc/passwd", open_at(DIR, "etc/passwd", 0, r));
	report("open etc", open_at(DIR, "etc", __WASI_OFLAGS_DIRECTORY, r));
	report("open hostfile", open_at(DIR, "hostfile", 0, r));
	report("open up/secret.txt", open_at(DIR, "up/secret.txt", 0, r));
	report("create up/new.txt", open_at(DIR, "up/new.txt", __WASI_OFLAGS_CREAT, w));
	report("truncate up/secret.txt", open_at(DIR, "up/secret.txt", __WASI_OFLAGS_TRUNC, w));
	report("truncate hostfile", open_at(DIR, "hostfile", __WASI_OFLAGS_TRUNC, w));
	report("stat up/secret.txt", __wasi_path_filestat_get(DIR, FOLLOW, "up/secret.txt", &st));
	report("stat etc/passwd", __wasi_path_filestat_get(DIR, FOLLOW, "etc/passwd", &st));
	report("stat ../outside", __wasi_path_filestat_get(DIR, FOLLOW, "../outside", &st));
	report("mkdir up/newdir", __wasi_path_create_directory(DIR, "up/newdir"));
	report("unlink up/secret.txt", __wasi_path_unlink_file(DIR, "up/secret.txt"));
	report("rename inside.txt up/moved.txt", __wasi_path_rename(DIR, "inside.txt", DIR, "up/moved.txt"));
	report("rename up/secret.txt stolen.txt", __wasi_path_rename(DIR, "up/secret.txt", DIR, "stolen.txt"));
	report("link up/secret.txt linked.txt", __wasi_path_link(DIR, 0, "up/secret.txt", DIR, "linked.txt"));
	report("settimes up/secret.txt", __wasi_path_filestat_set_times(DIR, FOLLOW, "up/secret.txt", 0, 0,
		__WASI_FSTFLAGS_ATIM | __WASI_FSTFLAGS_MTIM));
	report("symlink /etc/passwd", __wasi_path_symlink("/etc/passwd", DIR, "abslink"));
	report("symlink ../outside/secret.txt", __wasi_path_symlink("../outside/secret.txt", DIR, "rellink"));
	report("open rellink", open_at(DIR, "rellink", 0, r));

	char target[64] = {0};
	__wasi_size_t n;
	report("readlink etc", __wasi_path_readlink(DIR, "etc", (uint8_t *)target, sizeof target - 1, &n));
	printf("etc links to %s\n", target);

	__wasi_fd_t sub;
	report("open sub", __wasi_path_open(DIR, FOLLOW, "sub", __WASI_OFLAGS_DIRECTORY, r, 0, 0, &sub));
	report("open sub/../../outside/secret.txt", open_at(sub, "../../outside/secret.txt", 0, r));
	report("open sub/../inside.txt", open_at(sub, "../inside.txt", 0, r));

	__wasi_fd_t in;
	report("open inside.txt", __wasi_path_open(DIR, FOLLOW, "inside.txt", 0, r, 0, 0, &in));
	char buf[16] = {0};
	__wasi_iovec_t iov = {(uint8_t *)buf, sizeof buf - 1};
	report("read inside.txt", __wasi_fd_read(in, &iov, 1, &n));
	printf("inside.txt holds %s\n", buf);

	report("ro: open ro.txt for writing", open_at(RO, "ro.txt", 0, w));
	report("ro: create new.txt", open_at(RO, "new.txt", __WASI_OFLAGS_CREAT, r));
	report("ro: open ro.txt", open_at(RO, "ro.txt", 0, r));
	report("ro: mkdir d", __wasi_path_create_directory(RO, "d"));
	report("ro: unlink ro.txt", __wasi_path_unlink_file(RO, "ro.txt"));
	report("ro: rename ro.txt", __wasi_path_rename(RO, "ro.txt", RO, "moved.txt"));
	report("ro: rename across mounts", __wasi_path_rename(DIR, "inside.txt", RO, "moved.txt"));

	// Reduced rights stay reduced: through "..", through a renumbered
	// descriptor, and against raising them again.
	__wasi_fdstat_t fst;
	__wasi_fd_fdstat_get(sub, &fst);
	report("drop sub's right to open files for writing",
		__wasi_fd_fdstat_set_rights(sub, fst.fs_rights_base, fst.fs_rights_inheriting & ~w));
	__wasi_path_open(DIR, FOLLOW, "inside.txt", 0, r, 0, 0, &in);
	report("renumber sub over an open file", __wasi_fd_renumber(sub, in));
	sub = in;
	report("restricted sub: create new.txt", open_at(sub, "new.txt", __WASI_OFLAGS_CREAT, w));
	report("restricted sub: open ../inside.txt for writing", open_at(sub, "../inside.txt", 0, w));
	report("restricted sub: raise its rights", __wasi_fd_fdstat_set_rights(sub, fst.fs_rights_base, fst.fs_rights_inheriting));
	// A subdirectory renumbered over the mount's descriptor is a
	// capability for the subdirectory only.
	report("renumber sub over the mount", __wasi_fd_renumber(sub, DIR));
	report("mount is sub: open ../inside.txt", open_at(DIR, "../inside.txt", 0, r));
	report("mount is sub: open ../../outside/secret.txt", open_at(DIR, "../../outside/secret.txt", 0, r));
	report("mount is sub: open ../up/secret.txt", open_at(DIR, "../up/secret.txt", 0, r));
	return 0;
}
