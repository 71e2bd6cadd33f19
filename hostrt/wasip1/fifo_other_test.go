//go:build !unix

package wasip1

import "errors"

func mkfifoAt(string) error { return errors.ErrUnsupported }
