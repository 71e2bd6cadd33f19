package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3 is a Store in a bucket of an S3-compatible object store: the object
// NAME is the key PREFIX/NAME. A PutObject is atomic in S3 itself (a reader
// sees the old object or the new one, never a part), and S3 has been
// strongly consistent for reads after writes and for listings since 2020,
// as are the S3-compatible servers that keep one copy (versitygw, MinIO).
type S3 struct {
	client *s3.Client
	bucket string
	prefix string // "" or a clean relative path, without a trailing slash
	// listPageSize is the most keys a ListObjectsV2 answer holds; 0
	// leaves it to the server (1000 for S3). Tests set it to page often.
	listPageSize int32
}

// PathStyleEnv overrides how requests address the bucket: "1" puts it in
// the URL's path (http://endpoint/BUCKET/KEY), "0" in the host name
// (http://BUCKET.endpoint/KEY). Unset, path style is used exactly when an
// endpoint URL is configured, since the S3-compatible servers one points
// to (versitygw, MinIO, SeaweedFS) seldom have a DNS name per bucket,
// while AWS itself wants the host form.
const PathStyleEnv = "WASMSR_S3_PATH_STYLE"

// defaultRegion signs requests when the AWS configuration names no region:
// S3-compatible servers ignore it, and AWS redirects to the bucket's.
const defaultRegion = "us-east-1"

// OpenS3 connects to bucket with the standard AWS configuration
// (environment variables such as AWS_ACCESS_KEY_ID, AWS_REGION and
// AWS_ENDPOINT_URL, and the shared config and credentials files), and
// lists one key under prefix so that a wrong bucket, endpoint or
// credentials show here rather than at the first snapshot.
func OpenS3(ctx context.Context, bucket, prefix string) (*S3, error) {
	s, err := newS3(ctx, bucket, prefix)
	if err != nil {
		return nil, err
	}
	_, err = s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
		Bucket:  aws.String(bucket),
		Prefix:  aws.String(s.key("")),
		MaxKeys: aws.Int32(1),
	})
	if err != nil {
		return nil, s.fail("ListObjectsV2", "", err)
	}
	return s, nil
}

// newS3 configures the client, without a request yet.
func newS3(ctx context.Context, bucket, prefix string) (*S3, error) {
	s := &S3{bucket: bucket, prefix: prefix}
	pathStyle := -1 // decided by the endpoint
	switch v := os.Getenv(PathStyleEnv); v {
	case "":
	case "0", "1":
		pathStyle = int(v[0] - '0')
	default:
		return nil, fmt.Errorf("%s: %s=%q: want 0 or 1", s, PathStyleEnv, v)
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: AWS configuration: %v", s, err)
	}
	if cfg.Region == "" {
		cfg.Region = defaultRegion
	}
	// The snapshot store reads and writes up to 32 objects at once; the
	// SDK keeps 10 idle connections, so the others were dialed anew for
	// every request.
	cfg.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConnsPerHost = 64
	})
	s.client = s3.NewFromConfig(cfg, func(o *s3.Options) {
		// o.BaseEndpoint holds AWS_ENDPOINT_URL(_S3) or the shared
		// config's endpoint_url by now.
		o.UsePathStyle = pathStyle == 1 || pathStyle == -1 && o.BaseEndpoint != nil
		// A ranged read has no checksum of the whole object to check,
		// which the SDK would otherwise log for every one; a chunk is
		// checked against its address anyway.
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	return s, nil
}

func (s *S3) String() string {
	if s.prefix == "" {
		return "s3://" + s.bucket
	}
	return "s3://" + s.bucket + "/" + s.prefix
}

// key is the object key of name, or of a List prefix.
func (s *S3) key(name string) string {
	if s.prefix == "" {
		return name
	}
	return s.prefix + "/" + name
}

func (s *S3) Put(ctx context.Context, name string, data []byte) error {
	if err := CheckName(name); err != nil {
		return err
	}
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(s.key(name)),
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
	})
	if err != nil {
		return s.fail("PutObject", name, err)
	}
	return nil
}

func (s *S3) Get(ctx context.Context, name string) ([]byte, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.key(name)),
	})
	if err != nil {
		return nil, s.fail("GetObject", name, err)
	}
	defer out.Body.Close()
	var buf bytes.Buffer
	if n := aws.ToInt64(out.ContentLength); n > 0 {
		buf.Grow(int(n))
	}
	if _, err := buf.ReadFrom(out.Body); err != nil {
		return nil, s.fail("GetObject", name, err)
	}
	return buf.Bytes(), nil
}

