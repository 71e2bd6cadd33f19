package wasip1

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// TestFunctions checks the errno and the effect of the WASI functions,
// one call (after some set-up) per case, on a fresh system with a
// writable mount at "/" (fd 3) holding f.txt ("hello"), the directory d
// with e.txt, and the link l to f.txt, and a read-only mount at "/ro"
// (fd 4).
func TestFunctions(t *testing.T) {
	const root, ro = 3, 4
	str := func(p *proxy, ptr uint64, s string) []uint64 {
		p.write(uint32(ptr), []byte(s))
		return []uint64{ptr, uint64(len(s))}
	}
	args := func(a ...any) []uint64 {
		var out []uint64
		for _, v := range a {
			switch v := v.(type) {
			case int:
				out = append(out, uint64(v))
			case uint64:
				out = append(out, v)
			case uint32:
				out = append(out, uint64(v))
			case uint16:
				out = append(out, uint64(v))
			case []uint64:
				out = append(out, v...)
			}
		}
		return out
	}
	const path2 = memPath + 0x100
	size := func(t *testing.T, dir, name string) int64 {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	sub := func(tag byte, fd uint32, userdata uint64) []byte {
		s := make([]byte, sizeSubscription)
		le.PutUint64(s, userdata)
		s[8] = tag
		le.PutUint32(s[16:], fd)
		return s
	}
	mustOpen := func(t *testing.T, p *proxy, name string, oflags, fdflags uint16, rights uint64) uint32 {
		fd, e := p.open(root, name, oflags, fdflags, rights)
		if e != errnoSuccess {
			t.Fatalf("open %s: errno %d", name, e)
		}
		return fd
	}

	tests := []struct {
		name string
		// call makes the call under test (after any set-up) and returns
		// its errno.
		call func(t *testing.T, p *proxy) errno
		want errno
		// check, if set, looks at the effect; dir is the writable mount.
		check func(t *testing.T, p *proxy, dir string)
	}{
		{name: "fd_advise bad fd", call: func(t *testing.T, p *proxy) errno { return p.call("fd_advise", 99, 0, 0, 0) }, want: errnoBadf},
		{name: "fd_advise bad advice", call: func(t *testing.T, p *proxy) errno { return p.call("fd_advise", 1, 0, 0, 6) }, want: errnoInval},
		{name: "fd_advise", call: func(t *testing.T, p *proxy) errno { return p.call("fd_advise", 1, 0, 0, 5) }},
		{
			name: "fd_allocate grows",
			call: func(t *testing.T, p *proxy) errno {
				return p.call("fd_allocate", uint64(mustOpen(t, p, "f.txt", 0, 0, rightFdWrite)), 4, 96)
			},
			check: func(t *testing.T, p *proxy, dir string) {
				if s := size(t, dir, "f.txt"); s != 100 {
					t.Errorf("size %d, want 100", s)
				}
			},
		},
		{name: "fd_allocate directory", call: func(t *testing.T, p *proxy) errno { return p.call("fd_allocate", root, 0, 1) }, want: errnoIsdir},
		{name: "fd_allocate stdout", call: func(t *testing.T, p *proxy) errno { return p.call("fd_allocate", 1, 0, 1) }, want: errnoSpipe},
		{
			name: "fd_filestat_set_size",
			call: func(t *testing.T, p *proxy) errno {
				return p.call("fd_filestat_set_size", uint64(mustOpen(t, p, "f.txt", 0, 0, rightFdWrite)), 2)
			},
			check: func(t *testing.T, p *proxy, dir string) {
				if s := size(t, dir, "f.txt"); s != 2 {
					t.Errorf("size %d, want 2", s)
				}
			},
		},
		{
			name: "fd_filestat_set_size negative",
			call: func(t *testing.T, p *proxy) errno {
				return p.call("fd_filestat_set_size", uint64(mustOpen(t, p, "f.txt", 0, 0, rightFdWrite)), uint64(1<<63))
			},
			want: errnoInval,
		},
		{
			name: "fd_filestat_set_times",
			call: func(t *testing.T, p *proxy) errno {
				fd := mustOpen(t, p, "f.txt", 0, 0, rightFdRead)
				return p.call("fd_filestat_set_times", uint64(fd), 0, uint64(time.Unix(1e9, 5).UnixNano()), uint64(fstflagMtim))
			},
			check: func(t *testing.T, p *proxy, dir string) {
				fi, _ := os.Stat(filepath.Join(dir, "f.txt"))
				if !fi.ModTime().Equal(time.Unix(1e9, 5)) {
					t.Errorf("mtime %v", fi.ModTime())
				}
			},
		},
		{
			name: "fd_filestat_set_times time and now",
			call: func(t *testing.T, p *proxy) errno {
				return p.call("fd_filestat_set_times", root, 0, 0, uint64(fstflagAtim|fstflagAtimNow))
			},
			want: errnoInval,
		},
		{
			name: "path_filestat_set_times now",
			call: func(t *testing.T, p *proxy) errno {
				return p.call("path_filestat_set_times", args(root, lookupSymlinkFollow, str(p, memPath, "d/e.txt"), 0, 0, fstflagMtimNow)...)
			},
			check: func(t *testing.T, p *proxy, dir string) {
				fi, _ := os.Stat(filepath.Join(dir, "d", "e.txt"))
				if want := time.Unix(0, p.w.clock.Walltime()); !fi.ModTime().Equal(want) {
					t.Errorf("mtime %v, want the guest's clock %v", fi.ModTime(), want)
				}
			},
		},
		{
			name: "path_filestat_set_times on a read-only mount",
			call: func(t *testing.T, p *proxy) errno {
				return p.call("path_filestat_set_times", args(ro, lookupSymlinkFollow, str(p, memPath, "."), 0, 0, fstflagMtimNow)...)
			},
			want: errnoRofs,
		},
		{name: "fd_seek bad whence", call: func(t *testing.T, p *proxy) errno { _, e := p.seek(mustOpen(t, p, "f.txt", 0, 0, 0), 0, 3); return e }, want: errnoInval},
		{name: "fd_seek negative", call: func(t *testing.T, p *proxy) errno { _, e := p.seek(mustOpen(t, p, "f.txt", 0, 0, 0), -1, 0); return e }, want: errnoInval},
		{name: "fd_seek directory", call: func(t *testing.T, p *proxy) errno { _, e := p.seek(root, 0, 0); return e }, want: errnoIsdir},
		{name: "fd_seek stdout", call: func(t *testing.T, p *proxy) errno { _, e := p.seek(1, 0, 0); return e }, want: errnoSpipe},
		{
			name: "fd_seek from the end",
			call: func(t *testing.T, p *proxy) errno {
				off, e := p.seek(mustOpen(t, p, "f.txt", 0, 0, 0), -2, 2)
				if off != 3 {
					t.Errorf("offset %d, want 3", off)
				}
				return e
			},
		},
		{name: "fd_read stdout", call: func(t *testing.T, p *proxy) errno { _, e := p.readFD(1, 1); return e }, want: errnoBadf},
		{name: "fd_read directory", call: func(t *testing.T, p *proxy) errno { _, e := p.readFD(root, 1); return e }, want: errnoIsdir},
		{name: "fd_write stdin", call: func(t *testing.T, p *proxy) errno { return p.writeFD(0, []byte("x")) }, want: errnoBadf},
		{name: "fd_write read-only file", call: func(t *testing.T, p *proxy) errno {
			return p.writeFD(mustOpen(t, p, "f.txt", 0, 0, rightFdRead), []byte("x"))
		}, want: errnoBadf},
		{
			name: "fd_read iovecs",
			call: func(t *testing.T, p *proxy) errno {
				fd := mustOpen(t, p, "f.txt", 0, 0, rightFdRead)
				vec := le.AppendUint32(le.AppendUint32(nil, memBuf), 2)
				vec = le.AppendUint32(le.AppendUint32(vec, memBuf+10), 0)
				vec = le.AppendUint32(le.AppendUint32(vec, memBuf+20), 10)
				p.write(memIovec, vec)
				e := p.call("fd_read", uint64(fd), memIovec, 3, memResult)
				if n := p.u32(memResult); n != 5 || string(p.read(memBuf, 2))+string(p.read(memBuf+20, 3)) != "hello" {
					t.Errorf("read %d bytes: %q %q", n, p.read(memBuf, 2), p.read(memBuf+20, 3))
				}
				return e
			},
		},
		{
			name: "fd_read iovecs out of memory",
			call: func(t *testing.T, p *proxy) errno {
				p.write(memIovec, le.AppendUint32(le.AppendUint32(nil, 1<<30), 10))
				return p.call("fd_read", uint64(mustOpen(t, p, "f.txt", 0, 0, rightFdRead)), memIovec, 1, memResult)
			},
			want: errnoFault,
		},
		{
			name: "fd_write with its second iovec out of memory writes nothing",
			call: func(t *testing.T, p *proxy) errno {
				fd := mustOpen(t, p, "f.txt", 0, 0, rightFdWrite)
				p.write(memBuf, []byte("J"))
				vec := le.AppendUint32(le.AppendUint32(nil, memBuf), 1)
				p.write(memIovec, le.AppendUint32(le.AppendUint32(vec, 1<<30), 1))
				return p.call("fd_write", uint64(fd), memIovec, 2, memResult)
			},
			want: errnoFault,
			check: func(t *testing.T, p *proxy, dir string) {
				if data, _ := os.ReadFile(filepath.Join(dir, "f.txt")); string(data) != "hello" {
					t.Errorf("file holds %q, want it unchanged", data)
				}
			},
		},
		{
			name: "fd_pread and fd_pwrite keep the offset",
			call: func(t *testing.T, p *proxy) errno {
				fd := mustOpen(t, p, "f.txt", 0, 0, rightFdRead|rightFdWrite)
				p.write(memBuf, []byte("J"))
				p.write(memIovec, le.AppendUint32(le.AppendUint32(nil, memBuf), 1))
				if e := p.call("fd_pwrite", uint64(fd), memIovec, 1, 0, memResult); e != errnoSuccess {
					return e
				}
				p.write(memIovec, le.AppendUint32(le.AppendUint32(nil, memBuf), 3))
				e := p.call("fd_pread", uint64(fd), memIovec, 1, 2, memResult)
				if got := p.read(memBuf, p.u32(memResult)); string(got) != "llo" {
					t.Errorf("pread %q", got)
				}
				if off, _ := p.seek(fd, 0, 1); off != 0 {
					t.Errorf("offset %d", off)
				}
				return e
			},
			check: func(t *testing.T, p *proxy, dir string) {
				if data, _ := os.ReadFile(filepath.Join(dir, "f.txt")); string(data) != "Jello" {
					t.Errorf("file holds %q", data)
				}
			},
		},
		{
			name: "append flag set later",
			call: func(t *testing.T, p *proxy) errno {
				fd := mustOpen(t, p, "f.txt", 0, 0, rightFdWrite)
				if e := p.call("fd_fdstat_set_flags", uint64(fd), uint64(fdflagAppend)); e != errnoSuccess {
					return e
				}
				return p.writeFD(fd, []byte("!"))
			},
			check: func(t *testing.T, p *proxy, dir string) {
				if data, _ := os.ReadFile(filepath.Join(dir, "f.txt")); string(data) != "hello!" {
					t.Errorf("file holds %q", data)
				}
			},
		},
		{name: "fd_fdstat_set_flags sync", call: func(t *testing.T, p *proxy) errno { return p.call("fd_fdstat_set_flags", 1, uint64(fdflagSync)) }, want: errnoInval},
		{
			name: "fd_fdstat_get of a write-only file",
			call: func(t *testing.T, p *proxy) errno {
				e := p.call("fd_fdstat_get", uint64(mustOpen(t, p, "f.txt", 0, 0, rightFdWrite)), memResult)
				st := p.read(memResult, sizeFdstat)
				if st[0] != filetypeRegularFile || le.Uint64(st[8:])&rightFdRead != 0 || le.Uint64(st[8:])&rightFdWrite == 0 {
					t.Errorf("fdstat %x", st)
				}
				return e
			},
		},
		{name: "fd_close twice", call: func(t *testing.T, p *proxy) errno {
			fd := mustOpen(t, p, "f.txt", 0, 0, 0)
			p.call("fd_close", uint64(fd))
			return p.call("fd_close", uint64(fd))
		}, want: errnoBadf},
		{name: "fd_renumber a preopen", call: func(t *testing.T, p *proxy) errno { return p.call("fd_renumber", root, 20) }, want: errnoNotsup},
		{name: "fd_renumber onto a preopen", call: func(t *testing.T, p *proxy) errno { return p.call("fd_renumber", 1, root) }, want: errnoNotsup},
		{name: "fd_renumber too far", call: func(t *testing.T, p *proxy) errno { return p.call("fd_renumber", 1, maxFDs) }, want: errnoBadf},
		{
			name: "fd_renumber",
			call: func(t *testing.T, p *proxy) errno {
				return p.call("fd_renumber", uint64(mustOpen(t, p, "f.txt", 0, 0, rightFdRead)), 1)
			},
			check: func(t *testing.T, p *proxy, dir string) {
				if got, e := p.readFD(1, 5); string(got) != "hello" {
					t.Errorf("fd 1 reads %q, errno %d", got, e)
				}
			},
		},
		{name: "fd_prestat_get of a file", call: func(t *testing.T, p *proxy) errno { return p.call("fd_prestat_get", 1, memResult) }, want: errnoBadf},
		{name: "fd_prestat_dir_name too long", call: func(t *testing.T, p *proxy) errno { return p.call("fd_prestat_dir_name", ro, memBuf, 4) }, want: errnoNametoolong},
		{name: "fd_readdir small buffer", call: func(t *testing.T, p *proxy) errno { return p.call("fd_readdir", root, memBuf, 23, 0, memResult) }, want: errnoInval},
		{name: "fd_readdir unknown cookie", call: func(t *testing.T, p *proxy) errno { _, _, e := p.readdir(root, 3, 100); return e }, want: errnoNoent},
		{name: "fd_readdir of a file", call: func(t *testing.T, p *proxy) errno {
			_, _, e := p.readdir(mustOpen(t, p, "f.txt", 0, 0, 0), 0, 100)
			return e
		}, want: errnoBadf},
		{
			name: "fd_readdir cut entries",
			call: func(t *testing.T, p *proxy) errno {
				d := mustOpen(t, p, "d", oflagDirectory, 0, 0)
				const size = sizeDirent + 1 + sizeDirent + 2 + 2 // ".", ".." and a cut header
				names, _, e := p.readdir(d, 0, size)
				if e == errnoSuccess && (strings.Join(names, " ") != ". .." || p.u32(memResult) != size) {
					t.Errorf("got %v, %d bytes", names, p.u32(memResult))
				}
				names, _, _ = p.readdir(d, 2, 100)
				if strings.Join(names, " ") != "e.txt" {
					t.Errorf("then %v", names)
				}
				return e
			},
		},
		{name: "path_open O_DIRECTORY of a file", call: func(t *testing.T, p *proxy) errno { _, e := p.open(root, "f.txt", oflagDirectory, 0, 0); return e }, want: errnoNotdir},
		{name: "path_open O_CREAT|O_DIRECTORY", call: func(t *testing.T, p *proxy) errno {
			_, e := p.open(root, "x", oflagDirectory|oflagCreat, 0, 0)
			return e
		}, want: errnoInval},
		{name: "path_open O_EXCL of an existing file", call: func(t *testing.T, p *proxy) errno {
			_, e := p.open(root, "f.txt", oflagCreat|oflagExcl, 0, 0)
			return e
		}, want: errnoExist},
		{name: "path_open empty path", call: func(t *testing.T, p *proxy) errno { _, e := p.open(root, "", 0, 0, 0); return e }, want: errnoInval},
		{name: "path_open a missing file", call: func(t *testing.T, p *proxy) errno { _, e := p.open(root, "nope", 0, 0, 0); return e }, want: errnoNoent},
		{name: "path_open under a file", call: func(t *testing.T, p *proxy) errno { _, e := p.open(1, "f.txt", 0, 0, 0); return e }, want: errnoNotdir},
		{name: "path_open a file with a slash", call: func(t *testing.T, p *proxy) errno { _, e := p.open(root, "f.txt/", 0, 0, 0); return e }, want: errnoNotdir},
		{name: "path_open a link without following", call: func(t *testing.T, p *proxy) errno {
			return p.call("path_open", args(root, 0, str(p, memPath, "l"), 0, rightFdRead, 0, 0, memResult)...)
		}, want: errnoLoop},
		{name: "path_open relative to a directory", call: func(t *testing.T, p *proxy) errno {
			d := mustOpen(t, p, "d", oflagDirectory, 0, 0)
			_, e := p.open(d, "../d/e.txt", 0, 0, rightFdRead)
			return e
		}},
		{
			name: "path_filestat_get of a link",
			call: func(t *testing.T, p *proxy) errno {
				e := p.call("path_filestat_get", args(root, 0, str(p, memPath, "l"), memBuf)...)
				if typ := p.read(memBuf, sizeFilestat)[16]; typ != filetypeSymbolicLink {
					t.Errorf("type %d", typ)
				}
				p.call("path_filestat_get", args(root, lookupSymlinkFollow, str(p, memPath, "l"), memBuf)...)
				if st := p.read(memBuf, sizeFilestat); st[16] != filetypeRegularFile || le.Uint64(st[32:]) != 5 {
					t.Errorf("followed: %x", st)
				}
				return e
			},
		},
		{
			name: "path_readlink",
			call: func(t *testing.T, p *proxy) errno {
				e := p.call("path_readlink", args(root, str(p, memPath, "l"), memBuf, 100, memResult)...)
				if got := p.read(memBuf, p.u32(memResult)); string(got) != "f.txt" {
					t.Errorf("link %q", got)
				}
				return e
			},
		},
		{name: "path_readlink small buffer", call: func(t *testing.T, p *proxy) errno {
			return p.call("path_readlink", args(root, str(p, memPath, "l"), memBuf, 4, memResult)...)
		}, want: errnoRange},
		{name: "path_readlink of a file", call: func(t *testing.T, p *proxy) errno {
			return p.call("path_readlink", args(root, str(p, memPath, "f.txt"), memBuf, 100, memResult)...)
		}, want: errnoInval},
		{
			name: "path_symlink",
			call: func(t *testing.T, p *proxy) errno {
				return p.call("path_symlink", args(str(p, memPath, "d/e.txt"), root, str(p, path2, "l2"))...)
			},
			check: func(t *testing.T, p *proxy, dir string) {
				if target, err := os.Readlink(filepath.Join(dir, "l2")); target != "d/e.txt" {
					t.Errorf("link to %q (%v)", target, err)
				}
			},
		},
		{name: "path_create_directory existing", call: func(t *testing.T, p *proxy) errno {
			return p.call("path_create_directory", args(root, str(p, memPath, "d"))...)
		}, want: errnoExist},
		{name: "path_create_directory read-only", call: func(t *testing.T, p *proxy) errno {
			return p.call("path_create_directory", args(ro, str(p, memPath, "x"))...)
		}, want: errnoRofs},
		{name: "path_unlink_file of a directory", call: func(t *testing.T, p *proxy) errno {
			return p.call("path_unlink_file", args(root, str(p, memPath, "d"))...)
		}, want: errnoIsdir},
		{name: "path_remove_directory of a file", call: func(t *testing.T, p *proxy) errno {
			return p.call("path_remove_directory", args(root, str(p, memPath, "f.txt"))...)
		}, want: errnoNotdir},
		{name: "path_remove_directory not empty", call: func(t *testing.T, p *proxy) errno {
			return p.call("path_remove_directory", args(root, str(p, memPath, "d"))...)
		}, want: errnoNotempty},
		{
			name: "path_unlink_file of a link",
			call: func(t *testing.T, p *proxy) errno {
				return p.call("path_unlink_file", args(root, str(p, memPath, "l"))...)
			},
			check: func(t *testing.T, p *proxy, dir string) {
				if names := strings.Join(dirNames(t, dir), " "); names != "d f.txt" {
					t.Errorf("left %s", names)
				}
			},
		},
		{
			name: "path_link",
			call: func(t *testing.T, p *proxy) errno {
				return p.call("path_link", args(root, 0, str(p, memPath, "f.txt"), root, str(p, path2, "d/hard"))...)
			},
			check: func(t *testing.T, p *proxy, dir string) {
				if data, _ := os.ReadFile(filepath.Join(dir, "d", "hard")); string(data) != "hello" {
					t.Errorf("link holds %q", data)
				}
			},
		},
		{name: "path_link across mounts", call: func(t *testing.T, p *proxy) errno {
			return p.call("path_link", args(root, 0, str(p, memPath, "f.txt"), ro, str(p, path2, "x"))...)
		}, want: errnoXdev},
		{
			name: "path_rename a directory with an open file",
			call: func(t *testing.T, p *proxy) errno {
				mustOpen(t, p, "d/e.txt", 0, 0, rightFdRead)
				return p.call("path_rename", args(root, str(p, memPath, "d"), root, str(p, path2, "d2"))...)
			},
			check: func(t *testing.T, p *proxy, dir string) {
				st, err := p.w.Save(SaveOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if fd := st.FDs[len(st.FDs)-1]; fd.Path != "d2/e.txt" {
					t.Errorf("the open file's path is %q", fd.Path)
				}
			},
		},
		{
			name: "args_get and environ_get",
			call: func(t *testing.T, p *proxy) errno {
				e := p.call("args_get", memResult, memBuf)
				if got := p.read(memBuf, 9); string(got) != "prog\x00-v\x00\x00" || p.u32(memResult+4) != memBuf+5 {
					t.Errorf("args %q, argv[1] at %#x", got, p.u32(memResult+4))
				}
				p.call("environ_get", memResult, memBuf)
				if got := p.read(memBuf, 4); string(got) != "A=1\x00" {
					t.Errorf("env %q", got)
				}
				return e
			},
		},
		{name: "args_get out of memory", call: func(t *testing.T, p *proxy) errno { return p.call("args_get", memResult, 1<<30) }, want: errnoFault},
		{
			name: "random_get",
			call: func(t *testing.T, p *proxy) errno {
				e := p.call("random_get", memBuf, 4)
				if got := p.read(memBuf, 5); string(got) != "rand\x00" {
					t.Errorf("random %q", got)
				}
				return e
			},
		},
		{name: "random_get out of memory", call: func(t *testing.T, p *proxy) errno { return p.call("random_get", 1<<30, 4) }, want: errnoFault},
		{name: "clock_res_get cputime", call: func(t *testing.T, p *proxy) errno { return p.call("clock_res_get", 2, memResult) }, want: errnoInval},
		{name: "clock_time_get realtime", call: func(t *testing.T, p *proxy) errno {
			e := p.call("clock_time_get", uint64(clockRealtime), 0, memResult)
			if got := int64(p.u64(memResult)); got != p.w.clock.Walltime() {
				t.Errorf("realtime %d", got)
			}
			return e
		}},
		{name: "poll_oneoff nothing", call: func(t *testing.T, p *proxy) errno { return p.call("poll_oneoff", memBuf, memBuf+0x100, 0, memResult) }, want: errnoInval},
		{name: "poll_oneoff bad tag", call: func(t *testing.T, p *proxy) errno {
			p.write(memBuf, sub(7, 1, 0))
			return p.call("poll_oneoff", memBuf, memBuf+0x100, 1, memResult)
		}, want: errnoInval},
		{
			name: "poll_oneoff ready files",
			call: func(t *testing.T, p *proxy) errno {
				p.write(memBuf, append(append(sub(eventtypeFdWrite, 1, 1), sub(eventtypeFdRead, 99, 2)...), sub(eventtypeFdRead, 0, 3)...))
				e := p.call("poll_oneoff", memBuf, memBuf+0x100, 3, memResult)
				if n := p.u32(memResult); n != 3 {
					t.Fatalf("%d events", n)
				}
				for i, want := range []struct {
					errno  errno
					nbytes uint64
				}{{errnoSuccess, 0}, {errnoBadf, 0}, {errnoSuccess, 2}} {
					ev := p.read(memBuf+0x100+uint32(i)*sizeEvent, sizeEvent)
					if le.Uint64(ev) != uint64(i+1) || errno(le.Uint16(ev[8:])) != want.errno || le.Uint64(ev[16:]) != want.nbytes {
						t.Errorf("event %d: %x", i, ev)
					}
				}
				return e
			},
		},
		{
			name: "poll_oneoff absolute time in the past",
			call: func(t *testing.T, p *proxy) errno {
				s := sub(eventtypeClock, clockMonotonic, 9)
				le.PutUint16(s[40:], subclockAbstime)
				p.write(memBuf, s)
				e := p.call("poll_oneoff", memBuf, memBuf+0x100, 1, memResult)
				if n := p.u32(memResult); n != 1 {
					t.Errorf("%d events", n)
				}
				return e
			},
		},
		{name: "sock_accept closed fd", call: func(t *testing.T, p *proxy) errno { return p.call("sock_accept", 99, 0, memResult) }, want: errnoBadf},
		{name: "sock_recv", call: func(t *testing.T, p *proxy) errno { return p.call("sock_recv", 0, 0, 0, 0, 0, 0) }, want: errnoNotsock},
		{name: "sock_send", call: func(t *testing.T, p *proxy) errno { return p.call("sock_send", 1, 0, 0, 0, 0) }, want: errnoNotsock},
		{name: "sock_shutdown", call: func(t *testing.T, p *proxy) errno { return p.call("sock_shutdown", root, 0) }, want: errnoNotsock},
		{name: "proc_raise", call: func(t *testing.T, p *proxy) errno { return p.call("proc_raise", 1) }, want: errnoNosys},
		{name: "fd_fdstat_set_rights", call: func(t *testing.T, p *proxy) errno { return p.call("fd_fdstat_set_rights", 1, 0, 0) }, want: errnoNosys},
		{name: "fd_sync", call: func(t *testing.T, p *proxy) errno {
			return p.call("fd_sync", uint64(mustOpen(t, p, "f.txt", 0, 0, rightFdWrite)))
		}},
		{name: "fd_datasync stdout", call: func(t *testing.T, p *proxy) errno { return p.call("fd_datasync", 1) }},
		{name: "sched_yield", call: func(t *testing.T, p *proxy) errno { return p.call("sched_yield") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{"f.txt": "hello", "d/e.txt": "e"})
			if err := os.Symlink("f.txt", filepath.Join(dir, "l")); err != nil {
				t.Fatal(err)
			}
			w := mustNew(t, Config{
				Args: []string{"prog", "-v", ""}, Env: []string{"A=1"}, Stdin: strings.NewReader("in"),
				Mounts: []Mount{{HostDir: dir, GuestPath: "/"}, {HostDir: t.TempDir(), GuestPath: "/ro", ReadOnly: true}},
				Rand:   strings.NewReader("rand"), Clock: newManualClock(int64(time.Hour)),
			}, nil)
			for avail, _ := w.stdin.status(); avail < 2; avail, _ = w.stdin.status() {
				time.Sleep(time.Millisecond)
			}
			p := newProxy(t, w)
			if got := tc.call(t, p); got != tc.want {
				t.Errorf("errno %d, want %d", got, tc.want)
			}
			if tc.check != nil {
				tc.check(t, p, dir)
			}
		})
	}
}

// TestProcExit checks that proc_exit closes the module with the code and
// ends the call with wazero's exit error.
func TestProcExit(t *testing.T) {
	p := newProxy(t, mustNew(t, Config{}, nil))
	_, err := p.mod.ExportedFunction("w.proc_exit").Call(context.Background(), 7)
	if err == nil || !strings.Contains(err.Error(), "exit_code(7)") {
		t.Fatalf("error %v, want exit code 7", err)
	}
	if !p.mod.IsClosed() {
		t.Error("the module is still open")
	}
}

// TestStdio checks what the guest sees of standard streams that are files.
func TestStdio(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stderr bytes.Buffer
	p := newProxy(t, mustNew(t, Config{Stdout: f, Stderr: &stderr}, nil))
	tests := []struct {
		fd   uint32
		want uint8
	}{{0, filetypeBlockDevice}, {1, filetypeRegularFile}, {2, filetypeBlockDevice}}
	for _, tc := range tests {
		if e := p.call("fd_filestat_get", uint64(tc.fd), memResult); e != errnoSuccess {
			t.Fatalf("fd_filestat_get(%d): errno %d", tc.fd, e)
		}
		if typ := p.read(memResult, sizeFilestat)[16]; typ != tc.want {
			t.Errorf("fd %d has type %d, want %d", tc.fd, typ, tc.want)
		}
	}
	p.writeFD(1, []byte("to the file"))
	p.writeFD(2, []byte("to the buffer"))
	if data, _ := os.ReadFile(f.Name()); string(data) != "to the file" || stderr.String() != "to the buffer" {
		t.Errorf("stdout file %q, stderr %q", data, stderr.String())
	}
}

// TestExports requires the host module to export the 46 preview1
// functions with the signatures wazero's has.
func TestExports(t *testing.T) {
	ctx := context.Background()
	ours := newProxy(t, mustNew(t, Config{}, nil)).rt.Module(ModuleName)
	rt := newRuntime(ctx, false)
	defer rt.Close(ctx)
	theirs, err := wasi_snapshot_preview1.Instantiate(ctx, rt)
	if err != nil {
		t.Fatal(err)
	}
	got, want := ours.ExportedFunctionDefinitions(), theirs.(api.Module).ExportedFunctionDefinitions()
	if len(got) != 46 || len(want) != 46 {
		t.Errorf("%d functions, wazero has %d; want 46", len(got), len(want))
	}
	for name, w := range want {
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("%s is missing", name)
		case !bytes.Equal(g.ParamTypes(), w.ParamTypes()) || !bytes.Equal(g.ResultTypes(), w.ResultTypes()):
			t.Errorf("%s: params %v results %v, want %v %v", name, g.ParamTypes(), g.ResultTypes(), w.ParamTypes(), w.ResultTypes())
		}
	}
}

