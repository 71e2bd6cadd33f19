// files.c exercises WASI file I/O: creating, writing, seeking, reading back,
// appending, renaming and deleting files through both stdio and POSIX calls,
// and (with a second argument "-stdin") reading all of stdin. The output file
// path is argv[1] (default "out.txt"); its directory must be preopened. Used
// to test that host calls behave the same after pause/resume.
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint32_t fnv(uint32_t h, const void *p, size_t n) {
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

static void die(const char *what, const char *path) {
	printf("error: %s %s: %s\n", what, path, strerror(errno));
	exit(1);
}

int main(int argc, char **argv) {
	const char *path = argc > 1 ? argv[1] : "out.txt";
	int want_stdin = argc > 2 && strcmp(argv[2], "-stdin") == 0;

	// stdio: write 200 numbered lines.
	FILE *f = fopen(path, "w");
	if (!f)
		die("fopen w", path);
	for (int i = 0; i < 200; i++)
		fprintf(f, "line %03d: %08x\n", i, (unsigned)(i * 2654435761u));
	if (fclose(f) != 0)
		die("fclose", path);

	struct stat st;
	if (stat(path, &st) != 0)
		die("stat", path);
	printf("size after write: %lld\n", (long long)st.st_size);

	// stdio: read back with seeks.
	f = fopen(path, "r");
	if (!f)
		die("fopen r", path);
	char line[64];
	if (fseek(f, 19L * 100, SEEK_SET) != 0)
		die("fseek", path);
	if (!fgets(line, sizeof line, f))
		die("fgets", path);
	printf("line at 1900: %s", line);
	fseek(f, -19L, SEEK_END);
	fgets(line, sizeof line, f);
	printf("last line: %s", line);
	fseek(f, -38L, SEEK_CUR);
	printf("ftell after SEEK_CUR: %ld\n", ftell(f));
	rewind(f);
	static char buf[8192];
	size_t n = fread(buf, 1, sizeof buf, f);
	printf("fread: %zu bytes, fnv=%08x, eof=%d\n", n, fnv(2166136261u, buf, n), feof(f) != 0);
	fclose(f);

	// POSIX: overwrite in the middle, append, pread-style reads with lseek.
	int fd = open(path, O_RDWR);
	if (fd < 0)
		die("open", path);
	if (lseek(fd, 5, SEEK_SET) != 5)
		die("lseek", path);
	if (write(fd, "XYZ", 3) != 3)
		die("write", path);
	off_t end = lseek(fd, 0, SEEK_END);
	const char tail[] = "appended tail\n";
	if (write(fd, tail, sizeof tail - 1) != (ssize_t)(sizeof tail - 1))
		die("write tail", path);
	printf("end before append: %lld, after: %lld\n", (long long)end, (long long)lseek(fd, 0, SEEK_CUR));
	uint32_t h = 2166136261u;
	for (off_t off = 0;; off += 1000) {
		char chunk[1000];
		if (lseek(fd, off, SEEK_SET) != off)
			die("lseek chunk", path);
		ssize_t r = read(fd, chunk, sizeof chunk);
		if (r < 0)
			die("read", path);
		if (r == 0)
			break;
		h = fnv(h, chunk, (size_t)r);
	}
	printf("chunked fnv: %08x\n", h);
	lseek(fd, 0, SEEK_SET);
	char head[20] = {0};
	read(fd, head, 19);
	printf("head: %s", head);
	close(fd);

	// Append mode, then rename to a second file and back, then remove it.
	f = fopen(path, "a");
	fputs("one more line\n", f);
	fclose(f);
	char other[512];
	snprintf(other, sizeof other, "%s.tmp", path);
	if (rename(path, other) != 0)
		die("rename", path);
	printf("stat old after rename: %d, new: %d\n", stat(path, &st) == 0, stat(other, &st) == 0);
	printf("renamed size: %lld\n", (long long)st.st_size);
	if (rename(other, path) != 0)
		die("rename back", other);
	FILE *g = fopen(other, "w");
	fputs("scratch\n", g);
	fclose(g);
	if (unlink(other) != 0)
		die("unlink", other);
	errno = 0;
	printf("open removed file: %s\n", fopen(other, "r") == NULL && errno == ENOENT ? "ENOENT" : "unexpected");

	if (want_stdin) {
		uint32_t sh = 2166136261u;
		size_t total = 0, lines = 0;
		size_t r;
		while ((r = fread(buf, 1, sizeof buf, stdin)) > 0) {
			sh = fnv(sh, buf, r);
			total += r;
			for (size_t i = 0; i < r; i++)
				lines += buf[i] == '\n';
		}
		printf("stdin: %zu bytes, %zu lines, fnv=%08x\n", total, lines, sh);
	}
	return 0;
}
