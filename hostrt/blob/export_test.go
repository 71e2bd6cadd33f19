package blob

import "context"

// SetListPageSize makes List page every n keys, so that tests see more
// than one page without writing a thousand objects.
func SetListPageSize(s *S3, n int32) { s.listPageSize = n }

// S3Client tells how OpenS3 would configure its client, without a request.
func S3Client(ctx context.Context, bucket string) (region string, pathStyle bool, err error) {
	s, err := newS3(ctx, bucket, "")
	if err != nil {
		return "", false, err
	}
	o := s.client.Options()
	return o.Region, o.UsePathStyle, nil
}
