//go:build !amd64 && !arm64

package hostrt

// wazero compiles only for amd64 and arm64, and detects no CPU features
// elsewhere (internal/platform cpuid_unsupported.go).
func wazeroCPUFeatures() uint64 { return 0 }

func cpuFeatureNames(flags uint64) string { return featureNames(flags, nil) }