func (s *S3) GetRange(ctx context.Context, name string, off, n int64) ([]byte, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	if off < 0 || n <= 0 {
		if n == 0 && off >= 0 {
			// HTTP has no empty range; the object must still be there.
			_, err := s.Stat(ctx, name)
			return []byte{}, err
		}
		return nil, fmt.Errorf("blob: %s: a range of %d bytes at %d", name, n, off)
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.key(name)),
		Range:  aws.String(fmt.Sprintf("bytes=%d-%d", off, off+n-1)),
	})
	if err != nil {
		return nil, s.fail("GetObject", name, err)
	}
	defer out.Body.Close()
	data := make([]byte, n)
	got, err := io.ReadFull(out.Body, data)
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return nil, errShort(name, off, n, int64(got))
	}
	if err != nil {
		return nil, s.fail("GetObject", name, err)
	}
	return data, nil
}

func (s *S3) Stat(ctx context.Context, name string) (Info, error) {
	if err := CheckName(name); err != nil {
		return Info{}, err
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.key(name)),
	})
	if err != nil {
		return Info{}, s.fail("HeadObject", name, err)
	}
	return Info{Name: name, Size: aws.ToInt64(out.ContentLength), Modified: aws.ToTime(out.LastModified)}, nil
}

func (s *S3) List(ctx context.Context, prefix string) ([]Info, error) {
	var infos []Info
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket),
		Prefix: aws.String(s.key(prefix)),
	}, func(o *s3.ListObjectsV2PaginatorOptions) { o.Limit = s.listPageSize })
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, s.fail("ListObjectsV2", prefix, err)
		}
		for _, obj := range page.Contents {
			name := strings.TrimPrefix(aws.ToString(obj.Key), s.key(""))
			if CheckName(name) != nil {
				continue // directory markers, and other keys no Put makes
			}
			infos = append(infos, Info{Name: name, Size: aws.ToInt64(obj.Size), Modified: aws.ToTime(obj.LastModified)})
		}
	}
	// ListObjectsV2 answers in UTF-8 byte order of the keys, which for
	// valid names is the byte order List promises.
	return infos, nil
}

func (s *S3) Delete(ctx context.Context, name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.key(name)),
	})
	if err == nil {
		return nil
	}
	// S3 answers 204 for a missing key; some compatible servers 404.
	if err = s.fail("DeleteObject", name, err); IsNotExist(err) {
		return nil
	}
	return err
}

// s3Error is a failed request, told in one line: the SDK's own messages
// run to several clauses of middleware detail and request IDs.
type s3Error struct {
	msg      string
	err      error
	notExist bool
}

func (e *s3Error) Error() string { return e.msg }

func (e *s3Error) Unwrap() []error {
	if e.notExist {
		return []error{e.err, fs.ErrNotExist}
	}
	return []error{e.err}
}

// fail describes the failure of operation op on the object name (a List
// prefix for ListObjectsV2): the store, the operation and the name, then
// the HTTP status, S3 error code and message, or the transport's error.
// The result wraps err, so context.Canceled and the SDK's types stay
// visible to errors.Is and errors.As, and fs.ErrNotExist when the object
// is not there.
func (s *S3) fail(op, name string, err error) error {
	what := op
	if name != "" {
		what += " " + name
	}
	var (
		noKey    *types.NoSuchKey
		notFound *types.NotFound
		apiErr   smithy.APIError
		respErr  *awshttp.ResponseError
		urlErr   *url.Error
		attempts *retry.MaxAttemptsError
		detail   string
	)
	switch {
	case errors.Is(err, context.Canceled):
		detail = context.Canceled.Error()
	case errors.Is(err, context.DeadlineExceeded):
		detail = context.DeadlineExceeded.Error()
	case errors.As(err, &apiErr):
		detail = apiErr.ErrorCode()
		if m := apiErr.ErrorMessage(); m != "" && m != detail {
			detail += ": " + m
		}
		if errors.As(err, &respErr) {
			detail = fmt.Sprint(respErr.HTTPStatusCode(), " ", detail)
		}
	case errors.As(err, &urlErr):
		detail = urlErr.Err.Error()
	default:
		detail = err.Error()
	}
	if errors.As(err, &attempts) && attempts.Attempt > 1 {
		detail += fmt.Sprintf(" (after %d attempts)", attempts.Attempt)
	}
	// HEAD responses have no body, so a missing key is only a bare 404
	// there; a missing bucket says NoSuchBucket elsewhere, and OpenS3 has
	// checked the bucket.
	notExist := errors.As(err, &noKey) || errors.As(err, &notFound)
	return &s3Error{msg: fmt.Sprintf("%s: %s: %s", s, what, detail), err: err, notExist: notExist}
}

// Both backends keep the interface.
var (
	_ Store = (*S3)(nil)
	_ Store = (*Dir)(nil)
)