// TestSystemClock checks the default clock: the wall clock is the host's,
// the monotonic clock does not go back, and a poll until a past time of
// the wall clock returns at once.
func TestSystemClock(t *testing.T) {
	p := newProxy(t, mustNew(t, Config{}, nil))
	clock := func(id uint32) uint64 {
		if e := p.call("clock_time_get", uint64(id), 1, memResult); e != errnoSuccess {
			t.Fatalf("clock_time_get(%d): errno %d", id, e)
		}
		return p.u64(memResult)
	}
	before := time.Now()
	wall := time.Unix(0, int64(clock(clockRealtime)))
	if wall.Before(before.Add(-time.Second)) || wall.After(time.Now().Add(time.Second)) {
		t.Errorf("wall clock %v, host %v", wall, before)
	}
	if m1, m2 := clock(clockMonotonic), clock(clockMonotonic); m2 < m1 {
		t.Errorf("monotonic went back from %d to %d", m1, m2)
	}
	s := make([]byte, sizeSubscription)
	s[8] = eventtypeClock
	le.PutUint32(s[16:], clockRealtime)
	le.PutUint64(s[24:], uint64(before.UnixNano()))
	le.PutUint16(s[40:], subclockAbstime)
	p.write(memBuf, s)
	if e := p.call("poll_oneoff", memBuf, memBuf+0x100, 1, memResult); e != errnoSuccess || p.u32(memResult) != 1 {
		t.Errorf("poll until a past time: errno %d, %d events", e, p.u32(memResult))
	}
	for _, tc := range []struct {
		id   uint32
		want uint64
	}{{clockRealtime, uint64(time.Microsecond)}, {clockMonotonic, 1}} {
		if e := p.call("clock_res_get", uint64(tc.id), memResult); e != errnoSuccess || p.u64(memResult) != tc.want {
			t.Errorf("clock_res_get(%d): errno %d, %d", tc.id, e, p.u64(memResult))
		}
	}
}
