package hostrt

import "golang.org/x/sys/cpu"

// wazero's CPU feature flags on amd64, as wazero v1.12.0 detects them
// (internal/platform cpuid.go, cpuid_amd64.go): SSE4.1, BMI1 (TZCNT), and
// ABM (LZCNT), taken to be there when BMI1, BMI2 and POPCNT are.
const (
	cpuAmd64SSE41 = 1 << iota
	cpuAmd64BMI1
	cpuAmd64ABM
)

func wazeroCPUFeatures() uint64 {
	var flags uint64
	if cpu.X86.HasSSE41 {
		flags |= cpuAmd64SSE41
	}
	if cpu.X86.HasBMI1 {
		flags |= cpuAmd64BMI1
	}
	if cpu.X86.HasBMI1 && cpu.X86.HasBMI2 && cpu.X86.HasPOPCNT {
		flags |= cpuAmd64ABM
	}
	return flags
}

func cpuFeatureNames(flags uint64) string {
	return featureNames(flags, []string{"sse4.1", "bmi1", "abm"})
}
