package blob_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasmsr/wasmsr/hostrt/blob"
	"github.com/wasmsr/wasmsr/internal/s3test"
)

func TestMain(m *testing.M) { s3test.Main(m) }

// backend opens an empty store of one kind, and says what a missing
// object's error reads in it.
type backend struct {
	name string
	open func(t *testing.T) blob.Store
	// notExist is the error of op (Get or Stat) on a missing name.
	notExist func(s blob.Store, op, name string) string
}

var backends = []backend{
	{
		name: "dir",
		open: func(t *testing.T) blob.Store {
			d, err := blob.OpenDir(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return d
		},
		notExist: func(s blob.Store, op, name string) string {
			verb := map[string]string{"Get": "open", "Stat": "stat"}[op]
			return fmt.Sprintf("%s %s: no such file or directory", verb, filepath.Join(s.String(), name))
		},
	},
	{
		name: "s3",
		open: func(t *testing.T) blob.Store { return openS3(t, s3test.Start(t)) },
		notExist: func(s blob.Store, op, name string) string {
			if op == "Get" {
				return fmt.Sprintf("%s: GetObject %s: 404 NoSuchKey: The specified key does not exist.", s, name)
			}
			return fmt.Sprintf("%s: HeadObject %s: 404 NotFound", s, name)
		},
	},
}

func openS3(t *testing.T, location string) *blob.S3 {
	t.Helper()
	s, err := blob.Open(context.Background(), location)
	if err != nil {
		t.Fatal(err)
	}
	return s.(*blob.S3)
}

// TestConformance holds both backends to the Store contract.
func TestConformance(t *testing.T) {
	ctx := context.Background()
	big := make([]byte, 5<<20)
	for i := range big {
		big[i] = byte(rand.N(256))
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Run("round trip", func(t *testing.T) {
				s := b.open(t)
				for name, data := range map[string][]byte{
					"a":              []byte("one"),
					"m/chunks/ab-cd": []byte("nested\x00bytes"),
					"empty":          {},
					"big.bin":        big,
				} {
					put(t, s, name, data)
					got, err := s.Get(ctx, name)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, data) {
						t.Errorf("Get %s: %d bytes, want the %d put", name, len(got), len(data))
					}
					info, err := s.Stat(ctx, name)
					if err != nil {
						t.Fatal(err)
					}
					if info.Name != name || info.Size != int64(len(data)) {
						t.Errorf("Stat %s = %+v, want size %d", name, info, len(data))
					}
				}
			})
			t.Run("range", func(t *testing.T) {
				s := b.open(t)
				put(t, s, "r/big", big)
				for _, r := range []struct{ off, n int64 }{{0, 1}, {0, int64(len(big))}, {12345, 1 << 20}, {int64(len(big)) - 7, 7}, {99, 0}} {
					got, err := s.GetRange(ctx, "r/big", r.off, r.n)
					if err != nil {
						t.Fatalf("GetRange %d+%d: %v", r.off, r.n, err)
					}
					if !bytes.Equal(got, big[r.off:r.off+r.n]) {
						t.Errorf("GetRange %d+%d: %d bytes, not the object's", r.off, r.n, len(got))
					}
				}
				_, err := s.GetRange(ctx, "r/big", int64(len(big))-7, 8)
				if err == nil || !strings.Contains(err.Error(), "r/big") {
					t.Errorf("GetRange past the end: %v, want an error naming the object", err)
				}
				_, err = s.GetRange(ctx, "r/none", 0, 8)
				checkNotExist(t, err, b.notExist(s, "Get", "r/none"))
			})
			t.Run("overwrite", func(t *testing.T) {
				s := b.open(t)
				put(t, s, "x/y", []byte("the first, longer content"))
				put(t, s, "x/y", []byte("second"))
				if got, err := s.Get(ctx, "x/y"); err != nil || string(got) != "second" {
					t.Errorf("Get = %q, %v; want \"second\"", got, err)
				}
				if info, err := s.Stat(ctx, "x/y"); err != nil || info.Size != 6 {
					t.Errorf("Stat = %+v, %v; want size 6", info, err)
				}
			})
			t.Run("missing", func(t *testing.T) {
				s := b.open(t)
				put(t, s, "there", []byte("1"))
				for _, name := range []string{"absent", "no/such/dir", "ther", "there/below"} {
					_, err := s.Get(ctx, name)
					checkNotExist(t, err, b.notExist(s, "Get", name))
					_, err = s.Stat(ctx, name)
					checkNotExist(t, err, b.notExist(s, "Stat", name))
				}
			})
			t.Run("list", func(t *testing.T) {
				s := b.open(t)
				start := time.Now()
				names := []string{"m/2", "m/10", "mm/a", "m-x", "c/0", "m/sub/deep", "m/1", "m.z"}
				for i, name := range names {
					put(t, s, name, bytes.Repeat([]byte{'x'}, i))
				}
				size := func(name string) int64 {
					for i, n := range names {
						if n == name {
							return int64(i)
						}
					}
					return -1
				}
				for _, tc := range []struct {
					prefix string
					want   []string
				}{
					{"", []string{"c/0", "m-x", "m.z", "m/1", "m/10", "m/2", "m/sub/deep", "mm/a"}},
					{"m", []string{"m-x", "m.z", "m/1", "m/10", "m/2", "m/sub/deep", "mm/a"}},
					{"m/", []string{"m/1", "m/10", "m/2", "m/sub/deep"}},
					{"m/1", []string{"m/1", "m/10"}},
					{"m/sub/", []string{"m/sub/deep"}},
					{"c/0", []string{"c/0"}},
					{"none/", nil},
					{"z", nil},
				} {
					infos, err := s.List(ctx, tc.prefix)
					if err != nil {
						t.Fatal(err)
					}
					var got []string
					for _, info := range infos {
						got = append(got, info.Name)
						if info.Size != size(info.Name) {
							t.Errorf("List(%q): %s has size %d, want %d", tc.prefix, info.Name, info.Size, size(info.Name))
						}
						// Store clocks may round to the second.
						if info.Modified.Before(start.Add(-2*time.Second)) || info.Modified.After(time.Now().Add(2*time.Second)) {
							t.Errorf("List(%q): %s modified %v, not during the test (from %v)", tc.prefix, info.Name, info.Modified, start)
						}
					}
					if strings.Join(got, " ") != strings.Join(tc.want, " ") {
						t.Errorf("List(%q) = %q, want %q", tc.prefix, got, tc.want)
					}
				}
			})
			t.Run("delete", func(t *testing.T) {
				s := b.open(t)
				put(t, s, "d/1", []byte("1"))
				put(t, s, "d/2", []byte("2"))
				for range 2 { // the second time, d/1 is not there
					if err := s.Delete(ctx, "d/1"); err != nil {
						t.Fatal(err)
					}
				}
				if err := s.Delete(ctx, "never/was"); err != nil {
					t.Errorf("Delete of a missing name: %v", err)
				}
				if _, err := s.Get(ctx, "d/1"); !blob.IsNotExist(err) {
					t.Errorf("Get after Delete: %v, want not-exist", err)
				}
				infos, err := s.List(ctx, "d/")
				if err != nil || len(infos) != 1 || infos[0].Name != "d/2" {
					t.Errorf("List after Delete = %+v, %v; want d/2 only", infos, err)
				}
			})
			t.Run("invalid names", func(t *testing.T) {
				s := b.open(t)
				for _, name := range []string{"", "/a", "a/", "a//b", ".", "..", "a/../b", "a/./b", ".hidden", "a/.b", "sp ace", "tab\t", "ü", `back\slash`, "a:b"} {
					want := fmt.Sprintf("blob: invalid name %q", name)
					checkErr(t, s.Put(ctx, name, []byte("x")), want)
					_, err := s.Get(ctx, name)
					checkErr(t, err, want)
					_, err = s.Stat(ctx, name)
					checkErr(t, err, want)
					checkErr(t, s.Delete(ctx, name), want)
				}
				if infos, err := s.List(ctx, ""); err != nil || len(infos) != 0 {
					t.Errorf("List after refused Puts = %+v, %v; want nothing", infos, err)
				}
			})
		})
	}
}

