package blob

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
)

const s3Scheme = "s3://"

// IsRemote reports whether location names an object store rather than a
// local directory.
func IsRemote(location string) bool { return strings.HasPrefix(location, s3Scheme) }

// Open opens the store at location: s3://BUCKET or s3://BUCKET/PREFIX for a
// bucket (OpenS3), anything else for a local directory (OpenDir). Other
// URL schemes are refused rather than taken for a directory named "gs:".
func Open(ctx context.Context, location string) (Store, error) {
	if !IsRemote(location) {
		if scheme, _, ok := strings.Cut(location, "://"); ok && isScheme(scheme) {
			return nil, fmt.Errorf("%s: unsupported store; want s3://BUCKET[/PREFIX] or a directory", location)
		}
		d, err := OpenDir(location)
		if err != nil {
			return nil, err
		}
		return d, nil
	}
	bucket, prefix, err := parseS3(location)
	if err != nil {
		return nil, err
	}
	s, err := OpenS3(ctx, bucket, prefix)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// parseS3 splits s3://BUCKET/PREFIX. The prefix loses repeated and
// trailing slashes and must be a valid name itself (no "." or ".." parts
// either), so that every key the store makes is one too.
func parseS3(location string) (bucket, prefix string, err error) {
	bucket, prefix, _ = strings.Cut(strings.TrimPrefix(location, s3Scheme), "/")
	if err := checkBucket(bucket); err != nil {
		return "", "", fmt.Errorf("%s: %v", location, err)
	}
	isSlash := func(c rune) bool { return c == '/' }
	if prefix = strings.Join(strings.FieldsFunc(prefix, isSlash), "/"); prefix != "" {
		if CheckName(prefix) != nil {
			return "", "", fmt.Errorf("%s: invalid prefix %q: want slash-separated parts of letters, digits and ._- not starting with a dot", location, prefix)
		}
	}
	return bucket, prefix, nil
}

// checkBucket applies the naming rules of S3's general purpose buckets,
// which S3-compatible servers share: 3 to 63 lowercase letters, digits,
// dots and hyphens, a letter or digit at each end, no "..", and not an
// IPv4 address.
func checkBucket(bucket string) error {
	if bucket == "" {
		return fmt.Errorf("no bucket name; want s3://BUCKET[/PREFIX]")
	}
	bad := len(bucket) < 3 || len(bucket) > 63 || strings.Contains(bucket, "..") ||
		!isLowerAlnum(bucket[0]) || !isLowerAlnum(bucket[len(bucket)-1])
	for i := 0; i < len(bucket) && !bad; i++ {
		bad = !isLowerAlnum(bucket[i]) && bucket[i] != '.' && bucket[i] != '-'
	}
	if _, err := netip.ParseAddr(bucket); err == nil {
		bad = true
	}
	if bad {
		return fmt.Errorf("invalid bucket name %q: want 3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit", bucket)
	}
	return nil
}

func isLowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// isScheme reports whether s is a URL scheme (RFC 3986: a letter, then
// letters, digits and "+-.").
func isScheme(s string) bool {
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
