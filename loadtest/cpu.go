package loadtest

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTick is the unit of /proc/PID/stat's CPU times (USER_HZ, 100 on
// every Linux architecture Go supports).
const clockTick = 10 * time.Millisecond

// ProcCPU returns the CPU time (user + system) process pid has used so far.
// Linux only.
func ProcCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces;
	// utime and stime are fields 14 and 15, so the 12th and 13th after it.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("loadtest: /proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("loadtest: /proc/%d/stat: unexpected format", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("loadtest: /proc/%d/stat: unexpected format", pid)
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// selfCPU returns the CPU time this process has used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuMeter samples the CPU time of the server (when pid is set) and of the
// load generator itself at the start and the end of the measured window.
type cpuMeter struct {
	pid                int
	server0, self0     time.Duration
	serverCPU, selfCPU time.Duration
	serverErr          error
}

func (m *cpuMeter) start() {
	m.self0 = selfCPU()
	if m.pid > 0 {
		m.server0, m.serverErr = ProcCPU(m.pid)
	}
}

func (m *cpuMeter) stop() {
	m.selfCPU = selfCPU() - m.self0
	if m.pid > 0 && m.serverErr == nil {
		var t time.Duration
		if t, m.serverErr = ProcCPU(m.pid); m.serverErr == nil {
			m.serverCPU = t - m.server0
		}
	}
}
