package s3test

import (
	"net/http"
	"os"
	"strings"
	"testing"
)

// TestStartAlone starts a server of its own (no Main here) and checks the
// location and environment Start gives, and that the server stops with
// the test.
func TestStartAlone(t *testing.T) {
	var endpoint string
	t.Run("start", func(t *testing.T) {
		location := Start(t)
		if location != "s3://test-1/"+Prefix {
			t.Errorf("location %q, want s3://test-1/snapshots", location)
		}
		endpoint = os.Getenv("AWS_ENDPOINT_URL")
		if !strings.HasPrefix(endpoint, "http://127.0.0.1:") || os.Getenv("AWS_ACCESS_KEY_ID") != AccessKey {
			t.Errorf("environment: AWS_ENDPOINT_URL=%q AWS_ACCESS_KEY_ID=%q", endpoint, os.Getenv("AWS_ACCESS_KEY_ID"))
		}
	})
	if os.Getenv("AWS_ENDPOINT_URL") == endpoint {
		t.Errorf("AWS_ENDPOINT_URL=%q still set after the test", endpoint)
	}
	if resp, err := httpGet(endpoint); err == nil {
		t.Errorf("server at %s still answers after the test: %s", endpoint, resp)
	}
}

func httpGet(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	return resp.Status, nil
}
