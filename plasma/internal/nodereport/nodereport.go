// Package nodereport holds the JSON reports that the plasmanode test
// program prints and the multi-process tests of plasma read, so that both
// sides agree on them.
package nodereport

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// StoreReady is the store's JSON line.
type StoreReady struct {
	Node           string `json:"node"`
	Cluster        string `json:"cluster"`
	URL            string `json:"url"`
	Token          string `json:"token"`
	Arena          string `json:"arena"`
	SpillDir       string `json:"spill_dir"` // the store's own goray-store-* directory
	PID            int    `json:"pid"`
	ID             string `json:"id,omitempty"`
	Size           int64  `json:"size"`
	Hash           uint64 `json:"hash"`
	WriteMillis    int64  `json:"write_ms"`
	Objects        int    `json:"objects"`
	Used           uint64 `json:"used"`
	SpillFiles     int    `json:"spill_files"`
	SpilledObjects uint64 `json:"spilled_objects"`
	RSS            RSS    `json:"RSS"`
}

// ReaderReport is the reader's JSON line. Size, Hash and InArena are
// those of the first object.
type ReaderReport struct {
	Node          string       `json:"node"`
	PID           int          `json:"pid"`
	Size          int          `json:"size"`
	Hash          uint64       `json:"hash"`
	InArena       bool         `json:"in_arena"`
	Objects       []ReadObject `json:"objects"`
	ArenaPath     string       `json:"arena_path"`
	ArenaMaps     int          `json:"arena_maps"` // lines of /proc/self/maps naming the arena
	Before        RSS          `json:"before"`
	After         RSS          `json:"after"`
	ConnectMillis int64        `json:"connect_ms"`
	GetMicros     int64        `json:"get_us"`
	HashMillis    int64        `json:"hash_ms"`
	Created       string       `json:"created,omitempty"`
}

type ReadObject struct {
	ID      string `json:"id"`
	Size    int    `json:"size"`
	Hash    uint64 `json:"hash"`
	InArena bool   `json:"in_arena"`
}

// RSS is what /proc/self/status says of the process's resident memory, in
// bytes.
type RSS struct {
	VmRSS    uint64 `json:"vm_rss"`
	RssAnon  uint64 `json:"rss_anon"`
	RssFile  uint64 `json:"rss_file"`
	RssShmem uint64 `json:"rss_shmem"`
}

func ReadRSS() (RSS, error) {
	var r RSS
	fh, err := os.Open("/proc/self/status")
	if err != nil {
		return r, err
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	fields := map[string]*uint64{"VmRSS:": &r.VmRSS, "RssAnon:": &r.RssAnon, "RssFile:": &r.RssFile, "RssShmem:": &r.RssShmem}
	for sc.Scan() {
		parts := strings.Fields(sc.Text())
		if len(parts) < 2 {
			continue
		}
		if p, ok := fields[parts[0]]; ok {
			kb, err := strconv.ParseUint(parts[1], 10, 64)
			if err != nil {
				return r, fmt.Errorf("parse %q: %w", sc.Text(), err)
			}
			*p = kb << 10
		}
	}
	return r, sc.Err()
}

// String prints the figures in MiB.
func (r RSS) String() string {
	return fmt.Sprintf("VmRSS %s, RssAnon %s, RssFile %s, RssShmem %s", mb(r.VmRSS), mb(r.RssAnon), mb(r.RssFile), mb(r.RssShmem))
}

func mb(n uint64) string { return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB" }