func put(t *testing.T, s blob.Store, name string, data []byte) {
	t.Helper()
	if err := s.Put(context.Background(), name, data); err != nil {
		t.Fatal(err)
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil || err.Error() != want {
		t.Errorf("error %v\nwant       %s", err, want)
	}
}

func checkNotExist(t *testing.T, err error, want string) {
	t.Helper()
	checkErr(t, err, want)
	if !blob.IsNotExist(err) {
		t.Errorf("%v: IsNotExist is false", err)
	}
}

// TestS3ListPages lists across several ListObjectsV2 pages.
func TestS3ListPages(t *testing.T) {
	ctx := context.Background()
	s := openS3(t, s3test.Start(t))
	blob.SetListPageSize(s, 3)
	var want []string
	for i := range 10 {
		name := fmt.Sprintf("p/%02d", i)
		put(t, s, name, []byte(name))
		want = append(want, name)
	}
	put(t, s, "q", nil) // outside the prefix
	infos, err := s.List(ctx, "p/")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, info := range infos {
		got = append(got, info.Name)
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("List = %q, want %q", got, want)
	}
}

// TestS3Prefix checks that a store's names are keys under its prefix, and
// that stores on other prefixes of the same bucket do not see them.
func TestS3Prefix(t *testing.T) {
	ctx := context.Background()
	location := s3test.Start(t)
	bucket := strings.TrimSuffix(location, "/"+s3test.Prefix)
	inner := openS3(t, location+"/job")
	outer := openS3(t, location)
	whole := openS3(t, bucket)
	put(t, inner, "m/1", []byte("inner"))
	put(t, outer, "m/1", []byte("outer"))
	for _, tc := range []struct {
		s    *blob.S3
		want string
	}{
		{inner, "m/1"},
		{outer, "job/m/1 m/1"},
		{whole, s3test.Prefix + "/job/m/1 " + s3test.Prefix + "/m/1"},
	} {
		infos, err := tc.s.List(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, info := range infos {
			got = append(got, info.Name)
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("%s: List = %q, want %q", tc.s, got, tc.want)
		}
	}
	if got, err := whole.Get(ctx, s3test.Prefix+"/job/m/1"); err != nil || string(got) != "inner" {
		t.Errorf("Get through the bucket = %q, %v; want \"inner\"", got, err)
	}
}

// TestS3Errors checks that each failure is one line naming the store and
// what failed.
func TestS3Errors(t *testing.T) {
	ctx := context.Background()
	location := s3test.Start(t)
	bucket := strings.TrimPrefix(strings.TrimSuffix(location, "/"+s3test.Prefix), "s3://")

	t.Run("wrong secret", func(t *testing.T) {
		t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong")
		_, err := blob.Open(ctx, location)
		checkErr(t, err, location+": ListObjectsV2: 403 SignatureDoesNotMatch: The request signature we calculated does not match the signature you provided. Check your key and signing method.")
	})
	t.Run("unknown key", func(t *testing.T) {
		t.Setenv("AWS_ACCESS_KEY_ID", "nobody")
		_, err := blob.Open(ctx, location)
		// versitygw's own code, where S3 says 403 InvalidAccessKeyId.
		checkErr(t, err, location+": ListObjectsV2: 404 XAdminUserNotFound: No user exists with the provided access key ID.")
	})
	t.Run("no bucket", func(t *testing.T) {
		_, err := blob.Open(ctx, "s3://no-such-bucket/p")
		checkErr(t, err, "s3://no-such-bucket/p: ListObjectsV2: 404 NoSuchBucket: The specified bucket does not exist.")
	})
	t.Run("no server", func(t *testing.T) {
		t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
		_, err := blob.Open(ctx, location)
		checkErr(t, err, location+": ListObjectsV2: dial tcp 127.0.0.1:1: connect: connection refused (after 3 attempts)")
	})
	t.Run("canceled", func(t *testing.T) {
		s := openS3(t, location)
		canceled, cancel := context.WithCancel(ctx)
		cancel()
		err := s.Put(canceled, "x", []byte("x"))
		checkErr(t, err, location+": PutObject x: context canceled")
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%v: errors.Is(context.Canceled) is false", err)
		}
	})
	t.Run("deleted bucket", func(t *testing.T) {
		s := openS3(t, location)
		s3test.DeleteBucket(t, bucket)
		_, err := s.Get(ctx, "x")
		checkErr(t, err, location+": GetObject x: 404 NoSuchBucket: The specified bucket does not exist.")
		if blob.IsNotExist(err) {
			t.Errorf("%v: a missing bucket is not a missing object", err)
		}
	})
}

// TestOpen checks how locations are told apart and parsed.
func TestOpen(t *testing.T) {
	ctx := context.Background()
	location := s3test.Start(t)
	bucket := strings.TrimSuffix(location, "/"+s3test.Prefix)
	dir := t.TempDir()
	for _, tc := range []struct {
		location string
		want     string // the store's String(), or the error
		remote   bool
	}{
		{bucket, bucket, true},
		{bucket + "/", bucket, true},
		{bucket + "/p/q", bucket + "/p/q", true},
		{bucket + "//p//q/", bucket + "/p/q", true},
		{dir, dir, false},
		{filepath.Join(dir, "sub"), filepath.Join(dir, "sub"), false},
		{"s3:///x", "s3:///x: no bucket name; want s3://BUCKET[/PREFIX]", true},
		{"s3://", "s3://: no bucket name; want s3://BUCKET[/PREFIX]", true},
		{"s3://B_AD", `s3://B_AD: invalid bucket name "B_AD": want 3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit`, true},
		{"s3://ab/p", `s3://ab/p: invalid bucket name "ab": want 3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit`, true},
		{"s3://" + strings.Repeat("a", 64), `s3://` + strings.Repeat("a", 64) + `: invalid bucket name "` + strings.Repeat("a", 64) + `": want 3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit`, true},
		{"s3://a..b", `s3://a..b: invalid bucket name "a..b": want 3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit`, true},
		{"s3://-ab", `s3://-ab: invalid bucket name "-ab": want 3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit`, true},
		{"s3://10.0.0.1", `s3://10.0.0.1: invalid bucket name "10.0.0.1": want 3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit`, true},
		{"s3://bucket/a/../b", `s3://bucket/a/../b: invalid prefix "a/../b": want slash-separated parts of letters, digits and ._- not starting with a dot`, true},
		{"s3://bucket/a b", `s3://bucket/a b: invalid prefix "a b": want slash-separated parts of letters, digits and ._- not starting with a dot`, true},
		{"gs://bucket/p", "gs://bucket/p: unsupported store; want s3://BUCKET[/PREFIX] or a directory", false},
		{"S3://bucket/p", "S3://bucket/p: unsupported store; want s3://BUCKET[/PREFIX] or a directory", false},
	} {
		if got := blob.IsRemote(tc.location); got != tc.remote {
			t.Errorf("IsRemote(%q) = %v", tc.location, got)
		}
		s, err := blob.Open(ctx, tc.location)
		got := ""
		if err != nil {
			got = err.Error()
		} else {
			got = s.String()
			if _, isDir := s.(*blob.Dir); isDir == tc.remote {
				t.Errorf("Open(%q) = %T", tc.location, s)
			}
		}
		if got != tc.want {
			t.Errorf("Open(%q):\ngot  %s\nwant %s", tc.location, got, tc.want)
		}
	}
}

// TestS3Config checks the region and addressing the AWS configuration gives.
func TestS3Config(t *testing.T) {
	ctx := context.Background()
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"} {
		t.Setenv(k, empty)
	}
	for _, tc := range []struct {
		endpoint, region, pathStyle string
		wantRegion                  string
		wantPathStyle               bool
		wantErr                     string
	}{
		{"", "", "", "us-east-1", false, ""},
		{"", "eu-west-3", "", "eu-west-3", false, ""},
		{"", "", "1", "us-east-1", true, ""},
		{"http://127.0.0.1:9000", "", "", "us-east-1", true, ""},
		{"http://127.0.0.1:9000", "", "0", "us-east-1", false, ""},
		{"http://127.0.0.1:9000", "", "1", "us-east-1", true, ""},
		{"", "", "yes", "", false, `s3://bucket: WASMSR_S3_PATH_STYLE="yes": want 0 or 1`},
	} {
		for k, v := range map[string]string{"AWS_ENDPOINT_URL": tc.endpoint, "AWS_REGION": tc.region, blob.PathStyleEnv: tc.pathStyle} {
			t.Setenv(k, v) // restored at the end
			if v == "" {
				os.Unsetenv(k)
			}
		}
		for _, k := range []string{"AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"} {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
		region, pathStyle, err := blob.S3Client(ctx, "bucket")
		if tc.wantErr != "" {
			checkErr(t, err, tc.wantErr)
			continue
		}
		if err != nil || region != tc.wantRegion || pathStyle != tc.wantPathStyle {
			t.Errorf("endpoint %q region %q %s=%q: region %q, path style %v, %v; want %q, %v",
				tc.endpoint, tc.region, blob.PathStyleEnv, tc.pathStyle, region, pathStyle, err, tc.wantRegion, tc.wantPathStyle)
		}
	}
}
