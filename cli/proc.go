package cli

import (
	"bytes"
	"os"
	"strconv"
)

// procStat reads a process's state and start time (clock ticks after
// boot) from /proc/<pid>/stat; ok is false when there is no such process.
func procStat(pid int) (state byte, start uint64, ok bool) {
	if pid <= 0 {
		return 0, 0, false
	}
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// the fields that follow start after the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, 0, false
	}
	fields := bytes.Fields(data[i+1:])
	if len(fields) < 20 {
		return 0, 0, false
	}
	start, err = strconv.ParseUint(string(fields[19]), 10, 64) // field 22
	return fields[0][0], start, err == nil
}

// processAlive reports whether pid runs and is the process that started
// at start (0: any): a zombie has stopped, and a pid reused by another
// process is not ours.
func processAlive(pid int, start uint64) bool {
	state, s, ok := procStat(pid)
	if !ok || state == 'Z' || state == 'X' {
		return false
	}
	return start == 0 || s == start
}

// selfStart is this process's start time, for its node file.
func selfStart() uint64 {
	_, s, _ := procStat(os.Getpid())
	return s
}
