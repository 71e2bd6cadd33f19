package hostrt

import "golang.org/x/sys/cpu"

// wazero's CPU feature flags on arm64, as wazero v1.12.0 detects them
// (internal/platform cpuid.go, cpuid_arm64.go): the LSE atomics.
const cpuArm64Atomics = 1

func wazeroCPUFeatures() uint64 {
	if cpu.ARM64.HasATOMICS {
		return cpuArm64Atomics
	}
	return 0
}

func cpuFeatureNames(flags uint64) string {
	return featureNames(flags, []string{"atomics"})
}
