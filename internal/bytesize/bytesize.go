// Package bytesize prints byte counts for people ("64.0 MiB"), the same
// way in logs, errors and the CLI.
package bytesize

import "fmt"

// Format prints n bytes with a binary unit and one decimal.
func Format(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
